//! The part of the system libuv (`-luv`, libuv1-dev) this module calls, declared by hand.
//!
//! Why not a `-sys` crate: libuv-sys2 links the system library only when its version matches
//! the crate's own exactly (else it compiles its bundled copy) and runs bindgen, which needs
//! libclang, absent here and on CI. The declarations below are functions of libuv's stable 1.x
//! ABI (all present since 1.19); no struct layout of libuv is copied: handles and requests are
//! allocated with the sizes libuv reports at run time (`uv_handle_size`, `uv_req_size`) and
//! their `data` member is reached through libuv's own accessors. The one layout relied upon is
//! `uv_buf_t` on Unix (`{ char *base; size_t len; }`, fixed by the 1.x ABI).

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void};

/// Opaque libuv objects: only ever behind pointers.
#[repr(C)]
pub struct uv_loop_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct uv_handle_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct uv_stream_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct uv_req_t {
    _private: [u8; 0],
}

/// `uv_buf_t` on Unix.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct uv_buf_t {
    pub base: *mut c_char,
    pub len: usize,
}

// uv_handle_type and uv_req_type values (uv.h, stable across 1.x).
pub const UV_CHECK: c_int = 2;
pub const UV_POLL: c_int = 8;
pub const UV_PREPARE: c_int = 9;
pub const UV_TCP: c_int = 12;
pub const UV_TIMER: c_int = 13;
pub const UV_CONNECT: c_int = 2;
pub const UV_WRITE: c_int = 3;
pub const UV_WORK: c_int = 7;

pub const UV_ECANCELED: c_int = -libc::ECANCELED;

/// `UV_READABLE` of `enum uv_poll_event`.
pub const UV_READABLE: c_int = 1;

pub type uv_poll_cb =
    Option<unsafe extern "C" fn(handle: *mut uv_handle_t, status: c_int, events: c_int)>;
pub type uv_close_cb = Option<unsafe extern "C" fn(handle: *mut uv_handle_t)>;
pub type uv_timer_cb = Option<unsafe extern "C" fn(handle: *mut uv_handle_t)>;
/// The callback of prepare and check handles (`uv_prepare_cb`, `uv_check_cb`).
pub type uv_phase_cb = Option<unsafe extern "C" fn(handle: *mut uv_handle_t)>;
pub type uv_connection_cb = Option<unsafe extern "C" fn(server: *mut uv_stream_t, status: c_int)>;
pub type uv_connect_cb = Option<unsafe extern "C" fn(req: *mut uv_req_t, status: c_int)>;
pub type uv_alloc_cb =
    Option<unsafe extern "C" fn(handle: *mut uv_handle_t, suggested: usize, buf: *mut uv_buf_t)>;
pub type uv_read_cb =
    Option<unsafe extern "C" fn(stream: *mut uv_stream_t, nread: isize, buf: *const uv_buf_t)>;
pub type uv_write_cb = Option<unsafe extern "C" fn(req: *mut uv_req_t, status: c_int)>;
pub type uv_work_cb = Option<unsafe extern "C" fn(req: *mut uv_req_t)>;
pub type uv_after_work_cb = Option<unsafe extern "C" fn(req: *mut uv_req_t, status: c_int)>;

#[link(name = "uv")]
extern "C" {
    pub fn uv_handle_size(kind: c_int) -> usize;
    pub fn uv_req_size(kind: c_int) -> usize;
    pub fn uv_handle_get_data(handle: *const uv_handle_t) -> *mut c_void;
    pub fn uv_handle_set_data(handle: *mut uv_handle_t, data: *mut c_void);
    pub fn uv_req_get_data(req: *const uv_req_t) -> *mut c_void;
    pub fn uv_req_set_data(req: *mut uv_req_t, data: *mut c_void);
    pub fn uv_close(handle: *mut uv_handle_t, cb: uv_close_cb);
    pub fn uv_is_closing(handle: *const uv_handle_t) -> c_int;
    pub fn uv_now(loop_: *const uv_loop_t) -> u64;
    pub fn uv_strerror(err: c_int) -> *const c_char;

    pub fn uv_timer_init(loop_: *mut uv_loop_t, handle: *mut uv_handle_t) -> c_int;
    pub fn uv_timer_start(
        handle: *mut uv_handle_t,
        cb: uv_timer_cb,
        timeout: u64,
        repeat: u64,
    ) -> c_int;
    pub fn uv_timer_stop(handle: *mut uv_handle_t) -> c_int;

    pub fn uv_prepare_init(loop_: *mut uv_loop_t, handle: *mut uv_handle_t) -> c_int;
    pub fn uv_prepare_start(handle: *mut uv_handle_t, cb: uv_phase_cb) -> c_int;
    pub fn uv_prepare_stop(handle: *mut uv_handle_t) -> c_int;
    pub fn uv_check_init(loop_: *mut uv_loop_t, handle: *mut uv_handle_t) -> c_int;
    pub fn uv_check_start(handle: *mut uv_handle_t, cb: uv_phase_cb) -> c_int;
    pub fn uv_check_stop(handle: *mut uv_handle_t) -> c_int;

    pub fn uv_poll_init(loop_: *mut uv_loop_t, handle: *mut uv_handle_t, fd: c_int) -> c_int;
    pub fn uv_poll_start(handle: *mut uv_handle_t, events: c_int, cb: uv_poll_cb) -> c_int;
    pub fn uv_poll_stop(handle: *mut uv_handle_t) -> c_int;

    pub fn uv_tcp_init(loop_: *mut uv_loop_t, handle: *mut uv_handle_t) -> c_int;
    pub fn uv_tcp_nodelay(handle: *mut uv_handle_t, enable: c_int) -> c_int;
    pub fn uv_tcp_bind(
        handle: *mut uv_handle_t,
        addr: *const libc::sockaddr,
        flags: c_uint,
    ) -> c_int;
    pub fn uv_tcp_connect(
        req: *mut uv_req_t,
        handle: *mut uv_handle_t,
        addr: *const libc::sockaddr,
        cb: uv_connect_cb,
    ) -> c_int;
    pub fn uv_ip4_addr(ip: *const c_char, port: c_int, addr: *mut libc::sockaddr_in) -> c_int;

    pub fn uv_listen(stream: *mut uv_stream_t, backlog: c_int, cb: uv_connection_cb) -> c_int;
    pub fn uv_accept(server: *mut uv_stream_t, client: *mut uv_stream_t) -> c_int;
    pub fn uv_read_start(stream: *mut uv_stream_t, alloc: uv_alloc_cb, read: uv_read_cb) -> c_int;
    pub fn uv_read_stop(stream: *mut uv_stream_t) -> c_int;
    pub fn uv_write(
        req: *mut uv_req_t,
        stream: *mut uv_stream_t,
        bufs: *const uv_buf_t,
        nbufs: c_uint,
        cb: uv_write_cb,
    ) -> c_int;

    pub fn uv_queue_work(
        loop_: *mut uv_loop_t,
        req: *mut uv_req_t,
        work: uv_work_cb,
        after: uv_after_work_cb,
    ) -> c_int;
}

/// The text libuv gives for error `err`.
pub fn strerror(err: c_int) -> String {
    // SAFETY: uv_strerror returns a static NUL-terminated string for any code (a generic one
    // for unknown codes).
    unsafe { std::ffi::CStr::from_ptr(uv_strerror(err)) }.to_string_lossy().into_owned()
}

/// A zeroed handle of `kind` from the raft heap (freed with `heap::free`), or NULL.
pub fn alloc_handle(kind: c_int) -> *mut uv_handle_t {
    // SAFETY: uv_handle_size has no precondition.
    let size = unsafe { uv_handle_size(kind) };
    super::super::heap::calloc(1, size) as *mut uv_handle_t
}

/// A zeroed request of `kind` from the raft heap (freed with `heap::free`), or NULL.
pub fn alloc_req(kind: c_int) -> *mut uv_req_t {
    // SAFETY: uv_req_size has no precondition.
    let size = unsafe { uv_req_size(kind) };
    super::super::heap::calloc(1, size) as *mut uv_req_t
}

/// Close callback of handles allocated by [`alloc_handle`] that nothing waits for.
pub unsafe extern "C" fn free_on_close(handle: *mut uv_handle_t) {
    super::super::heap::free(handle as *mut c_void);
}
