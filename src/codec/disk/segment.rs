//! Segment files (docs/formats.md#disk): a format word (1) followed by batches.
//!
//! Closed segments (`FIRST-LAST`) must be exactly their batches: anything else is corruption.
//! Open segments (`open-N`) are pre-allocated and zero-filled, and a crash can tear the last
//! write; loading one keeps every valid batch up to the first damaged one and reports what was
//! discarded, as C-Raft does.

use bytes::Bytes;

use super::batch::{encode_batch_into, parse_batch, Damage, ParsedBatch};
use super::FORMAT;
use crate::codec::entry::Entry;
use crate::codec::error::{Error, Result};
use crate::vocab::Index;

/// Bytes of the format word that starts every segment.
pub const SEGMENT_HEADER_LEN: usize = 8;

/// The 8 bytes every segment starts with.
pub fn encode_segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    FORMAT.to_le_bytes()
}

/// A whole segment file holding `batches` in order (e.g. the closed segment written by
/// bootstrap, or the rewrite of a truncated segment).
///
/// Errors: those of [`encode_batch_into`] for any batch; an [`Error::Invalid`] also says which
/// batch (from 0) holds the entry it names.
pub fn encode_segment(batches: &[&[Entry]]) -> Result<Vec<u8>> {
    let mut out = encode_segment_header().to_vec();
    for (b, batch) in batches.iter().enumerate() {
        encode_batch_into(batch, &mut out).map_err(|e| in_batch(e, b))?;
    }
    Ok(out)
}

/// Adds "batch `b`" to an encoder's refusal, whose positions count within one batch.
fn in_batch(e: Error, b: usize) -> Error {
    match e {
        Error::Invalid { what, detail } => {
            Error::invalid(what, format!("batch {b} of the segment: {detail}"))
        }
        other => other,
    }
}

/// Decodes a closed segment holding entries `first..=last` (from its file name). Entries are
/// slices of `data`.
///
/// Errors: [`Error::Corrupt`] for a file shorter than 8 bytes, a format other than 1, any damaged
/// batch (checksum, count, a batch running past the end of the file) or an entry count that
/// differs from the name's; [`Error::Malformed`] for an invalid entry (type, unaligned size) or
/// `first > last`.
pub fn load_closed_segment(data: &Bytes, first: Index, last: Index) -> Result<Vec<Entry>> {
    const WHAT: &str = "closed segment";
    if first > last || first == 0 {
        return Err(Error::malformed(WHAT, format!("bad index range {first}..={last}")));
    }
    let expected = last - first + 1;
    check_format(data, WHAT)?;
    let mut entries = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN;
    while offset < data.len() {
        match parse_batch(data, offset)? {
            ParsedBatch::Valid { entries: batch, len } => {
                entries.extend(batch);
                offset += len;
            }
            ParsedBatch::Damaged(damage) => {
                return Err(Error::corrupt(WHAT, format!("batch at byte {offset}: {damage}")));
            }
        }
        if entries.len() as u64 > expected {
            break;
        }
    }
    if entries.len() as u64 != expected {
        return Err(Error::corrupt(
            WHAT,
            format!("{} entries where the name says {expected}", entries.len()),
        ));
    }
    Ok(entries)
}

fn check_format(data: &[u8], what: &'static str) -> Result<()> {
    let Some(word) = data.get(..SEGMENT_HEADER_LEN) else {
        return Err(Error::corrupt(what, format!("{} bytes, shorter than its header", data.len())));
    };
    let format = u64::from_le_bytes(word.try_into().unwrap_or_default());
    if format != FORMAT {
        return Err(Error::corrupt(what, format!("unknown format {format}")));
    }
    Ok(())
}

/// How an open segment ends after its last valid batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentEnd {
    /// The file is empty.
    Empty,
    /// The last valid batch ends exactly at the end of the file.
    Exact,
    /// Only zeros follow `offset`: pre-allocated space never written. Nothing was lost.
    ZeroFilled {
        /// Where the zeros start.
        offset: usize,
    },
    /// The bytes from `offset` to the end of the file (`discarded` bytes, not all zero) do not
    /// form a valid batch, for the reason given: a torn or damaged write. They are dropped, even
    /// if valid batches follow them.
    Damaged {
        /// Where the first invalid batch starts.
        offset: usize,
        /// Why it is invalid.
        damage: Damage,
        /// Bytes dropped, up to the end of the file.
        discarded: usize,
    },
}

/// An open segment as recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSegment {
    /// The entries of every valid batch, in order; their indexes continue from the previous
    /// segment. Slices of the file's data.
    pub entries: Vec<Entry>,
    /// Number of valid batches.
    pub batches: usize,
    /// Bytes of the file worth keeping: the format word and the valid batches; 0 when there are
    /// no entries.
    pub used_len: usize,
    /// What follows the valid batches.
    pub end: SegmentEnd,
}

impl OpenSegment {
    /// Whether the file holds no entry and should be deleted; otherwise it should be truncated to
    /// [`Self::used_len`] and renamed to the closed segment name of its entries.
    pub fn is_unused(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether loading dropped bytes that were not pre-allocated zeros.
    pub fn lost_data(&self) -> bool {
        matches!(self.end, SegmentEnd::Damaged { .. })
    }
}

/// Decodes an open segment with C-Raft's recovery rules (docs/formats.md#disk): batches are read
/// from offset 8 until the first one that is not valid (count 0 or too large, checksum mismatch,
/// or — unlike C-Raft, which refuses to start — the file ending inside it); that batch and
/// everything after it are reported in [`OpenSegment::end`] and dropped. An all-zero file (format
/// word 0) was never used.
///
/// Errors: [`Error::Corrupt`] if the format word is neither 0 nor 1, or is 0 but the file holds
/// non-zero bytes; [`Error::Malformed`] for a batch with a valid header checksum and an invalid
/// entry type or unaligned entry size (C-Raft refuses to start on that too).
pub fn load_open_segment(data: &Bytes) -> Result<OpenSegment> {
    const WHAT: &str = "open segment";
    let unused = |end| OpenSegment { entries: Vec::new(), batches: 0, used_len: 0, end };
    if data.is_empty() {
        return Ok(unused(SegmentEnd::Empty));
    }
    if is_all_zero(data) {
        return Ok(unused(SegmentEnd::ZeroFilled { offset: 0 }));
    }
    if data.len() < SEGMENT_HEADER_LEN {
        let damage =
            Damage::Short { needed: SEGMENT_HEADER_LEN as u64, available: data.len() as u64 };
        return Ok(unused(SegmentEnd::Damaged { offset: 0, damage, discarded: data.len() }));
    }
    check_format(data, WHAT)?;
    let mut segment =
        OpenSegment { entries: Vec::new(), batches: 0, used_len: 0, end: SegmentEnd::Exact };
    let mut offset = SEGMENT_HEADER_LEN;
    while offset < data.len() {
        match parse_batch(data, offset)? {
            ParsedBatch::Valid { entries, len } => {
                segment.entries.extend(entries);
                segment.batches += 1;
                offset += len;
            }
            ParsedBatch::Damaged(damage) => {
                segment.end = if is_all_zero(&data[offset..]) {
                    SegmentEnd::ZeroFilled { offset }
                } else {
                    SegmentEnd::Damaged { offset, damage, discarded: data.len() - offset }
                };
                break;
            }
        }
    }
    if !segment.entries.is_empty() {
        segment.used_len = offset;
    }
    Ok(segment)
}

fn is_all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}
