//! The C API of `raft/uv.h`: C-Raft 0.22.1's names and layouts (c_tests/uv/test_uv_layout.c).
//! This file alone generates include/raft/uv.h (cbindgen-uv.toml, `make header`); the bodies
//! are in the sibling modules.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void};

use super::super::classic_types::raft_io;
use super::super::types::{raft_id, raft_tracer, RAFT_ERRMSG_BUF_SIZE};
use super::sys::{uv_loop_t, uv_stream_t};

/// Tracer event of an append's disk write submitted (C-Raft's value; no info).
pub const RAFT_UV_TRACER_WRITE_SUBMIT: c_int = 1 << 8;
/// Tracer event of an append's disk write completed (C-Raft's value; no info).
pub const RAFT_UV_TRACER_WRITE_COMPLETE: c_int = 2 << 8;

/// Called by a transport when a peer connected and sent its handshake: `id` and `address`
/// (borrowed for the call) are the peer's, `stream` (raft heap memory) becomes the callee's,
/// which `uv_close()`s it and then frees it with `raft_free`.
pub type raft_uv_accept_cb = Option<
    unsafe extern "C" fn(
        t: *mut raft_uv_transport,
        id: raft_id,
        address: *const c_char,
        stream: *mut uv_stream_t,
    ),
>;

/// Called by a transport when a connect request finished: with status 0, `stream` is a
/// connected stream (its handshake already sent) that becomes the callee's, as for
/// `raft_uv_accept_cb`; otherwise `stream` is NULL.
pub type raft_uv_connect_cb = Option<
    unsafe extern "C" fn(req: *mut raft_uv_connect, stream: *mut uv_stream_t, status: c_int),
>;

/// A connect request; the memory stays the caller's and must live until `cb` fired.
#[repr(C)]
pub struct raft_uv_connect {
    pub data: *mut c_void,
    pub cb: raft_uv_connect_cb,
}

/// Called by a transport once its close finished and its memory may be released.
pub type raft_uv_transport_close_cb = Option<unsafe extern "C" fn(t: *mut raft_uv_transport)>;

/// How `raft_uv` connects to and accepts connections from other servers: TCP
/// (`raft_uv_tcp_init`) or the program's own. `version` must be 1. `data` is set by
/// `raft_uv_init` to the `raft_uv` instance (accept callbacks find it there); `impl` is the
/// transport's. `init` receives this server's id and address; `listen` starts accepting
/// (calling its callback for each peer, after reading the peer's handshake); `connect` opens a
/// connection, sends our handshake and calls back (never from inside `connect`); `close` stops
/// listening, cancels pending connects (their callbacks fire with `RAFT_CANCELED`) and calls
/// its callback when the transport's memory may be released.
#[repr(C)]
pub struct raft_uv_transport {
    pub version: c_int,
    pub data: *mut c_void,
    pub r#impl: *mut c_void,
    pub errmsg: [c_char; RAFT_ERRMSG_BUF_SIZE],
    pub init: Option<
        unsafe extern "C" fn(
            t: *mut raft_uv_transport,
            id: raft_id,
            address: *const c_char,
        ) -> c_int,
    >,
    pub listen:
        Option<unsafe extern "C" fn(t: *mut raft_uv_transport, cb: raft_uv_accept_cb) -> c_int>,
    pub connect: Option<
        unsafe extern "C" fn(
            t: *mut raft_uv_transport,
            req: *mut raft_uv_connect,
            id: raft_id,
            address: *const c_char,
            cb: raft_uv_connect_cb,
        ) -> c_int,
    >,
    pub close:
        Option<unsafe extern "C" fn(t: *mut raft_uv_transport, cb: raft_uv_transport_close_cb)>,
}

/// Makes `io` a `raft_io` that stores in the data directory `dir` (copied; C-Raft's format)
/// and reaches peers through `transport`, both on the host's `loop`. Then pass `io` to
/// `raft_init()`; after `raft_close()` called back, release it with `raft_uv_close()`.
///
/// Errors (message in `io->errmsg`): `RAFT_INVALID` (NULL argument, `transport->version` 0,
/// `dir` not a directory), `RAFT_NAMETOOLONG` (`dir` longer than 1023 bytes), `RAFT_NOTFOUND`
/// (`dir` does not exist), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_uv_init(
    io: *mut raft_io,
    r#loop: *mut uv_loop_t,
    dir: *const c_char,
    transport: *mut raft_uv_transport,
) -> c_int {
    super::io::init(io, r#loop, dir, transport)
}

/// Releases what `raft_uv_init` allocated; call it after the close of the instance using `io`
/// called back (or when `io` was never used). NULL and a second call are harmless.
#[no_mangle]
pub extern "C" fn raft_uv_close(io: *mut raft_io) {
    super::io::release(io)
}

/// Block size for direct I/O (default 4096): appends written with `O_DIRECT` cover whole
/// blocks of this size (docs/uv.md). A power of two from 512 bytes to 1 MiB; any other size is
/// ignored. Segments started from then on use it.
#[no_mangle]
pub extern "C" fn raft_uv_set_block_size(io: *mut raft_io, size: usize) {
    super::io::with_uv(io, |uv| uv.set_block_size(size as u64))
}

/// Size past which an open segment is closed and the next one started (default 8 MiB).
#[no_mangle]
pub extern "C" fn raft_uv_set_segment_size(io: *mut raft_io, size: usize) {
    super::io::with_uv(io, |uv| uv.set_segment_size(size as u64))
}

/// Tries a failed append again after `msecs` milliseconds, until it succeeds, instead of
/// completing it with its error (C-Raft 0.22's behaviour, which also applies without this
/// call). By default a failed append completes at once with `RAFT_NOSPACE` or `RAFT_IOERR`.
/// The append keeps its place: the appends after it wait. Closing cancels it.
#[no_mangle]
pub extern "C" fn raft_uv_set_disk_retry(io: *mut raft_io, msecs: c_uint) {
    super::io::with_uv(io, |uv| uv.set_disk_retry(u64::from(msecs)))
}

/// Deprecated in C-Raft, a no-op there and here: snapshots are written uncompressed (LZ4
/// snapshots written by C-Raft 0.15 are read). Returns 0.
#[no_mangle]
pub extern "C" fn raft_uv_set_snapshot_compression(io: *mut raft_io, compressed: bool) -> c_int {
    let _ = (io, compressed);
    0
}

/// Milliseconds between two attempts to connect to a peer (default 1000).
#[no_mangle]
pub extern "C" fn raft_uv_set_connect_retry_delay(io: *mut raft_io, msecs: c_uint) {
    super::io::with_uv(io, |uv| uv.retry_delay = u64::from(msecs))
}

/// Tracer of low-level events (NULL: none, the default): `RAFT_UV_TRACER_WRITE_SUBMIT` and
/// `RAFT_UV_TRACER_WRITE_COMPLETE` (no info) around each append's disk write, and a
/// `RAFT_TRACER_DIAGNOSTIC` at level 2 for each failed disk operation. Only `version` 2 is
/// called. The tracer must outlive the instance; it is called on the loop thread.
#[no_mangle]
pub extern "C" fn raft_uv_set_tracer(io: *mut raft_io, tracer: *mut raft_tracer) {
    super::io::with_uv(io, |uv| uv.set_tracer(tracer))
}

/// Auto-recovery of damaged segments at load (default on). On: an open segment whose tail is
/// damaged (bytes after its last valid batch that are not all zeros, as a torn write leaves) is
/// cut after that batch. Off: the load fails with `RAFT_CORRUPT` and leaves the file as it is.
/// A damaged closed segment always makes the load fail (C-Raft, when on, moves the last corrupt
/// segments aside and drops their entries; this library never drops entries a closed segment
/// holds, and keeps the valid batches of an open one where C-Raft drops the whole file).
#[no_mangle]
pub extern "C" fn raft_uv_set_auto_recovery(io: *mut raft_io, flag: bool) {
    super::io::with_uv(io, |uv| uv.set_auto_recovery(flag));
}

/// Makes `t` the TCP transport of C-Raft's protocol on `loop` (IPv4 `a.b.c.d:port`
/// addresses). Release it with `raft_uv_tcp_close()` after its close called back.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_uv_tcp_init(t: *mut raft_uv_transport, r#loop: *mut uv_loop_t) -> c_int {
    super::tcp::init(t, r#loop)
}

/// Releases what `raft_uv_tcp_init` allocated. NULL and a second call are harmless.
#[no_mangle]
pub extern "C" fn raft_uv_tcp_close(t: *mut raft_uv_transport) {
    super::tcp::release(t)
}

/// Address (`a.b.c.d` or `a.b.c.d:port`, port 8080 when absent) the listening socket binds to,
/// instead of the server's own address. Call it before `raft_init()`.
///
/// Errors: `RAFT_INVALID` (NULL argument, not an IPv4 address).
#[no_mangle]
pub extern "C" fn raft_uv_tcp_set_bind_address(
    t: *mut raft_uv_transport,
    address: *const c_char,
) -> c_int {
    super::tcp::set_bind_address(t, address)
}
