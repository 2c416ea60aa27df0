//! raft_uv's appends through io_uring (issue 14): an append that fits in the open segment is
//! written by the kernel, submitted from the loop thread (one write with `RWF_DSYNC`, durable
//! when it completes; whole blocks through an `O_DIRECT` descriptor where the file system
//! allows it, as storage/planned_append.rs prepares them), and its completion is signalled
//! through an eventfd that a `uv_poll_t` watches on the host's loop. That saves the thread
//! pool's hand-offs per append (BENCHMARKS.md). Everything else (a new segment, truncations, snapshots), and
//! every append where io_uring is unavailable (an old kernel, a container that forbids it,
//! `LIBRAFT_RS_UV_URING=0`), still goes through the thread pool. One write is out at a time,
//! as there.

use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::{opcode, types, IoUring};

use super::super::classic_types::{raft_io_append, raft_io_append_cb};
use super::super::heap;
use super::sys::{self, uv_handle_t, uv_loop_t};
use crate::codec::Entry;
use crate::storage::PlannedAppend;

/// Set to `0` to keep every append on libuv's thread pool.
const ENV_SWITCH: &str = "LIBRAFT_RS_UV_URING";

/// An append being written through the ring.
pub struct RingAppend {
    pub planned: PlannedAppend,
    /// The entries written, kept for a retry of a failed write (`raft_uv_set_disk_retry`).
    pub entries: Vec<Entry>,
    /// Bytes of `planned.bytes()` written so far (a buffered write may be short).
    pub written: usize,
    pub reqs: Vec<(*mut raft_io_append, raft_io_append_cb)>,
}

/// The ring, its eventfd and the poll handle that watches it.
pub struct Ring {
    ring: IoUring,
    eventfd: OwnedFd,
    /// Owned by libuv from `uv_poll_init` until its close callback frees it.
    pub poll: *mut uv_handle_t,
    pub pending: Option<RingAppend>,
}

impl Ring {
    /// A ring whose completions call `on_ready` on `loop_` (the poll handle's data is `data`),
    /// or None when io_uring cannot be used here.
    pub fn new(
        loop_: *mut uv_loop_t,
        data: *mut c_void,
        on_ready: sys::uv_poll_cb,
    ) -> Option<Box<Ring>> {
        if std::env::var(ENV_SWITCH).is_ok_and(|v| v == "0") {
            return None;
        }
        let ring = IoUring::new(4).ok()?;
        // SAFETY: eventfd has no memory preconditions; a non-negative result is a new fd that
        // nothing else owns.
        let eventfd = unsafe {
            let fd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
            if fd < 0 {
                return None;
            }
            OwnedFd::from_raw_fd(fd)
        };
        ring.submitter().register_eventfd(eventfd.as_raw_fd()).ok()?;
        let poll = sys::alloc_handle(sys::UV_POLL);
        if poll.is_null() {
            return None;
        }
        // SAFETY: a fresh zeroed handle of libuv's size for a poll handle, on the host's loop;
        // the fd outlives the handle (the ring is dropped after the handle is closed).
        if unsafe { sys::uv_poll_init(loop_, poll, eventfd.as_raw_fd()) } != 0 {
            heap::free(poll as *mut c_void);
            return None;
        }
        // SAFETY: an initialised poll handle; `data` outlives it (see `new`'s caller).
        let started = unsafe {
            sys::uv_handle_set_data(poll, data);
            sys::uv_poll_start(poll, sys::UV_READABLE, on_ready) == 0
        };
        if !started {
            // SAFETY: initialised: closed through libuv, whose close callback frees it.
            unsafe { sys::uv_close(poll, Some(sys::free_on_close)) };
            return None;
        }
        Some(Box::new(Ring { ring, eventfd, poll, pending: None }))
    }

    /// Submits the write of what is left of the pending append. Returns the errno on failure.
    pub fn submit(&mut self) -> Result<(), c_int> {
        let Some(p) = &self.pending else {
            return Ok(());
        };
        let rest = &p.planned.bytes()[p.written..];
        let write = opcode::Write::new(types::Fd(p.planned.fd), rest.as_ptr(), rest.len() as u32)
            .offset(p.planned.offset + p.written as u64)
            .rw_flags(libc::RWF_DSYNC)
            .build();
        // SAFETY: the buffer is `pending`'s, which stays put (in its Box) until this write
        // completes: the pending append is taken only in `reap`'s caller after completion,
        // and the ring is dropped only after the instance closed with nothing in flight.
        let pushed = unsafe { self.ring.submission().push(&write) };
        if pushed.is_err() {
            return Err(libc::EBUSY);
        }
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// The result of the write submitted last, if it completed: bytes written or `-errno`.
    pub fn reap(&mut self) -> Option<i32> {
        let mut counter = [0u8; 8];
        // SAFETY: reading 8 bytes into a local buffer from our eventfd (non-blocking).
        let _ = unsafe { libc::read(self.eventfd.as_raw_fd(), counter.as_mut_ptr().cast(), 8) };
        self.ring.completion().next().map(|cqe| cqe.result())
    }
}
