//! Log entries as the codecs carry them, and the 16-byte entry descriptor that AppendEntries
//! messages and segment batches share (docs/formats.md#common-rules):
//!
//! ```text
//! u64le term | u8 type (1 command, 2 barrier, 3 change) | 3 reserved bytes | u32le size
//! ```
//!
//! The payloads follow all the descriptors, back to back, without padding. Every size must be a
//! multiple of 8: C-Raft locates entries as if each were padded to 8 bytes, so an unaligned
//! entry is mis-sliced by C-Raft peers and makes C-Raft refuse its own segment files. The rule is
//! these formats', not the protocol's (`raft_step` accepts payloads of any length): encoders
//! refuse such an entry, decoders reject it as malformed.

use bytes::Bytes;

use super::cursor::Cursor;
use super::error::{Error, Result};
use crate::vocab::{EntryType, Index, Term};

/// Bytes of one entry descriptor.
pub const DESCRIPTOR_LEN: usize = 16;

/// One log entry with its payload. The payload is a [`Bytes`], so decoders hand out slices of
/// the buffer they were given instead of copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The term in which the entry was created.
    pub term: Term,
    /// What the payload is.
    pub kind: EntryType,
    /// The payload: opaque for commands, unspecified for barriers, an encoded configuration for
    /// changes.
    pub payload: Bytes,
}

impl Entry {
    /// An entry of `kind` created in `term` carrying `payload`.
    pub fn new(term: Term, kind: EntryType, payload: impl Into<Bytes>) -> Entry {
        Entry { term, kind, payload: payload.into() }
    }
}

/// A decoded descriptor: the entry without its payload yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Descriptor {
    pub term: Term,
    pub kind: EntryType,
    pub size: u32,
}

/// How an encoder names an entry in its errors: by its log index where it knows it, else by its
/// position in the batch it was given.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EntryNames {
    /// Entry `i` is at log index `first + i` (an AppendEntries knows it from `prev_log_index`).
    LogIndex {
        /// Log index of the first entry.
        first: Index,
    },
    /// Only the position in the batch is known (a segment batch carries no index).
    BatchPosition,
}

impl EntryNames {
    /// How errors refer to entry `i` of the batch.
    fn name(self, i: usize) -> String {
        match self {
            EntryNames::LogIndex { first } => {
                format!("entry at log index {}", first.saturating_add(i as u64))
            }
            EntryNames::BatchPosition => format!("entry at batch position {i} (from 0)"),
        }
    }
}

/// Checks that `entries` may be sent or stored in C-Raft's formats, and returns the total
/// payload length.
///
/// Errors: [`Error::Invalid`] naming the first entry whose payload is longer than `u32::MAX`
/// bytes or whose length is not a multiple of 8: C-Raft slices entries as if each were padded
/// to 8 bytes, so it would mis-read such an entry on the wire and refuse its own segment.
pub(crate) fn total_payload_len(
    entries: &[Entry],
    names: EntryNames,
    what: &'static str,
) -> Result<u64> {
    let mut total = 0u64;
    for (i, entry) in entries.iter().enumerate() {
        let len = entry.payload.len();
        if u32::try_from(len).is_err() {
            let name = names.name(i);
            return Err(Error::invalid(what, format!("{name} has {len} bytes, above 4 GiB")));
        }
        if !fits_eight_byte_rule(len) {
            let name = names.name(i);
            return Err(Error::invalid(
                what,
                format!(
                    "{name} has {len} bytes, not a multiple of 8 (C-Raft's format cannot carry \
                     it: pad it in the command encoding)"
                ),
            ));
        }
        total += len as u64;
    }
    Ok(total)
}

/// C-Raft's wire and disk formats carry only payloads whose length is a multiple of 8.
fn fits_eight_byte_rule(len: usize) -> bool {
    len % 8 == 0
}

/// Appends the descriptors of `entries` (already checked by [`total_payload_len`]).
pub(crate) fn encode_descriptors(entries: &[Entry], out: &mut Vec<u8>) {
    for entry in entries {
        out.extend_from_slice(&entry.term.to_le_bytes());
        out.push(entry.kind.code());
        out.extend_from_slice(&[0, 0, 0]);
        // Checked by total_payload_len: payloads fit in a u32.
        out.extend_from_slice(&(entry.payload.len() as u32).to_le_bytes());
    }
}

/// Reads `n` descriptors. The caller has checked that the cursor holds them, so that `n` cannot
/// make this allocate more than the input's size.
///
/// Errors: [`Error::Malformed`] for an entry type other than 1, 2 or 3.
pub(crate) fn decode_descriptors(
    cursor: &mut Cursor<'_>,
    n: usize,
    what: &'static str,
) -> Result<Vec<Descriptor>> {
    let mut descriptors = Vec::with_capacity(n);
    for i in 0..n {
        let term = cursor.u64()?;
        let code = cursor.u8()?;
        // Reserved: C-Raft 0.15 leaves these bytes uninitialised.
        cursor.skip(3)?;
        let size = cursor.u32()?;
        let kind = EntryType::from_code(code.into())
            .ok_or_else(|| Error::malformed(what, format!("entry {i} has unknown type {code}")))?;
        descriptors.push(Descriptor { term, kind, size });
    }
    Ok(descriptors)
}

/// Sum of the sizes announced by `descriptors`.
pub(crate) fn announced_payload_len(descriptors: &[Descriptor]) -> u64 {
    descriptors.iter().map(|d| u64::from(d.size)).sum()
}

/// Checks that no announced size breaks C-Raft's 8-byte rule.
///
/// Errors: [`Error::Malformed`] naming the first unaligned entry.
pub(crate) fn check_aligned(descriptors: &[Descriptor], what: &'static str) -> Result<()> {
    match descriptors.iter().position(|d| !fits_eight_byte_rule(d.size as usize)) {
        None => Ok(()),
        Some(i) => Err(Error::malformed(
            what,
            format!("entry {i} has {} bytes, not a multiple of 8", descriptors[i].size),
        )),
    }
}

/// Cuts `payload` into the entries' payloads, in order.
///
/// Errors: [`Error::Truncated`] if `payload` is shorter than the announced sizes.
pub(crate) fn slice_entries(
    descriptors: &[Descriptor],
    payload: &Bytes,
    what: &'static str,
) -> Result<Vec<Entry>> {
    let mut offset = 0usize;
    let mut entries = Vec::with_capacity(descriptors.len());
    for d in descriptors {
        let end = offset.saturating_add(d.size as usize);
        if end > payload.len() {
            return Err(Error::Truncated {
                what,
                needed: end as u64,
                available: payload.len() as u64,
            });
        }
        entries.push(Entry { term: d.term, kind: d.kind, payload: payload.slice(offset..end) });
        offset = end;
    }
    Ok(entries)
}
