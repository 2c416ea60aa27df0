//! `raft_metrics_json` and `raft_bootstrap_entry`: the monitoring view of an instance and the
//! one-call bootstrap of a new cluster, both thin wrappers over the core's Rust API.

use std::ffi::{c_int, c_void};

use super::boundary::{self, guard, status, Failure};
use super::configuration::{copy_to_heap, from_c};
use super::heap;
use super::instance::{instance_mut, set_errmsg};
use super::types::*;
use crate::codec::configuration::CRAFT;
use crate::core::{Bootstrap, EntryType};

/// Writes the metrics of `r` as one line of JSON (shape in the README) into `out`:
/// `out->base` is a new raft-heap allocation holding `out->len` bytes followed by a NUL (not
/// counted), which the caller frees with `raft_free`. `last_applied` is the host's last applied
/// index, reported as is. Works in any state, before `RAFT_START` too. Errors: `RAFT_INVALID`
/// (NULL argument, uninitialised instance), `RAFT_BUSY` (called from inside `raft_step`),
/// `RAFT_NOMEM`; on error `out` is untouched.
#[no_mangle]
pub extern "C" fn raft_metrics_json(
    r: *mut raft,
    last_applied: raft_index,
    out: *mut raft_buffer,
) -> c_int {
    guard(|| {
        // SAFETY: `r` is NULL or the host's struct raft, idle per `instance_mut`'s checks.
        let result = unsafe { metrics_json(r, last_applied, out) };
        match result {
            Ok(()) => 0,
            Err(f) => {
                if !r.is_null() && f.code != RAFT_BUSY {
                    // SAFETY: non-NULL `r` is the host's struct raft.
                    unsafe { set_errmsg(r, &f.message) };
                }
                f.code
            }
        }
    })
}

unsafe fn metrics_json(
    r: *mut raft,
    last_applied: raft_index,
    out: *mut raft_buffer,
) -> Result<(), Failure> {
    // SAFETY: forwarded to the caller.
    let out = unsafe { boundary::non_null_mut(out, "output buffer") }?;
    // SAFETY: forwarded to the caller.
    let inst = unsafe { instance_mut(r) }?;
    let text = crate::present::metrics_json(&inst.core.metrics(last_applied));
    let base = heap::copy_string(text.as_bytes())?;
    *out = raft_buffer { base: base as *mut c_void, len: text.len() };
    Ok(())
}

/// Builds the bootstrap entry of a new cluster whose initial servers are `conf` (at least one
/// voter): `out->term` = 1, `out->type` = `RAFT_CHANGE`, `out->buf` = the encoded
/// configuration in a new raft-heap allocation, `out->batch` = `out->buf.base` (free it with
/// `raft_free`). To bootstrap, every initial server stores term 1, vote 0 and this entry at
/// index 1 (same `conf` everywhere, same order), then starts with `RAFT_START` {term 1,
/// voted_for 0, start_index 1, entries = out, n_entries = 1}. Errors: `RAFT_INVALID` (NULL
/// argument, no voter, NULL or non-UTF-8 address), `RAFT_BADID`, `RAFT_BADROLE`,
/// `RAFT_DUPLICATEID`, `RAFT_DUPLICATEADDRESS`, `RAFT_NOMEM`; on error `out` is untouched.
#[no_mangle]
pub extern "C" fn raft_bootstrap_entry(
    conf: *const raft_configuration,
    out: *mut raft_entry,
) -> c_int {
    // SAFETY: non-NULL pointers are the caller's valid structs.
    status(|| unsafe { bootstrap_entry(conf, out) })
}

unsafe fn bootstrap_entry(
    conf: *const raft_configuration,
    out: *mut raft_entry,
) -> Result<(), Failure> {
    // SAFETY: forwarded to the caller.
    let conf = unsafe { boundary::non_null(conf, "configuration") }?;
    // SAFETY: forwarded to the caller.
    let out = unsafe { boundary::non_null_mut(out, "entry") }?;
    // SAFETY: forwarded to the caller.
    let bootstrap = Bootstrap::new(&unsafe { from_c(conf) }?, &CRAFT)?;
    let buf = copy_to_heap(&bootstrap.payload)?;
    *out = raft_entry {
        term: bootstrap.term,
        r#type: entry_type_code(EntryType::Change),
        buf,
        batch: buf.base,
    };
    Ok(())
}
