//! File names of a data directory (docs/formats.md#disk). Numbers are decimal; closed segments are
//! written with 16-digit zero padding but read in any width, as C-Raft's `sscanf` does.

use crate::vocab::{Index, Term};

/// Names longer than this are not C-Raft's and are ignored.
pub const MAX_FILE_NAME_LEN: usize = 127;

/// The position and creation time that name a snapshot: `snapshot-TERM-INDEX-TIMESTAMP`.
/// Ordered by term, then index, then timestamp, as C-Raft picks the most recent snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotName {
    /// Term of the last entry covered.
    pub term: Term,
    /// Index of the last entry covered.
    pub index: Index,
    /// Milliseconds of C-Raft's loop clock; only orders snapshots of equal term and index.
    pub timestamp: u64,
}

impl SnapshotName {
    /// The name of the snapshot's data file.
    pub fn data_file_name(&self) -> String {
        format!("snapshot-{}-{}-{}", self.term, self.index, self.timestamp)
    }

    /// The name of the snapshot's `.meta` file.
    pub fn meta_file_name(&self) -> String {
        format!("{}.meta", self.data_file_name())
    }
}

/// What a file of a data directory is, according to its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileName {
    /// `metadata1` or `metadata2` (the number is 1 or 2).
    Metadata(u8),
    /// `FIRST-LAST`: a closed segment holding entries `first..=last`.
    ClosedSegment {
        /// Index of the first entry.
        first: Index,
        /// Index of the last entry.
        last: Index,
    },
    /// `open-N`: an open segment.
    OpenSegment {
        /// The order in which open segments were created.
        counter: u64,
    },
    /// `snapshot-T-I-TS`: snapshot data.
    SnapshotData(SnapshotName),
    /// `snapshot-T-I-TS.meta`: snapshot metadata.
    SnapshotMeta(SnapshotName),
    /// `tmp-*`: leftover of an interrupted atomic write, to delete at startup.
    Temporary,
    /// `corrupt-*`: a segment set aside by auto-recovery, to ignore.
    Corrupt,
    /// Anything else, to ignore.
    Other,
}

/// The name of the closed segment holding `first..=last`, zero-padded to 16 digits.
pub fn closed_segment_name(first: Index, last: Index) -> String {
    format!("{first:016}-{last:016}")
}

/// The name of the open segment with this counter.
pub fn open_segment_name(counter: u64) -> String {
    format!("open-{counter}")
}

/// Classifies a file name of a data directory.
pub fn parse_file_name(name: &str) -> FileName {
    if name.len() > MAX_FILE_NAME_LEN {
        return FileName::Other;
    }
    match name {
        "metadata1" => return FileName::Metadata(1),
        "metadata2" => return FileName::Metadata(2),
        _ => {}
    }
    if name.starts_with("tmp-") {
        return FileName::Temporary;
    }
    if name.starts_with("corrupt-") {
        return FileName::Corrupt;
    }
    if let Some(counter) = name.strip_prefix("open-").and_then(parse_number) {
        return FileName::OpenSegment { counter };
    }
    if let Some(rest) = name.strip_prefix("snapshot-") {
        let (stem, is_meta) = match rest.strip_suffix(".meta") {
            Some(stem) => (stem, true),
            None => (rest, false),
        };
        if let Some([term, index, timestamp]) = split_numbers::<3>(stem) {
            let snapshot = SnapshotName { term, index, timestamp };
            return if is_meta {
                FileName::SnapshotMeta(snapshot)
            } else {
                FileName::SnapshotData(snapshot)
            };
        }
        return FileName::Other;
    }
    if let Some([first, last]) = split_numbers::<2>(name) {
        return FileName::ClosedSegment { first, last };
    }
    FileName::Other
}

/// Splits `text` at '-' into exactly `N` decimal numbers.
fn split_numbers<const N: usize>(text: &str) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    let mut parts = text.split('-');
    for slot in out.iter_mut() {
        *slot = parse_number(parts.next()?)?;
    }
    parts.next().is_none().then_some(out)
}

/// A decimal number made of ASCII digits only (no sign, no spaces), without overflow.
fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
