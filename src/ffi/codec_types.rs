//! `#[repr(C)]` types and constants of the codec functions (`wire.rs`, `decoder.rs`,
//! `disk.rs`, `files.rs`). They are this library's additions: C-Raft has no such API, so no
//! layout has to match anything.

#![allow(non_camel_case_types)]

use std::ffi::{c_int, c_uint, c_ulonglong};

use super::types::{raft_entry, raft_id, raft_index, raft_term};

/// `raft_decoder_next`: no whole frame yet, feed more bytes.
pub const RAFT_FRAME_NONE: c_int = 0;
/// `raft_decoder_next`: the peer's handshake was decoded (`raft_decoder_peer`).
pub const RAFT_FRAME_HANDSHAKE: c_int = 1;
/// `raft_decoder_next`: a message was decoded.
pub const RAFT_FRAME_MESSAGE: c_int = 2;

/// Bytes of a metadata file (`metadata1`, `metadata2`).
pub const RAFT_METADATA_LEN: usize = 32;
/// Bytes of the format word that starts every segment file.
pub const RAFT_SEGMENT_HEADER_LEN: usize = 8;

/// The contents of a metadata file: the durable term and vote, and the write counter that
/// orders `metadata1` (odd versions) and `metadata2` (even versions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct raft_metadata {
    /// Write counter, at least 1 in a written file; 0 means "never written".
    pub version: c_ulonglong,
    pub term: raft_term,
    /// 0 for no vote.
    pub voted_for: raft_id,
}

/// `raft_segment.end`: the file is empty.
pub const RAFT_SEGMENT_EMPTY: c_int = 0;
/// `raft_segment.end`: the last valid batch ends exactly at the end of the file.
pub const RAFT_SEGMENT_EXACT: c_int = 1;
/// `raft_segment.end`: only zeros follow `end_offset` (pre-allocated space); nothing lost.
pub const RAFT_SEGMENT_ZERO_FILLED: c_int = 2;
/// `raft_segment.end`: the `discarded` bytes from `end_offset` are not a valid batch and not
/// all zero (a torn or damaged write); they were dropped.
pub const RAFT_SEGMENT_DAMAGED: c_int = 3;

/// A loaded segment file. `entries` is a `raft_malloc` array of `n_entries` entries (NULL
/// when 0) whose payloads share one `raft_malloc` batch (`entries[0].batch`); the caller owns
/// both: keep them (e.g. for `RAFT_START`) and free them later, or release them at once with
/// `raft_segment_close`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_segment {
    pub entries: *mut raft_entry,
    pub n_entries: c_uint,
    /// Number of valid batches read (open segments; 0 for closed ones).
    pub n_batches: c_uint,
    /// Bytes of the file worth keeping: the format word and the valid batches (0 without
    /// entries). An open segment is truncated to this length before it is closed.
    pub used_len: usize,
    /// How the file ends after the valid batches: `RAFT_SEGMENT_*`.
    pub end: c_int,
    /// Where what `end` describes starts (zeros or damage); the file length for the others.
    pub end_offset: usize,
    /// Bytes dropped because of damage (`RAFT_SEGMENT_DAMAGED`), else 0.
    pub discarded: usize,
}

/// `raft_file_name.kind`: not a file of a data directory; ignore it.
pub const RAFT_FILE_OTHER: c_int = 0;
/// `metadata1` or `metadata2` (`number` is 1 or 2).
pub const RAFT_FILE_METADATA: c_int = 1;
/// `open-N` (`counter` is N).
pub const RAFT_FILE_OPEN_SEGMENT: c_int = 2;
/// `FIRST-LAST` (`first`, `last`).
pub const RAFT_FILE_CLOSED_SEGMENT: c_int = 3;
/// `snapshot-TERM-INDEX-TIMESTAMP` (`term`, `index`, `timestamp`).
pub const RAFT_FILE_SNAPSHOT: c_int = 4;
/// `snapshot-TERM-INDEX-TIMESTAMP.meta` (`term`, `index`, `timestamp`).
pub const RAFT_FILE_SNAPSHOT_META: c_int = 5;
/// `tmp-*`: leftover of an interrupted atomic write, to delete at startup.
pub const RAFT_FILE_TEMPORARY: c_int = 6;
/// `corrupt-*`: a segment set aside by recovery, to ignore.
pub const RAFT_FILE_CORRUPT: c_int = 7;

/// A classified file name (`raft_parse_file_name`). Fields not used by `kind` are 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct raft_file_name {
    /// `RAFT_FILE_*`.
    pub kind: c_int,
    /// Metadata file number (1 or 2).
    pub number: c_uint,
    /// Open segment counter.
    pub counter: c_ulonglong,
    /// Closed segment: first and last entry index.
    pub first: raft_index,
    pub last: raft_index,
    /// Snapshot: term and index of the last covered entry, creation time (only orders
    /// snapshots of equal term and index).
    pub term: raft_term,
    pub index: raft_index,
    pub timestamp: c_ulonglong,
}
