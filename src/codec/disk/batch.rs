//! Batches, the unit segments are made of (docs/formats.md#disk): what one append wrote.
//!
//! ```text
//! u32le header CRC | u32le data CRC | u64le n | n × 16-byte entry descriptor | entry data
//! ```
//!
//! The header CRC covers the count and the descriptors (as stored, reserved bytes included),
//! the data CRC the entries' data. A batch that fails these checks is what a torn write leaves
//! behind; [`Damage`] says which check failed so that segment loaders can decide between
//! recovery and refusal.

use bytes::Bytes;

use crate::codec::checksum::{checksum, checksum_parts};
use crate::codec::cursor::Cursor;
use crate::codec::entry::{
    announced_payload_len, check_aligned, decode_descriptors, encode_descriptors, slice_entries,
    total_payload_len, Entry, EntryNames, DESCRIPTOR_LEN,
};
use crate::codec::error::{Error, Result};

/// Most entries a batch may hold: C-Raft refuses more (8 MiB of descriptors / 32).
pub const MAX_BATCH_ENTRIES: u64 = 262_144;

/// Bytes before the descriptors: the two CRCs and the count.
const PREAMBLE_LEN: usize = 16;

const WHAT: &str = "entries batch";

/// Why the bytes at some offset are not a valid batch. Each of these is what a torn or partial
/// write can produce, as opposed to a malformed batch (valid checksum, invalid content), which is
/// an [`Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The entry count is 0 (typically the zeros of pre-allocated space).
    ZeroCount,
    /// The entry count is above [`MAX_BATCH_ENTRIES`].
    TooManyEntries(u64),
    /// The input ends inside the batch: `needed` bytes from the batch start, `available` left.
    Short {
        /// Bytes the batch needs from its start.
        needed: u64,
        /// Bytes left in the input.
        available: u64,
    },
    /// The header CRC does not match the count and descriptors.
    HeaderChecksum {
        /// The CRC in the file.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The data CRC does not match the entries' data.
    DataChecksum {
        /// The CRC in the file.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::ZeroCount => write!(f, "entry count 0"),
            Damage::TooManyEntries(n) => write!(f, "{n} entries, above {MAX_BATCH_ENTRIES}"),
            Damage::Short { needed, available } => {
                write!(f, "short: {needed} bytes needed, {available} available")
            }
            Damage::HeaderChecksum { stored, computed } => {
                write!(f, "header checksum {stored:#010x} != computed {computed:#010x}")
            }
            Damage::DataChecksum { stored, computed } => {
                write!(f, "data checksum {stored:#010x} != computed {computed:#010x}")
            }
        }
    }
}

/// What [`parse_batch`] found at an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedBatch {
    /// A valid batch of `len` bytes.
    Valid {
        /// The batch's entries, slices of the input.
        entries: Vec<Entry>,
        /// Bytes of the batch.
        len: usize,
    },
    /// Not a valid batch.
    Damaged(Damage),
}

/// Size of the batch holding `entries`.
pub fn batch_len(entries: &[Entry]) -> u64 {
    let data: u64 = entries.iter().map(|e| e.payload.len() as u64).sum();
    (PREAMBLE_LEN + DESCRIPTOR_LEN * entries.len()) as u64 + data
}

/// Appends the batch holding `entries`, checksums included. On error `out` is unchanged.
///
/// Errors: [`Error::Invalid`] if `entries` is empty or holds more than [`MAX_BATCH_ENTRIES`], or
/// an entry size is not a multiple of 8 (C-Raft could not load the segment again) or above
/// 4 GiB; the message names the entry by its position in `entries` (a batch carries no log
/// index) and its length.
pub fn encode_batch_into(entries: &[Entry], out: &mut Vec<u8>) -> Result<()> {
    if entries.is_empty() || entries.len() as u64 > MAX_BATCH_ENTRIES {
        return Err(Error::invalid(WHAT, format!("{} entries", entries.len())));
    }
    total_payload_len(entries, EntryNames::BatchPosition, WHAT)?;
    let start = out.len();
    out.reserve(batch_len(entries) as usize);
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    encode_descriptors(entries, out);
    let header_crc = checksum(&out[start + 8..]);
    let data_crc = checksum_parts(entries.iter().map(|e| &e.payload[..]));
    for entry in entries {
        out.extend_from_slice(&entry.payload);
    }
    out[start..start + 4].copy_from_slice(&header_crc.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&data_crc.to_le_bytes());
    Ok(())
}

/// The batch holding `entries`.
///
/// Errors: as [`encode_batch_into`].
pub fn encode_batch(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_batch_into(entries, &mut out)?;
    Ok(out)
}

/// Decodes the batch at the start of `buf`, returning its entries (slices of `buf`) and its
/// length. Bytes after the batch are left alone.
///
/// Errors: [`Error::Corrupt`] for any [`Damage`] (short input, bad count, checksum mismatch);
/// [`Error::Malformed`] for an entry type other than 1..3 or an entry size that is not a
/// multiple of 8.
pub fn decode_batch(buf: &Bytes) -> Result<(Vec<Entry>, usize)> {
    match parse_batch(buf, 0)? {
        ParsedBatch::Valid { entries, len } => Ok((entries, len)),
        ParsedBatch::Damaged(damage) => Err(Error::corrupt(WHAT, damage.to_string())),
    }
}

/// Examines the bytes of `buf` from `offset` as a batch, telling a valid batch from the kinds of
/// damage a torn write leaves. Checks run in the order the bytes are written, so that the first
/// failing one is reported.
///
/// Errors: [`Error::Malformed`] when the header checksum is valid but an entry type is not
/// 1..3 or an entry size is not a multiple of 8: that is not a torn write, and C-Raft refuses
/// to start on it.
pub fn parse_batch(buf: &Bytes, offset: usize) -> Result<ParsedBatch> {
    let rest = buf.get(offset..).unwrap_or_default();
    let short =
        |needed: u64| ParsedBatch::Damaged(Damage::Short { needed, available: rest.len() as u64 });
    let mut c = Cursor::new(rest, WHAT);
    let (Ok(header_crc), Ok(data_crc), Ok(n)) = (c.u32(), c.u32(), c.u64()) else {
        return Ok(short(PREAMBLE_LEN as u64));
    };
    if n == 0 {
        return Ok(ParsedBatch::Damaged(Damage::ZeroCount));
    }
    if n > MAX_BATCH_ENTRIES {
        return Ok(ParsedBatch::Damaged(Damage::TooManyEntries(n)));
    }
    let header_end = PREAMBLE_LEN + DESCRIPTOR_LEN * n as usize;
    if rest.len() < header_end {
        return Ok(short(header_end as u64));
    }
    let computed = checksum(&rest[8..header_end]);
    if computed != header_crc {
        return Ok(ParsedBatch::Damaged(Damage::HeaderChecksum { stored: header_crc, computed }));
    }
    let descriptors = decode_descriptors(&mut c, n as usize, WHAT)?;
    check_aligned(&descriptors, WHAT)?;
    let end = header_end as u64 + announced_payload_len(&descriptors);
    if (rest.len() as u64) < end {
        return Ok(short(end));
    }
    let end = end as usize;
    let computed = checksum(&rest[header_end..end]);
    if computed != data_crc {
        return Ok(ParsedBatch::Damaged(Damage::DataChecksum { stored: data_crc, computed }));
    }
    let data = buf.slice(offset + header_end..offset + end);
    let entries = slice_entries(&descriptors, &data, WHAT)?;
    Ok(ParsedBatch::Valid { entries, len: end })
}
