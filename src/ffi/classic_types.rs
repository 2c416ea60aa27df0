//! The C types of C-Raft's classic ("v0") API: the I/O back-end (`struct raft_io`), the state
//! machine (`struct raft_fsm`), snapshots and the client requests, at C-Raft 0.22.1's layout
//! (c_tests/test_layout.c). `raft_init()` with a non-NULL `io` and `fsm` selects this mode.
//!
//! Ownership across this API, stated once here and at each type:
//! - The host owns `struct raft_io`, `struct raft_fsm` and every request struct; they must stay
//!   alive (and unmoved) until the request's callback fired, or for `io`/`fsm` until the close
//!   callback of `raft_close()`.
//! - Memory the library hands to `raft_io` (entries to append, messages to send, snapshots to
//!   put) is the library's and stays valid until the matching callback fires; the back-end
//!   copies what it needs to keep longer.
//! - Memory `raft_io` hands to the library (`load` results, received messages, loaded
//!   snapshots) is allocated with the raft heap and becomes the library's.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_short, c_uint, c_ushort, c_void};

use super::types::*;

/// A snapshot: its metadata and content. When the library asks `raft_fsm.snapshot` for one,
/// the FSM fills `bufs`/`n_bufs` (allocated with the raft heap, the library frees them unless
/// `snapshot_finalize` is set); when `raft_io.load`/`snapshot_get` return one, the back-end
/// allocates the struct, `bufs` and every buffer with the raft heap and the library takes them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_snapshot {
    /// Index and term of the last entry covered.
    pub index: raft_index,
    pub term: raft_term,
    /// The configuration as of `index`, and the index of the entry that held it.
    pub configuration: raft_configuration,
    pub configuration_index: raft_index,
    pub bufs: *mut raft_buffer,
    pub n_bufs: c_uint,
}

/// Completion of `raft_io.send`.
pub type raft_io_send_cb = Option<unsafe extern "C" fn(req: *mut raft_io_send, status: c_int)>;

/// A send request: `data` belongs to the library (it set it before the call), `cb` is set by
/// the back-end if it wishes; the back-end calls the callback it was given exactly once.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_io_send {
    pub data: *mut c_void,
    pub cb: raft_io_send_cb,
}

/// Completion of `raft_io.append`.
pub type raft_io_append_cb = Option<unsafe extern "C" fn(req: *mut raft_io_append, status: c_int)>;

/// An append request (as `raft_io_send`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_io_append {
    pub data: *mut c_void,
    pub cb: raft_io_append_cb,
}

/// Completion of `raft_io.snapshot_put`.
pub type raft_io_snapshot_put_cb =
    Option<unsafe extern "C" fn(req: *mut raft_io_snapshot_put, status: c_int)>;

/// A snapshot-store request (as `raft_io_send`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_io_snapshot_put {
    pub data: *mut c_void,
    pub cb: raft_io_snapshot_put_cb,
}

/// Completion of `raft_io.snapshot_get`: on success `snapshot` (raft heap: the struct, its
/// `bufs` array and each buffer, and the configuration) becomes the library's.
pub type raft_io_snapshot_get_cb = Option<
    unsafe extern "C" fn(
        req: *mut raft_io_snapshot_get,
        snapshot: *mut raft_snapshot,
        status: c_int,
    ),
>;

/// A snapshot-load request (as `raft_io_send`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_io_snapshot_get {
    pub data: *mut c_void,
    pub cb: raft_io_snapshot_get_cb,
}

/// Called by the back-end every `msecs` given to `start`.
pub type raft_io_tick_cb = Option<unsafe extern "C" fn(io: *mut raft_io)>;

/// Called by the back-end for every message received. The message and what it carries
/// (AppendEntries' entries array and batches, InstallSnapshot's configuration and data) are
/// allocated with the raft heap and become the library's.
pub type raft_io_recv_cb = Option<unsafe extern "C" fn(io: *mut raft_io, msg: *mut raft_message)>;

/// Called by the back-end when its close has finished.
pub type raft_io_close_cb = Option<unsafe extern "C" fn(io: *mut raft_io)>;

/// The host's disk and network back-end for the classic mode (C-Raft's `raft_io`). `version`
/// must be 1 or 2 (the methods are the same); `data` is set by `raft_init()` to the instance
/// (C-Raft does the same), `impl` is the back-end's own. Every method must be set except
/// `recover` (needed only by `raft_recover()`). Synchronous methods (`init`, `load`, `start`,
/// `bootstrap`, `recover`, `set_term`, `set_vote`, `truncate`, `time`, `random`) return 0 or
/// an error code with a message in `errmsg`; asynchronous ones (`send`, `append`,
/// `snapshot_put`, `snapshot_get`) return 0 and later call their callback exactly once, never
/// from inside the method, or return an error and never call it. `close` calls back every
/// pending request (RAFT_CANCELED allowed) before its own callback.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_io {
    pub version: c_short,
    /// Free disk space the back-end reports, in MiB; passed to the core with every event.
    pub capacity: c_ushort,
    pub data: *mut c_void,
    pub r#impl: *mut c_void,
    pub errmsg: [c_char; RAFT_ERRMSG_BUF_SIZE],
    pub init: Option<
        unsafe extern "C" fn(io: *mut raft_io, id: raft_id, address: *const c_char) -> c_int,
    >,
    pub close: Option<unsafe extern "C" fn(io: *mut raft_io, cb: raft_io_close_cb)>,
    /// The durable state: term, vote, the latest snapshot (or NULL) and the entries from
    /// `start_index` on. The snapshot and the entries array with their batches are raft heap
    /// memory that becomes the library's.
    pub load: Option<
        unsafe extern "C" fn(
            io: *mut raft_io,
            term: *mut raft_term,
            voted_for: *mut raft_id,
            snapshot: *mut *mut raft_snapshot,
            start_index: *mut raft_index,
            entries: *mut *mut raft_entry,
            n_entries: *mut usize,
        ) -> c_int,
    >,
    pub start: Option<
        unsafe extern "C" fn(
            io: *mut raft_io,
            msecs: c_uint,
            tick: raft_io_tick_cb,
            recv: raft_io_recv_cb,
        ) -> c_int,
    >,
    pub bootstrap:
        Option<unsafe extern "C" fn(io: *mut raft_io, conf: *const raft_configuration) -> c_int>,
    pub recover:
        Option<unsafe extern "C" fn(io: *mut raft_io, conf: *const raft_configuration) -> c_int>,
    pub set_term: Option<unsafe extern "C" fn(io: *mut raft_io, term: raft_term) -> c_int>,
    pub set_vote: Option<unsafe extern "C" fn(io: *mut raft_io, server_id: raft_id) -> c_int>,
    pub send: Option<
        unsafe extern "C" fn(
            io: *mut raft_io,
            req: *mut raft_io_send,
            message: *const raft_message,
            cb: raft_io_send_cb,
        ) -> c_int,
    >,
    pub append: Option<
        unsafe extern "C" fn(
            io: *mut raft_io,
            req: *mut raft_io_append,
            entries: *const raft_entry,
            n: c_uint,
            cb: raft_io_append_cb,
        ) -> c_int,
    >,
    /// Deletes every entry from `index` on (durably, before any later append completes).
    pub truncate: Option<unsafe extern "C" fn(io: *mut raft_io, index: raft_index) -> c_int>,
    /// Stores a snapshot; keeps `trailing` entries before its index and deletes older ones. With
    /// `trailing` 0 (an installed snapshot) the whole log is replaced by the snapshot.
    pub snapshot_put: Option<
        unsafe extern "C" fn(
            io: *mut raft_io,
            trailing: c_uint,
            req: *mut raft_io_snapshot_put,
            snapshot: *const raft_snapshot,
            cb: raft_io_snapshot_put_cb,
        ) -> c_int,
    >,
    pub snapshot_get: Option<
        unsafe extern "C" fn(
            io: *mut raft_io,
            req: *mut raft_io_snapshot_get,
            cb: raft_io_snapshot_get_cb,
        ) -> c_int,
    >,
    /// Milliseconds on a clock that never goes backwards.
    pub time: Option<unsafe extern "C" fn(io: *mut raft_io) -> raft_time>,
    /// A random integer in [min, max].
    pub random: Option<unsafe extern "C" fn(io: *mut raft_io, min: c_int, max: c_int) -> c_int>,
}

/// The host's replicated state machine for the classic mode (C-Raft's `raft_fsm`). `version`
/// 1, 2 or 3 says which members exist.
/// - `apply`: applies a committed command; `buf` stays the library's; `*result` is handed to
///   the `raft_apply` callback. A non-zero return stops applying (the entry is retried later).
/// - `snapshot`: fills `*bufs`/`*n_bufs` (raft heap) with the state as of the last applied
///   entry; without `snapshot_finalize` the library frees them after storing the snapshot.
/// - `restore`: replaces the state with a snapshot's; on success `buf->base` becomes the FSM's
///   (free it with `raft_free`), on failure it stays the library's.
/// - `snapshot_finalize` (version 2+, may be NULL): called once the stored snapshot no longer
///   needs the buffers, which then stay the FSM's.
/// - `snapshot_async` (version 3+, may be NULL): called after `snapshot`, for FSMs that split
///   the work; its return is treated like `snapshot`'s.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_fsm {
    pub version: c_int,
    pub data: *mut c_void,
    pub apply: Option<
        unsafe extern "C" fn(
            fsm: *mut raft_fsm,
            buf: *const raft_buffer,
            result: *mut *mut c_void,
        ) -> c_int,
    >,
    pub snapshot: Option<
        unsafe extern "C" fn(
            fsm: *mut raft_fsm,
            bufs: *mut *mut raft_buffer,
            n_bufs: *mut c_uint,
        ) -> c_int,
    >,
    pub restore: Option<unsafe extern "C" fn(fsm: *mut raft_fsm, buf: *mut raft_buffer) -> c_int>,
    pub snapshot_finalize: Option<
        unsafe extern "C" fn(
            fsm: *mut raft_fsm,
            bufs: *mut *mut raft_buffer,
            n_bufs: *mut c_uint,
        ) -> c_int,
    >,
    pub snapshot_async: Option<
        unsafe extern "C" fn(
            fsm: *mut raft_fsm,
            bufs: *mut *mut raft_buffer,
            n_bufs: *mut c_uint,
        ) -> c_int,
    >,
}

/// The status and result the library keeps in a request while it waits to fire its callback.
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_request_outcome {
    pub status: c_int,
    pub result: *mut c_void,
}

/// The last 32 bytes of a request's common part: reserved in C-Raft's header, used by the
/// library while the request is pending (an anonymous union in the header, as in C-Raft).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub union raft_request_extension {
    pub reserved: [u64; 4],
    pub outcome: raft_request_outcome,
}

/// Completion of `raft_apply`: `status` 0 and the FSM's `result` once the command is applied
/// on this server, or `RAFT_LEADERSHIPLOST` (the leader lost its role before the entry was
/// committed; it may still commit later), `RAFT_SHUTDOWN` (closed meanwhile).
pub type raft_apply_cb =
    Option<unsafe extern "C" fn(req: *mut raft_apply, status: c_int, result: *mut c_void)>;

/// A command submitted with `raft_apply()`. The host owns the struct and sets `data` as it
/// wishes; the library fills `type`, `index` and uses `queue` and the reserved words until the
/// callback fires. `req_id`, `client_id`, `unique_id` are never touched.
/// cbindgen:field-names=[data, type, index, queue, req_id, client_id, unique_id, , cb]
#[repr(C)]
pub struct raft_apply {
    pub data: *mut c_void,
    pub r#type: c_int,
    pub index: raft_index,
    pub queue: [*mut c_void; 2],
    pub req_id: [u8; 16],
    pub client_id: [u8; 16],
    pub unique_id: [u8; 16],
    pub extension: raft_request_extension,
    pub cb: raft_apply_cb,
}

/// Completion of `raft_barrier`: 0 once every entry before the barrier is applied, or as for
/// `raft_apply`.
pub type raft_barrier_cb = Option<unsafe extern "C" fn(req: *mut raft_barrier, status: c_int)>;

/// A barrier request (as `raft_apply`).
/// cbindgen:field-names=[data, type, index, queue, req_id, client_id, unique_id, , cb]
#[repr(C)]
pub struct raft_barrier {
    pub data: *mut c_void,
    pub r#type: c_int,
    pub index: raft_index,
    pub queue: [*mut c_void; 2],
    pub req_id: [u8; 16],
    pub client_id: [u8; 16],
    pub unique_id: [u8; 16],
    pub extension: raft_request_extension,
    pub cb: raft_barrier_cb,
}

/// Completion of `raft_add`/`raft_assign`/`raft_remove`: 0 once the new configuration is
/// committed, `RAFT_NOCONNECTION` (a promoted server could not catch up),
/// `RAFT_LEADERSHIPLOST`, `RAFT_SHUTDOWN`.
pub type raft_change_cb = Option<unsafe extern "C" fn(req: *mut raft_change, status: c_int)>;

/// A configuration change request (as `raft_apply`).
/// cbindgen:field-names=[data, type, index, queue, req_id, client_id, unique_id, , cb]
#[repr(C)]
pub struct raft_change {
    pub data: *mut c_void,
    pub r#type: c_int,
    pub index: raft_index,
    pub queue: [*mut c_void; 2],
    pub req_id: [u8; 16],
    pub client_id: [u8; 16],
    pub unique_id: [u8; 16],
    pub extension: raft_request_extension,
    pub cb: raft_change_cb,
}

/// Completion of `raft_read` (libraft-rs extension): 0 once the read is confirmed and the FSM
/// has applied up to `req->index` (read the FSM in the callback: the read is linearizable);
/// `RAFT_LEADERSHIPLOST` (this server stopped leading before confirming it), `RAFT_SHUTDOWN`.
pub type raft_read_cb = Option<unsafe extern "C" fn(req: *mut raft_read, status: c_int)>;

/// A linearizable read request (libraft-rs extension, docs/reads.md). `data` is the host's;
/// the library sets `index` (the read index) before the callback. The request must stay valid
/// until its callback.
#[repr(C)]
pub struct raft_read {
    pub data: *mut c_void,
    pub index: raft_index,
    pub cb: raft_read_cb,
    /// Private: the library's handle of the request.
    pub id: u64,
    pub reserved: [u64; 4],
}

/// Completion of `raft_transfer`: the transfer ended (the target leads, or it did not happen
/// within an election timeout, or the instance closed); check `raft_leader()`.
pub type raft_transfer_cb = Option<unsafe extern "C" fn(req: *mut raft_transfer)>;

/// A leadership transfer request (as `raft_apply`); `id` is the chosen target, `start` when the
/// transfer began.
/// cbindgen:field-names=[data, type, index, queue, req_id, client_id, unique_id, , id, start, send, cb]
#[repr(C)]
pub struct raft_transfer {
    pub data: *mut c_void,
    pub r#type: c_int,
    pub index: raft_index,
    pub queue: [*mut c_void; 2],
    pub req_id: [u8; 16],
    pub client_id: [u8; 16],
    pub unique_id: [u8; 16],
    pub extension: raft_request_extension,
    pub id: raft_id,
    pub start: raft_time,
    pub send: raft_io_send,
    pub cb: raft_transfer_cb,
}
