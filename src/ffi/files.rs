//! File names of a data directory and snapshot files (`.meta` and data) in C.

use std::ffi::{c_char, c_int};

use bytes::Bytes;

use super::boundary::{self, codec_call, guard, status, Failure};
use super::codec_types::*;
use super::configuration::{self as conf_ffi, copy_to_heap};
use super::types::*;
use crate::codec::disk::names::{self, FileName, SnapshotName};
use crate::codec::disk::snapshot::{self, SnapshotMeta};

/// Writes `text` and a NUL into the caller's `out` of `len` bytes.
///
/// # Safety
/// A non-NULL `out` must point to `len` writable bytes.
unsafe fn write_name(text: &str, out: *mut c_char, len: usize) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid("out is NULL"));
    }
    if text.len() >= len {
        return Err(Failure::new(
            RAFT_NAMETOOLONG,
            format!("{text} needs {} bytes", text.len() + 1),
        ));
    }
    // SAFETY: `out` has `len > text.len()` writable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out as *mut u8, text.len());
        *out.add(text.len()) = 0;
    }
    Ok(())
}

/// Writes the name of the closed segment holding `first..=last` (16-digit zero-padded, as
/// C-Raft writes it) into `out`, a caller buffer of `len` bytes (64 is always enough).
///
/// Errors: `RAFT_INVALID` (NULL `out`, `first` 0 or above `last`), `RAFT_NAMETOOLONG`.
#[no_mangle]
pub extern "C" fn raft_closed_segment_name(
    first: raft_index,
    last: raft_index,
    out: *mut c_char,
    len: usize,
) -> c_int {
    status(|| {
        if first == 0 || first > last {
            return Err(Failure::invalid("a closed segment holds entries first..=last, first > 0"));
        }
        // SAFETY: a non-NULL `out` has `len` bytes (the caller's contract).
        unsafe { write_name(&names::closed_segment_name(first, last), out, len) }
    })
}

/// Writes `open-COUNTER` into `out`, a caller buffer of `len` bytes (32 is always enough).
///
/// Errors: `RAFT_INVALID` (NULL `out`), `RAFT_NAMETOOLONG`.
#[no_mangle]
pub extern "C" fn raft_open_segment_name(counter: u64, out: *mut c_char, len: usize) -> c_int {
    // SAFETY: a non-NULL `out` has `len` bytes (the caller's contract).
    status(|| unsafe { write_name(&names::open_segment_name(counter), out, len) })
}

/// Writes `snapshot-TERM-INDEX-TIMESTAMP`, followed by `.meta` when `meta` is true, into
/// `out`, a caller buffer of `len` bytes (80 is always enough). `timestamp` only orders
/// snapshots of equal term and index (C-Raft uses its loop clock in milliseconds).
///
/// Errors: `RAFT_INVALID` (NULL `out`), `RAFT_NAMETOOLONG`.
#[no_mangle]
pub extern "C" fn raft_snapshot_file_name(
    term: raft_term,
    index: raft_index,
    timestamp: u64,
    meta: bool,
    out: *mut c_char,
    len: usize,
) -> c_int {
    status(|| {
        let name = SnapshotName { term, index, timestamp };
        let text = if meta { name.meta_file_name() } else { name.data_file_name() };
        // SAFETY: a non-NULL `out` has `len` bytes (the caller's contract).
        unsafe { write_name(&text, out, len) }
    })
}

/// Classifies a file name of a data directory (borrowed for the call) into `*out`. Names
/// that are not C-Raft's give `RAFT_FILE_OTHER`, which is not an error.
///
/// Errors: `RAFT_INVALID` (NULL argument, name not UTF-8).
#[no_mangle]
pub extern "C" fn raft_parse_file_name(name: *const c_char, out: *mut raft_file_name) -> c_int {
    guard(|| {
        // SAFETY: the pointers are the caller's, valid for the call.
        let result = unsafe {
            (|| {
                let name = boundary::text(name, "name")?;
                let out = boundary::non_null_mut(out, "out")?;
                *out = classify(names::parse_file_name(name));
                Ok(())
            })()
        };
        result.err().map_or(0, |f: Failure| f.code)
    })
}

fn classify(name: FileName) -> raft_file_name {
    let mut out = raft_file_name::default();
    let snapshot = |out: &mut raft_file_name, s: SnapshotName| {
        out.term = s.term;
        out.index = s.index;
        out.timestamp = s.timestamp;
    };
    match name {
        FileName::Metadata(number) => {
            out.kind = RAFT_FILE_METADATA;
            out.number = number.into();
        }
        FileName::ClosedSegment { first, last } => {
            out.kind = RAFT_FILE_CLOSED_SEGMENT;
            out.first = first;
            out.last = last;
        }
        FileName::OpenSegment { counter } => {
            out.kind = RAFT_FILE_OPEN_SEGMENT;
            out.counter = counter;
        }
        FileName::SnapshotData(s) => {
            out.kind = RAFT_FILE_SNAPSHOT;
            snapshot(&mut out, s);
        }
        FileName::SnapshotMeta(s) => {
            out.kind = RAFT_FILE_SNAPSHOT_META;
            snapshot(&mut out, s);
        }
        FileName::Temporary => out.kind = RAFT_FILE_TEMPORARY,
        FileName::Corrupt => out.kind = RAFT_FILE_CORRUPT,
        FileName::Other => out.kind = RAFT_FILE_OTHER,
    }
    out
}

/// Encodes a snapshot `.meta` file: the configuration `conf` (borrowed) as of `conf_index`,
/// with its checksum, into `out->base`, a `raft_malloc` buffer the caller frees with
/// `raft_free`. The snapshot's term and index go in the file name.
///
/// Errors: `RAFT_INVALID` (NULL argument, empty configuration or above 1 MiB encoded),
/// `RAFT_BADID`, `RAFT_BADROLE`, `RAFT_DUPLICATEID`, `RAFT_DUPLICATEADDRESS` (as
/// `raft_configuration_encode`), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_encode_snapshot_meta(
    conf: *const raft_configuration,
    conf_index: raft_index,
    out: *mut raft_buffer,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let conf = boundary::non_null(conf, "configuration")?;
            let out = boundary::non_null_mut(out, "out")?;
            let meta = SnapshotMeta { conf_index, conf: conf_ffi::from_c(conf)? };
            *out = copy_to_heap(&snapshot::encode_snapshot_meta(&meta)?)?;
            Ok(())
        }
    })
}

/// Decodes a snapshot `.meta` file into `*conf` (initialised first; on success the caller owns
/// it and closes it with `raft_configuration_close`, on error it is left empty) and
/// `*conf_index`.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_MALFORMED` (format other than 1, truncated,
/// bad or empty configuration), `RAFT_CORRUPT` (checksum, lengths), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_decode_snapshot_meta(
    buf: *const raft_buffer,
    conf: *mut raft_configuration,
    conf_index: *mut raft_index,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let conf = boundary::non_null_mut(conf, "configuration")?;
            *conf = raft_configuration { servers: std::ptr::null_mut(), n: 0 };
            let bytes = boundary::input_bytes(buf, "buffer")?;
            let conf_index = boundary::non_null_mut(conf_index, "conf_index")?;
            let meta = snapshot::decode_snapshot_meta(bytes)?;
            conf_ffi::to_c(&meta.conf, conf)?;
            *conf_index = meta.conf_index;
            Ok(())
        }
    })
}

/// Whether snapshot data is an LZ4 frame (starts with its magic number), as C-Raft 0.15 writes
/// by default. NULL gives false.
#[no_mangle]
pub extern "C" fn raft_snapshot_data_is_lz4(data: *const raft_buffer) -> bool {
    guard(|| {
        // SAFETY: a non-NULL buffer is the caller's, valid for the call.
        let bytes = unsafe { data.as_ref().map(|b| boundary::buffer_bytes(b, "data")) };
        Some(matches!(bytes, Some(Ok(bytes)) if snapshot::is_lz4_frame(bytes)))
    })
    .unwrap_or(false)
}

/// The snapshot as the application wrote it, in `out->base`, a new `raft_malloc` buffer the
/// caller frees with `raft_free`: a copy of `data` when it is raw, its decompression when it
/// is an LZ4 frame. `max_len` bounds the decompressed size (0: 1 GiB). New snapshots should be
/// written raw: every C-Raft version reads that.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_CORRUPT` (invalid frame or checksum),
/// `RAFT_TOOBIG` (above `max_len`), `RAFT_NOMEM`. On error `out` is untouched.
#[no_mangle]
pub extern "C" fn raft_decode_snapshot_data(
    data: *const raft_buffer,
    max_len: usize,
    out: *mut raft_buffer,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let bytes = boundary::input_bytes(data, "data")?;
            let out = boundary::non_null_mut(out, "out")?;
            if !snapshot::is_lz4_frame(bytes) {
                *out = copy_to_heap(bytes)?;
                return Ok(());
            }
            let limit =
                if max_len == 0 { snapshot::DEFAULT_MAX_SNAPSHOT_LEN } else { max_len as u64 };
            let plain = snapshot::decode_snapshot_data(Bytes::copy_from_slice(bytes), limit)?;
            *out = copy_to_heap(&plain)?;
            Ok(())
        }
    })
}
