//! Entries crossing the codec boundary: host `raft_entry` arrays read into codec entries, and
//! decoded entries handed to the host as one `raft_malloc` array plus one `raft_malloc` batch
//! (the shape `RAFT_RECEIVE` and `RAFT_START` expect).

use std::ffi::c_void;
use std::ptr;

use bytes::Bytes;

use super::boundary::{self, Failure};
use super::heap;
use super::types::*;
use crate::codec::Entry;
use crate::core::EntryType;

/// Copies the host's entries into codec entries. The host keeps its memory.
///
/// # Safety
/// `entries` must be NULL or point to `n` entries whose buffers are `(NULL, 0)` or readable
/// for `len` bytes, all valid for the call.
pub unsafe fn from_c(
    entries: *const raft_entry,
    n: usize,
    what: &str,
) -> Result<Vec<Entry>, Failure> {
    // SAFETY: forwarded to the caller.
    let entries = unsafe { boundary::slice(entries, n, what) }?;
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let kind = EntryType::from_code(e.r#type.into())
            .ok_or_else(|| Failure::invalid(format!("{what} {i} has unknown type {}", e.r#type)))?;
        // SAFETY: forwarded to the caller.
        let payload = unsafe { boundary::buffer_bytes(&e.buf, what) }?;
        out.push(Entry { term: e.term, kind, payload: Bytes::copy_from_slice(payload) });
    }
    Ok(out)
}

/// A host-owned copy of `entries`: an array of `raft_entry` and one batch holding every payload
/// back to back, both from `raft_malloc`; every entry's `batch` is that one allocation. No
/// entries gives `(NULL, 0)` and allocates nothing.
pub fn to_c(entries: &[Entry]) -> Result<(*mut raft_entry, usize), Failure> {
    if entries.is_empty() {
        return Ok((ptr::null_mut(), 0));
    }
    let total: usize = entries.iter().map(|e| e.payload.len()).sum();
    let array = heap::alloc_array::<raft_entry>(entries.len());
    if array.is_null() {
        return Err(Failure::nomem());
    }
    // One byte at least, so that an all-empty batch is still a distinct allocation to free.
    let batch = heap::malloc(total.max(1)) as *mut u8;
    if batch.is_null() {
        heap::free(array as *mut c_void);
        return Err(Failure::nomem());
    }
    let mut offset = 0;
    for (i, e) in entries.iter().enumerate() {
        let len = e.payload.len();
        // SAFETY: `batch` holds `total` bytes and the payloads add up to `total`; `array` has
        // room for every entry.
        unsafe {
            let base = batch.add(offset);
            ptr::copy_nonoverlapping(e.payload.as_ptr(), base, len);
            array.add(i).write(raft_entry {
                term: e.term,
                r#type: e.kind.code().into(),
                buf: raft_buffer { base: base as *mut c_void, len },
                batch: batch as *mut c_void,
            });
        }
        offset += len;
    }
    Ok((array, entries.len()))
}

/// Frees an array from [`to_c`] and, when `with_batch`, the batch its entries share.
///
/// # Safety
/// `array` must be NULL or come from [`to_c`] with `n` entries, not freed yet.
pub unsafe fn free(array: *mut raft_entry, n: usize, with_batch: bool) {
    if array.is_null() {
        return;
    }
    if with_batch && n > 0 {
        // SAFETY: per the caller, the array holds `n` initialised entries sharing one batch.
        heap::free(unsafe { (*array).batch });
    }
    heap::free(array as *mut c_void);
}
