//! The log side of the disk codec in C: metadata files, segment headers, batches and the
//! loading (with recovery) of segment files. The host does the file I/O; these functions only
//! turn contents into values and back. File names and snapshot files are in `files.rs`.

use std::ffi::{c_char, c_int, c_uint};
use std::ptr;

use bytes::Bytes;

use super::boundary::{self, codec_call, guard, write_errmsg, Failure};
use super::codec_types::*;
use super::configuration::copy_to_heap;
use super::entries;
use super::types::*;
use crate::codec::disk::batch::encode_batch;
use crate::codec::disk::metadata::{self, Metadata};
use crate::codec::disk::segment::{self, OpenSegment, SegmentEnd};

/// Encodes the 32 bytes of a metadata file into `out->base`, a `raft_malloc` buffer the caller
/// frees with `raft_free`. Write it to `metadata1` for an odd `version` and `metadata2` for an
/// even one (`raft_metadata_file_name`), each write with the previous version + 1, and fsync.
///
/// Errors: `RAFT_INVALID` (NULL argument, version 0), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_encode_metadata(
    metadata: *const raft_metadata,
    out: *mut raft_buffer,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let m = boundary::non_null(metadata, "metadata")?;
            let out = boundary::non_null_mut(out, "out")?;
            if m.version == 0 {
                return Err(Failure::invalid("metadata version 0 is never written"));
            }
            let m = Metadata { version: m.version, term: m.term, voted_for: m.voted_for };
            *out = copy_to_heap(&metadata::encode_metadata(&m))?;
            Ok(())
        }
    })
}

/// Decodes the contents of a metadata file into `*metadata`. A file shorter than 32 bytes is a
/// write that never completed: it counts as never written, and `*metadata` is set to all
/// zeros (version 0) with success.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_MALFORMED` (format other than 1),
/// `RAFT_CORRUPT` (longer than 32 bytes, version 0). On error `*metadata` is untouched.
#[no_mangle]
pub extern "C" fn raft_decode_metadata(
    buf: *const raft_buffer,
    metadata: *mut raft_metadata,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let buf = boundary::non_null(buf, "buffer")?;
            let out = boundary::non_null_mut(metadata, "metadata")?;
            let bytes = boundary::buffer_bytes(buf, "buffer")?;
            let m = metadata::decode_metadata(bytes)?.unwrap_or_default();
            *out = raft_metadata { version: m.version, term: m.term, voted_for: m.voted_for };
            Ok(())
        }
    })
}

/// Picks the current metadata from the decoded `metadata1` and `metadata2` (either may be
/// NULL or have version 0 for a missing or never-written file): the greater version wins.
/// Neither gives all zeros, a brand-new server.
///
/// Errors: `RAFT_INVALID` (NULL `out`), `RAFT_CORRUPT` (both have the same non-zero version).
#[no_mangle]
pub extern "C" fn raft_choose_metadata(
    first: *const raft_metadata,
    second: *const raft_metadata,
    out: *mut raft_metadata,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let out = boundary::non_null_mut(out, "out")?;
            let read = |m: *const raft_metadata| {
                m.as_ref().filter(|m| m.version != 0).map(|m| Metadata {
                    version: m.version,
                    term: m.term,
                    voted_for: m.voted_for,
                })
            };
            let m = metadata::choose_metadata(read(first), read(second))?;
            *out = raft_metadata { version: m.version, term: m.term, voted_for: m.voted_for };
            Ok(())
        }
    })
}

/// `"metadata1"` for an odd `version`, `"metadata2"` for an even one. Static storage.
#[no_mangle]
pub extern "C" fn raft_metadata_file_name(version: u64) -> *const c_char {
    let name: &'static [u8] = if version % 2 == 1 { b"metadata1\0" } else { b"metadata2\0" };
    name.as_ptr() as *const c_char
}

/// The 8 bytes every segment file starts with, in `out->base`, a `raft_malloc` buffer the
/// caller frees with `raft_free`.
///
/// Errors: `RAFT_INVALID` (NULL `out`), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_encode_segment_header(out: *mut raft_buffer, errmsg: *mut c_char) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let out = boundary::non_null_mut(out, "out")?;
            *out = copy_to_heap(&segment::encode_segment_header())?;
            Ok(())
        }
    })
}

/// Encodes `n` entries (borrowed for the call) as one batch of a segment file, checksums
/// included, into `out->base`, a `raft_malloc` buffer the caller frees with `raft_free`.
/// Append it to a segment after its header; it is durable once fsync'ed.
///
/// Errors: `RAFT_INVALID` (NULL argument, no entries or more than 262144, unknown entry type,
/// a payload size that is not a multiple of 8 — C-Raft could not load it; `raft_step` accepts
/// any length — or above 4 GiB: `errmsg` names the entry's position in `entries` and its length),
/// `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_encode_batch(
    entries: *const raft_entry,
    n: c_uint,
    out: *mut raft_buffer,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let out = boundary::non_null_mut(out, "out")?;
            let entries = entries::from_c(entries, n as usize, "entry")?;
            *out = copy_to_heap(&encode_batch(&entries)?)?;
            Ok(())
        }
    })
}

/// Loads a closed segment file holding entries `first..=last` (from its name), strictly: any
/// damage is an error. On success `*segment` holds the entries (see `raft_segment`) with `end`
/// `RAFT_SEGMENT_EXACT`; on error it is zeroed and nothing is allocated.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_CORRUPT` (bad format word, checksum, count, a
/// batch running past the end, fewer or more entries than the name says), `RAFT_MALFORMED`
/// (`first` 0 or above `last`, unknown entry type, unaligned entry), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_load_closed_segment(
    data: *const raft_buffer,
    first: raft_index,
    last: raft_index,
    segment: *mut raft_segment,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let out = boundary::non_null_mut(segment, "segment")?;
            *out = empty_segment();
            let data = file_bytes(data)?;
            let loaded = segment::load_closed_segment(&data, first, last)?;
            let (entries, n) = entries::to_c(&loaded)?;
            *out = raft_segment {
                entries,
                n_entries: n as c_uint,
                n_batches: 0,
                used_len: data.len(),
                end: RAFT_SEGMENT_EXACT,
                end_offset: data.len(),
                discarded: 0,
            };
            Ok(())
        }
    })
}

/// Loads an open segment file (`open-N`) with C-Raft's recovery rules: batches are read until
/// the first one that is not valid; that one and everything after it are dropped, and
/// `segment->end` says why (pre-allocated zeros, or damage of `discarded` bytes at
/// `end_offset`, which `errmsg` then describes even though the call succeeds). The entries'
/// indexes continue from the previous segment. Afterwards the host truncates the file to
/// `used_len` and renames it to its closed name, or deletes it when it holds no entry.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_CORRUPT` (format word neither 0 nor 1),
/// `RAFT_MALFORMED` (a batch with a valid checksum but an unknown entry type or unaligned
/// entry: not a torn write; C-Raft refuses to start), `RAFT_NOMEM`. On error `*segment` is
/// zeroed and nothing is allocated.
#[no_mangle]
pub extern "C" fn raft_load_open_segment(
    data: *const raft_buffer,
    segment: *mut raft_segment,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let out = boundary::non_null_mut(segment, "segment")?;
            *out = empty_segment();
            let data = file_bytes(data)?;
            let loaded = segment::load_open_segment(&data)?;
            *out = open_segment_to_c(&loaded, data.len())?;
            if let SegmentEnd::Damaged { offset, damage, discarded } = &loaded.end {
                let text = format!("{discarded} bytes dropped at offset {offset}: {damage}");
                write_errmsg(errmsg, &text);
            }
            Ok(())
        }
    })
}

/// Releases the entries array and batch of a loaded segment and zeroes it. NULL is ignored.
/// Do not call it for a segment whose entries the caller took over.
#[no_mangle]
pub extern "C" fn raft_segment_close(segment: *mut raft_segment) {
    guard((), || {
        // SAFETY: a non-NULL segment was filled by a raft_load_*_segment call.
        if let Some(s) = unsafe { segment.as_mut() } {
            // SAFETY: the array and batch come from entries::to_c.
            unsafe { entries::free(s.entries, s.n_entries as usize, true) };
            *s = empty_segment();
        }
    })
}

fn empty_segment() -> raft_segment {
    raft_segment {
        entries: ptr::null_mut(),
        n_entries: 0,
        n_batches: 0,
        used_len: 0,
        end: RAFT_SEGMENT_EMPTY,
        end_offset: 0,
        discarded: 0,
    }
}

/// A copy of the file's bytes the codec can slice (the decoded entries are copied again into
/// the host's batch, so this one is dropped on return).
///
/// # Safety
/// `data` must be NULL or a valid buffer for the call.
unsafe fn file_bytes(data: *const raft_buffer) -> Result<Bytes, Failure> {
    // SAFETY: forwarded to the caller.
    let data = unsafe { boundary::non_null(data, "data") }?;
    // SAFETY: forwarded to the caller.
    Ok(Bytes::copy_from_slice(unsafe { boundary::buffer_bytes(data, "data") }?))
}

fn open_segment_to_c(loaded: &OpenSegment, file_len: usize) -> Result<raft_segment, Failure> {
    let (end, end_offset, discarded) = match &loaded.end {
        SegmentEnd::Empty => (RAFT_SEGMENT_EMPTY, 0, 0),
        SegmentEnd::Exact => (RAFT_SEGMENT_EXACT, file_len, 0),
        SegmentEnd::ZeroFilled { offset } => (RAFT_SEGMENT_ZERO_FILLED, *offset, 0),
        SegmentEnd::Damaged { offset, discarded, .. } => {
            (RAFT_SEGMENT_DAMAGED, *offset, *discarded)
        }
    };
    let (entries, n) = entries::to_c(&loaded.entries)?;
    Ok(raft_segment {
        entries,
        n_entries: n as c_uint,
        n_batches: loaded.batches as c_uint,
        used_len: loaded.used_len,
        end,
        end_offset,
        discarded,
    })
}
