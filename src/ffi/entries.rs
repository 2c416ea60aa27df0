//! Entries crossing the boundary: host `raft_entry` arrays read into the core's views or codec
//! entries, and decoded entries handed to the host as one `raft_malloc` array plus one
//! `raft_malloc` batch (the shape `RAFT_RECEIVE` and `RAFT_START` expect).

use std::ffi::c_void;
use std::ptr;

use bytes::Bytes;

use super::boundary::{self, Failure};
use super::heap;
use super::types::*;
use crate::codec::Entry;
use crate::core::EntryView;

/// Who wrote the entries or the message being read, which decides the code of a refusal: the
/// host's own arguments are invalid (`RAFT_INVALID`), received input is malformed
/// (`RAFT_MALFORMED`).
#[derive(Clone, Copy)]
pub enum Origin {
    Host,
    Network,
}

impl Origin {
    pub fn failure(self, message: impl Into<String>) -> Failure {
        match self {
            Origin::Host => Failure::invalid(message),
            Origin::Network => Failure::malformed(message),
        }
    }

    /// `failure` reported with this origin's code.
    pub fn refuse(self, failure: Failure) -> Failure {
        self.failure(failure.message)
    }
}

/// Entry `i` of the host's `what` read without copying its payload: its type checked and its
/// buffer borrowed. Every reader of a `raft_entry` goes through here.
///
/// # Safety
/// `e.buf` must be `(NULL, 0)` or point to `len` readable bytes for `'a`.
pub unsafe fn view<'a>(
    e: &'a raft_entry,
    i: usize,
    what: &str,
    origin: Origin,
) -> Result<EntryView<'a>, Failure> {
    let kind = entry_type_from_code(e.r#type)
        .ok_or_else(|| origin.failure(format!("{what} {i} has unknown type {}", e.r#type)))?;
    // SAFETY: forwarded to the caller.
    let payload = unsafe { boundary::buffer_bytes(&e.buf, what) }.map_err(|f| origin.refuse(f))?;
    Ok(EntryView { term: e.term, kind, payload })
}

/// Describes `entries` to the core without copying payloads, in `views` (emptied first; its
/// buffer is reused from step to step).
///
/// # Safety
/// Every entry's `buf` must be `(NULL, 0)` or point to `len` readable bytes for `'a`.
pub unsafe fn views<'a>(
    entries: &'a [raft_entry],
    origin: Origin,
    what: &str,
    views: &mut Vec<EntryView<'a>>,
) -> Result<(), Failure> {
    views.clear();
    // A message may announce millions of entries: running out of memory for their views is a
    // clean RAFT_NOMEM before anything changed, never an abort.
    views.try_reserve(entries.len()).map_err(|_| Failure::nomem())?;
    for (i, e) in entries.iter().enumerate() {
        // Entries given to raft_step are freed or handed back through their batch, so every
        // one must name it.
        if e.batch.is_null() {
            return Err(origin.failure(format!("{what} {i} has a NULL batch")));
        }
        // SAFETY: forwarded to the caller.
        views.push(unsafe { view(e, i, what, origin) }?);
    }
    Ok(())
}

/// Copies the host's entries into codec entries. The host keeps its memory.
///
/// # Safety
/// Every entry's `buf` must be `(NULL, 0)` or point to `len` readable bytes for the call.
pub unsafe fn from_c(entries: &[raft_entry], what: &str) -> Result<Vec<Entry>, Failure> {
    let mut out = Vec::new();
    // As for views: a huge count is RAFT_NOMEM, never an abort.
    out.try_reserve(entries.len()).map_err(|_| Failure::nomem())?;
    for (i, e) in entries.iter().enumerate() {
        // SAFETY: forwarded to the caller.
        let v = unsafe { view(e, i, what, Origin::Host) }?;
        out.push(Entry { term: v.term, kind: v.kind, payload: Bytes::copy_from_slice(v.payload) });
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
                r#type: entry_type_code(e.kind),
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
