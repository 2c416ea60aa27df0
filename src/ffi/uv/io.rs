//! The `raft_io` methods of `raft_uv`: the instance ([`UvIo`], in `io->impl`), its life cycle,
//! and the disk side. Disk writes run one at a time, in order, against the safe [`Log`] of
//! `src/storage`: an append that fits in the open segment through io_uring where the kernel
//! allows it (`ring.rs`), everything else on libuv's thread pool (`uv_queue_work`). Appends
//! that arrive while a write is in flight are merged into one batch (one durable write). Term
//! and vote are written on the loop thread (32 bytes and an `fdatasync`, as C-Raft does).

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::PathBuf;
use std::ptr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::super::boundary::{self, guard, write_errmsg, Failure};
use super::super::classic_types::*;
use super::super::configuration as conf_ffi;
use super::super::entries;
use super::super::heap;
use super::super::tracer::HostTracer;
use super::super::types::*;
use super::abi::{raft_uv_transport, RAFT_UV_TRACER_WRITE_COMPLETE, RAFT_UV_TRACER_WRITE_SUBMIT};
use super::net::{self, Client, Server};
use super::ring::{Ring, RingAppend};
use super::sys::{self, uv_handle_t, uv_loop_t, uv_req_t};
use crate::codec::Entry;
use crate::core::{self, trace::LEVEL_WARN};
use crate::storage::{self, Detached, Log, MetadataFiles, SnapshotHeader, StoredSnapshot};
use crate::vocab::Configuration;

/// Longest data directory path accepted (C-Raft's limit).
const MAX_DIR_LEN: usize = 1023;

/// A disk operation waiting for, or running on, the thread pool.
pub(super) enum Job {
    /// Entries appended by one or more `append` requests, written as one batch.
    Append {
        entries: Vec<Entry>,
        reqs: Vec<(*mut raft_io_append, raft_io_append_cb)>,
    },
    Truncate(raft_index),
    PutSnapshot {
        snapshot: StoredSnapshot,
        trailing: u64,
        timestamp: u64,
        req: *mut raft_io_snapshot_put,
        cb: raft_io_snapshot_put_cb,
    },
    GetSnapshot {
        req: *mut raft_io_snapshot_get,
        cb: raft_io_snapshot_get_cb,
    },
    /// A chunk of a snapshot being received (stream.rs); the last one finishes it.
    StoreChunk {
        term: raft_term,
        index: raft_index,
        offset: u64,
        data: Vec<u8>,
        last: Option<(SnapshotHeader, u64)>,
        done: ChunkDone,
    },
    /// A chunk of a stored snapshot, to send (stream.rs); with `last`, the snapshot's
    /// configuration too.
    ReadChunk {
        index: raft_index,
        offset: u64,
        len: u64,
        last: bool,
        done: ChunkDone,
    },
    /// A `PutSnapshot` keeping trailing entries, run beside appends (storage's
    /// beside_appends.rs): the segment detached from the log is closed, then the snapshot
    /// written, while appends go on into the next segment.
    PutSnapshotBeside {
        detached: Option<Detached>,
        header: SnapshotHeader,
        /// The caller's snapshot, whose buffers are written from where they are: valid until
        /// the callback (raft_io's contract for `snapshot_put`, as in C-Raft).
        snapshot: *const raft_snapshot,
        trailing: u64,
        timestamp: u64,
        req: *mut raft_io_snapshot_put,
        cb: raft_io_snapshot_put_cb,
    },
    /// The next open segment made ahead of need, beside appends.
    PrepareSpare,
}

/// What a chunk job produced: the bytes read (a stored stream's whole data after its last
/// chunk, nothing after another) and, for the last chunk to send, the snapshot's
/// configuration and its index.
#[derive(Default)]
pub struct Chunk {
    pub data: Bytes,
    pub conf: Option<(Configuration, raft_index)>,
}

/// The completion of a chunk job, on the loop thread.
pub type ChunkDone = Box<dyn FnOnce(Result<Chunk, Failure>)>;

impl Job {
    /// What the job does, for messages.
    fn what(&self) -> &'static str {
        match self {
            Job::Append { .. } => "append",
            Job::Truncate(_) => "truncate",
            Job::PutSnapshot { .. } => "snapshot put",
            Job::GetSnapshot { .. } => "snapshot get",
            Job::StoreChunk { .. } => "storing a snapshot chunk",
            Job::ReadChunk { .. } => "reading a snapshot chunk",
            Job::PutSnapshotBeside { .. } => "snapshot put",
            Job::PrepareSpare => "preparing a segment",
        }
    }

    /// Whether the job runs beside appends (see `in_flight_beside`).
    fn runs_beside_appends(&self) -> bool {
        matches!(self, Job::PutSnapshotBeside { .. } | Job::PrepareSpare)
    }
}

/// What a job produced on the thread pool.
enum Output {
    Done,
    Snapshot(Option<StoredSnapshot>),
    Chunk(Chunk),
}

/// A job in flight: owned by its `uv_work_t` (`data`) from submission to the after-work
/// callback.
struct Work {
    uv: *mut UvIo,
    log: Arc<Mutex<Log>>,
    job: Job,
    result: Option<storage::Result<Output>>,
}

/// The state of one `raft_uv` instance.
pub struct UvIo {
    pub io: *mut raft_io,
    pub r#loop: *mut uv_loop_t,
    pub transport: *mut raft_uv_transport,
    dir: PathBuf,
    pub id: raft_id,
    pub address: CString,
    /// Milliseconds between connection attempts to a peer.
    pub retry_delay: u64,
    metadata: Option<MetadataFiles>,
    log: Arc<Mutex<Log>>,
    queue: VecDeque<Job>,
    in_flight: bool,
    /// A job beside appends is out (a snapshot put keeping trailing entries, or a spare segment
    /// being made): appends that fit in the open segment still go, nothing that closes one.
    in_flight_beside: bool,
    /// Whether spare segments are made ahead of need: from the first snapshot put keeping
    /// trailing entries on, as each such put takes the spare.
    spares_wanted: bool,
    /// Payload bytes past which waiting appends are no longer merged into one batch (the
    /// segment size: a batch never spans segments).
    batch_limit: u64,
    /// The failure of a truncation: every later append fails with it.
    broken: Option<(c_int, String)>,
    pub tick: raft_io_tick_cb,
    pub recv: raft_io_recv_cb,
    timer: *mut uv_handle_t,
    /// Completions that must not fire inside the method that caused them, fired by `defer`.
    defer: *mut uv_handle_t,
    /// A prepare and a check handle, started while appends or messages wait to go out: see
    /// [`schedule_flush`].
    prepare: *mut uv_handle_t,
    check: *mut uv_handle_t,
    flush_scheduled: bool,
    pub deferred: Vec<Box<dyn FnOnce()>>,
    pub clients: Vec<*mut Client>,
    pub servers: Vec<*mut Server>,
    transport_inited: bool,
    transport_open: bool,
    pub closing: bool,
    /// Inside `io->close`: the close must not complete before it returns.
    in_close_call: bool,
    close_cb: raft_io_close_cb,
    /// Handles of this instance whose close callback has not run yet.
    pub open_handles: usize,
    rng: u64,
    /// Appends through io_uring (`ring.rs`), where the kernel allows it.
    ring: Option<Box<Ring>>,
    /// The host's tracer (`raft_uv_set_tracer`), NULL for none, and the text of its messages.
    tracer: *mut raft_tracer,
    trace_text: String,
    /// Milliseconds after which a failed append is tried again (`raft_uv_set_disk_retry`);
    /// None (the default): a failed append completes with its error at once.
    disk_retry: Option<u64>,
    /// The timer of that retry, and the append waiting for it (counted in flight meanwhile).
    retry_timer: *mut uv_handle_t,
    retrying: Option<Job>,
}

/// The instance of `io`, if `io` was set up by `raft_uv_init`.
///
/// # Safety
/// `io` must be NULL or a `raft_io` initialised by `raft_uv_init` and not released.
pub unsafe fn instance<'a>(io: *mut raft_io) -> Option<&'a mut UvIo> {
    // SAFETY: per the caller, `impl` is NULL or our Box.
    unsafe { io.as_ref().and_then(|io| (io.r#impl as *mut UvIo).as_mut()) }
}

/// Runs `body` on the instance of `io` (nothing for NULL), inside the panic boundary.
pub fn with_uv(io: *mut raft_io, body: impl FnOnce(&mut UvIo)) {
    guard(|| {
        // SAFETY: the setters' contract: `io` comes from raft_uv_init.
        if let Some(uv) = unsafe { instance(io) } {
            body(uv)
        }
    })
}

impl UvIo {
    pub fn set_auto_recovery(&mut self, on: bool) {
        if let Ok(mut log) = self.log.lock() {
            log.set_auto_recovery(on);
        }
    }

    pub fn set_block_size(&mut self, size: u64) {
        if let Ok(mut log) = self.log.lock() {
            log.set_block_size(size);
        }
    }

    pub fn set_segment_size(&mut self, size: u64) {
        self.batch_limit = size;
        if let Ok(mut log) = self.log.lock() {
            log.set_segment_size(size);
        }
    }

    /// Reports a failure: its message in `io->errmsg`, its code returned.
    pub fn fail(&self, failure: Failure) -> c_int {
        // SAFETY: `io` is the live raft_io of this instance; errmsg has the documented size.
        unsafe { write_errmsg((*self.io).errmsg.as_mut_ptr(), &failure.message) };
        failure.code
    }

    pub fn set_disk_retry(&mut self, msecs: u64) {
        self.disk_retry = Some(msecs);
    }

    /// Keeps a failed append to try it again after the disk-retry delay, if one is set and
    /// nothing else is in flight (the append keeps its place: nothing after it runs first).
    /// Returns the job back when it is not kept.
    fn keep_for_retry(&mut self, job: Job, failure: &Failure) -> Option<Job> {
        let Some(msecs) = self.disk_retry else { return Some(job) };
        if !matches!(job, Job::Append { .. })
            || failure.code == RAFT_CANCELED
            || self.closing
            || self.in_flight
        {
            return Some(job);
        }
        self.trace_failure("append (to be tried again)", failure);
        self.retrying = Some(job);
        self.in_flight = true;
        // SAFETY: the retry timer lives as long as the instance (closed with it).
        unsafe { sys::uv_timer_start(self.retry_timer, Some(on_retry), msecs, 0) };
        None
    }

    pub fn set_tracer(&mut self, tracer: *mut raft_tracer) {
        self.tracer = tracer;
    }

    /// Tells the host's tracer of a disk write (`RAFT_UV_TRACER_WRITE_SUBMIT` or `_COMPLETE`,
    /// with no info, as C-Raft).
    fn trace_write(&mut self, kind: c_int) {
        // SAFETY: the tracer given to raft_uv_set_tracer must outlive the instance (uv.h).
        if let Some(t) = unsafe { HostTracer::new(self.tracer, ptr::null(), &mut self.trace_text) }
        {
            t.event(kind);
        }
    }

    /// Tells the host's tracer why a disk operation failed (a diagnostic at level 2).
    fn trace_failure(&mut self, what: &str, failure: &Failure) {
        // SAFETY: as in `trace_write`.
        if let Some(mut t) =
            unsafe { HostTracer::new(self.tracer, ptr::null(), &mut self.trace_text) }
        {
            let message = format_args!("{what} failed: {}", failure.message);
            core::Tracer::trace(&mut t, LEVEL_WARN, file!(), line!(), message);
        }
    }

    /// Queues a completion to fire from the loop soon, outside the current method.
    pub fn later(&mut self, f: Box<dyn FnOnce()>) {
        self.deferred.push(f);
        // SAFETY: the defer timer lives as long as the instance (closed last).
        unsafe { sys::uv_timer_start(self.defer, Some(run_deferred), 0, 0) };
    }
}

/// The code of a storage failure.
pub fn storage_code(e: &storage::Error) -> c_int {
    match e.kind {
        storage::ErrorKind::NoSpace => RAFT_NOSPACE,
        storage::ErrorKind::Io => RAFT_IOERR,
        storage::ErrorKind::Corrupt => RAFT_CORRUPT,
        storage::ErrorKind::Malformed => RAFT_MALFORMED,
        storage::ErrorKind::CantBootstrap => RAFT_CANTBOOTSTRAP,
        storage::ErrorKind::Invalid => RAFT_INVALID,
    }
}

fn storage_failure(e: storage::Error) -> Failure {
    Failure::new(storage_code(&e), e.message)
}

/// `raft_uv_init`.
pub fn init(
    io: *mut raft_io,
    r#loop: *mut uv_loop_t,
    dir: *const c_char,
    transport: *mut raft_uv_transport,
) -> c_int {
    guard(|| {
        if io.is_null() {
            return RAFT_INVALID;
        }
        // SAFETY: the caller's live raft_io; the other pointers are checked below.
        unsafe {
            let errmsg = (*io).errmsg.as_mut_ptr();
            match setup(io, r#loop, dir, transport) {
                Ok(()) => 0,
                Err(f) => {
                    write_errmsg(errmsg, &f.message);
                    f.code
                }
            }
        }
    })
}

unsafe fn setup(
    io: *mut raft_io,
    r#loop: *mut uv_loop_t,
    dir: *const c_char,
    transport: *mut raft_uv_transport,
) -> Result<(), Failure> {
    // As C-Raft: everything but `data` (the program's, or the instance's once raft_init ran)
    // starts from zero.
    // SAFETY: the caller's raft_io; all-zero is a valid raft_io (NULL methods).
    unsafe {
        let data = (*io).data;
        ptr::write_bytes(io, 0, 1);
        (*io).data = data;
    }
    if r#loop.is_null() || transport.is_null() {
        return Err(Failure::invalid("loop and transport must not be NULL"));
    }
    // SAFETY: the caller's NUL-terminated string.
    let dir = unsafe { boundary::text(dir, "dir") }?;
    if dir.len() > MAX_DIR_LEN {
        return Err(Failure::new(RAFT_NAMETOOLONG, format!("directory path too long: {dir}")));
    }
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(RAFT_NOTFOUND, format!("directory {dir} does not exist")))
        }
        Err(e) => return Err(Failure::new(RAFT_IOERR, format!("stat {dir}: {e}"))),
        Ok(m) if !m.is_dir() => return Err(Failure::invalid(format!("{dir} is not a directory"))),
        Ok(_) => {}
    }
    // SAFETY: checked non-NULL; the caller's transport.
    if unsafe { (*transport).version } == 0 {
        return Err(Failure::invalid("transport->version must be set"));
    }
    let timer = sys::alloc_handle(sys::UV_TIMER);
    let defer = sys::alloc_handle(sys::UV_TIMER);
    let retry_timer = sys::alloc_handle(sys::UV_TIMER);
    let prepare = sys::alloc_handle(sys::UV_PREPARE);
    let check = sys::alloc_handle(sys::UV_CHECK);
    if [timer, defer, retry_timer, prepare, check].iter().any(|h| h.is_null()) {
        for h in [timer, defer, retry_timer, prepare, check] {
            heap::free(h as *mut c_void);
        }
        return Err(Failure::nomem());
    }
    let dir = PathBuf::from(dir);
    let uv = Box::into_raw(Box::new(UvIo {
        io,
        r#loop,
        transport,
        log: Arc::new(Mutex::new(Log::new(&dir))),
        dir,
        id: 0,
        address: CString::default(),
        retry_delay: 1000,
        metadata: None,
        queue: VecDeque::new(),
        in_flight: false,
        in_flight_beside: false,
        spares_wanted: false,
        batch_limit: 8 * 1024 * 1024,
        broken: None,
        tick: None,
        recv: None,
        timer,
        defer,
        prepare,
        check,
        flush_scheduled: false,
        deferred: Vec::new(),
        clients: Vec::new(),
        servers: Vec::new(),
        transport_inited: false,
        transport_open: false,
        closing: false,
        in_close_call: false,
        close_cb: None,
        open_handles: 5,
        rng: seed(),
        ring: None,
        tracer: ptr::null_mut(),
        trace_text: String::new(),
        disk_retry: None,
        retry_timer,
        retrying: None,
    }));
    // SAFETY: fresh handles on the host's loop; `uv` outlives them (released after close).
    unsafe {
        sys::uv_timer_init(r#loop, timer);
        sys::uv_timer_init(r#loop, defer);
        sys::uv_timer_init(r#loop, retry_timer);
        sys::uv_prepare_init(r#loop, prepare);
        sys::uv_check_init(r#loop, check);
        for h in [timer, defer, retry_timer, prepare, check] {
            sys::uv_handle_set_data(h, uv as *mut c_void);
        }
        (*uv).ring = Ring::new(r#loop, uv as *mut c_void, Some(on_ring_ready));
        if (*uv).ring.is_some() {
            (*uv).open_handles += 1;
        }
        (*transport).data = uv as *mut c_void;
        let io = &mut *io;
        io.version = 2;
        io.r#impl = uv as *mut c_void;
        io.init = Some(io_init);
        io.close = Some(io_close);
        io.load = Some(io_load);
        io.start = Some(io_start);
        io.bootstrap = Some(io_bootstrap);
        io.recover = Some(io_recover);
        io.set_term = Some(io_set_term);
        io.set_vote = Some(io_set_vote);
        io.send = Some(net::io_send);
        io.append = Some(io_append);
        io.truncate = Some(io_truncate);
        io.snapshot_put = Some(io_snapshot_put);
        io.snapshot_get = Some(io_snapshot_get);
        io.time = Some(io_time);
        io.random = Some(io_random);
    }
    Ok(())
}

/// A seed for `random` that differs between processes and instances.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let here = &nanos as *const u64 as u64;
    (nanos ^ (u64::from(std::process::id()) << 32) ^ here.rotate_left(17)) | 1
}

/// `raft_uv_close`.
pub fn release(io: *mut raft_io) {
    guard(|| {
        if io.is_null() {
            return;
        }
        // SAFETY: the caller's raft_io; `impl` is our Box (or NULL after a first release).
        unsafe {
            let uv = (*io).r#impl as *mut UvIo;
            if uv.is_null() {
                return;
            }
            (*io).r#impl = ptr::null_mut();
            if !(*uv).transport.is_null() && (*(*uv).transport).data == uv as *mut c_void {
                (*(*uv).transport).data = ptr::null_mut();
            }
            if (*uv).open_handles > 0 && !(*uv).closing {
                // Never started nor closed: the timers were never started either, so closing
                // them now and freeing them in their callbacks is enough.
                let u = &mut *uv;
                for h in [u.timer, u.defer, u.retry_timer, u.prepare, u.check] {
                    sys::uv_handle_set_data(h, ptr::null_mut());
                    sys::uv_close(h, Some(sys::free_on_close));
                }
                // The poll handle of io_uring's eventfd, watched since raft_uv_init: stopped
                // before the eventfd closes with the instance below.
                if let Some(ring) = u.ring.as_mut().filter(|r| !r.poll.is_null()) {
                    sys::uv_handle_set_data(ring.poll, ptr::null_mut());
                    sys::uv_poll_stop(ring.poll);
                    sys::uv_close(ring.poll, Some(sys::free_on_close));
                    ring.poll = ptr::null_mut();
                }
            }
            drop(Box::from_raw(uv));
        }
    })
}

/// Runs `body` on the instance behind a `raft_io` method, reporting failures through
/// `io->errmsg`.
unsafe fn method(io: *mut raft_io, body: impl FnOnce(&mut UvIo) -> Result<(), Failure>) -> c_int {
    guard(|| {
        // SAFETY: methods are only installed by raft_uv_init on its own raft_io.
        let Some(uv) = (unsafe { instance(io) }) else {
            return RAFT_INVALID;
        };
        match body(uv) {
            Ok(()) => 0,
            Err(f) => uv.fail(f),
        }
    })
}

unsafe extern "C" fn io_init(io: *mut raft_io, id: raft_id, address: *const c_char) -> c_int {
    // SAFETY: see `method`.
    unsafe {
        method(io, |uv| {
            let text = boundary::text(address, "address")?;
            uv.id = id;
            uv.address = CString::new(text).map_err(|_| Failure::invalid("address"))?;
            let dir = uv.dir.clone();
            uv.metadata = Some(MetadataFiles::load(&dir).map_err(storage_failure)?);
            let t = uv.transport;
            let rv = ((*t).init.ok_or_else(|| Failure::invalid("transport->init is NULL"))?)(
                t,
                id,
                uv.address.as_ptr(),
            );
            if rv != 0 {
                let message = CStr::from_ptr((*t).errmsg.as_ptr()).to_string_lossy().into_owned();
                return Err(Failure::new(rv, format!("transport init: {message}")));
            }
            uv.transport_inited = true;
            Ok(())
        })
    }
}

fn metadata(uv: &mut UvIo) -> Result<&mut MetadataFiles, Failure> {
    if uv.metadata.is_none() {
        uv.metadata = Some(MetadataFiles::load(&uv.dir).map_err(storage_failure)?);
    }
    uv.metadata.as_mut().ok_or_else(|| Failure::invalid("metadata"))
}

fn log_guard(uv: &UvIo) -> Result<std::sync::MutexGuard<'_, Log>, Failure> {
    if uv.in_flight || uv.in_flight_beside {
        return Err(Failure::new(RAFT_BUSY, "a disk write is in flight"));
    }
    uv.log.lock().map_err(|_| Failure::new(RAFT_IOERR, "the log was poisoned by a panic"))
}

unsafe extern "C" fn io_load(
    io: *mut raft_io,
    term: *mut raft_term,
    voted_for: *mut raft_id,
    snapshot: *mut *mut raft_snapshot,
    start_index: *mut raft_index,
    entries_out: *mut *mut raft_entry,
    n_entries: *mut usize,
) -> c_int {
    // SAFETY: see `method`; the out-pointers are the library's.
    unsafe {
        method(io, |uv| {
            let m = MetadataFiles::load(&uv.dir).map_err(storage_failure)?;
            let (t, v) = (m.term(), m.voted_for());
            uv.metadata = Some(m);
            let loaded = log_guard(uv)?.load().map_err(storage_failure)?;
            let snap = match &loaded.snapshot {
                Some(s) => snapshot_to_c(s)?,
                None => ptr::null_mut(),
            };
            let (array, n) = match entries::to_c(&loaded.entries) {
                Ok(x) => x,
                Err(f) => {
                    free_snapshot(snap);
                    return Err(f);
                }
            };
            *term = t;
            *voted_for = v;
            *snapshot = snap;
            *start_index = loaded.start_index;
            *entries_out = array;
            *n_entries = n;
            Ok(())
        })
    }
}

unsafe extern "C" fn io_start(
    io: *mut raft_io,
    msecs: c_uint,
    tick: raft_io_tick_cb,
    recv: raft_io_recv_cb,
) -> c_int {
    // SAFETY: see `method`.
    unsafe {
        method(io, |uv| {
            uv.tick = tick;
            uv.recv = recv;
            let ms = u64::from(msecs.max(1));
            sys::uv_timer_start(uv.timer, Some(on_tick), ms, ms);
            let t = uv.transport;
            let listen =
                (*t).listen.ok_or_else(|| Failure::invalid("transport->listen is NULL"))?;
            let rv = listen(t, Some(net::on_accept));
            if rv != 0 {
                sys::uv_timer_stop(uv.timer);
                let message = CStr::from_ptr((*t).errmsg.as_ptr()).to_string_lossy().into_owned();
                return Err(Failure::new(rv, format!("transport listen: {message}")));
            }
            Ok(())
        })
    }
}

unsafe extern "C" fn on_tick(timer: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the tick timer's data is its live instance.
        unsafe {
            let uv = sys::uv_handle_get_data(timer) as *mut UvIo;
            if let Some(uv) = uv.as_mut() {
                if let (false, Some(tick)) = (uv.closing, uv.tick) {
                    tick(uv.io);
                }
            }
        }
    })
}

unsafe extern "C" fn run_deferred(timer: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the defer timer's data is its live instance.
        unsafe {
            let uv = sys::uv_handle_get_data(timer) as *mut UvIo;
            if uv.is_null() {
                return;
            }
            // Completions may queue more: run until none is left.
            loop {
                let batch = std::mem::take(&mut (*uv).deferred);
                if batch.is_empty() {
                    break;
                }
                for f in batch {
                    f();
                }
            }
            maybe_finish_close(uv);
        }
    })
}

unsafe extern "C" fn io_bootstrap(io: *mut raft_io, conf: *const raft_configuration) -> c_int {
    // SAFETY: see `method`; `conf` is the library's.
    unsafe {
        method(io, |uv| {
            let conf = conf_ffi::from_c(boundary::non_null(conf, "configuration")?)?;
            if !metadata(uv)?.is_pristine() {
                return Err(Failure::new(RAFT_CANTBOOTSTRAP, "the server already has a term"));
            }
            log_guard(uv)?.bootstrap(&conf).map_err(storage_failure)?;
            metadata(uv)?.store(1, 0).map_err(storage_failure)
        })
    }
}

unsafe extern "C" fn io_recover(io: *mut raft_io, conf: *const raft_configuration) -> c_int {
    // SAFETY: see `method`; `conf` is the library's.
    unsafe {
        method(io, |uv| {
            let conf = conf_ffi::from_c(boundary::non_null(conf, "configuration")?)?;
            let term = metadata(uv)?.term();
            log_guard(uv)?.recover(&conf, term).map_err(storage_failure)
        })
    }
}

unsafe extern "C" fn io_set_term(io: *mut raft_io, term: raft_term) -> c_int {
    // SAFETY: see `method`.
    unsafe { method(io, |uv| metadata(uv)?.store(term, 0).map_err(storage_failure)) }
}

unsafe extern "C" fn io_set_vote(io: *mut raft_io, id: raft_id) -> c_int {
    // SAFETY: see `method`.
    unsafe {
        method(io, |uv| {
            let m = metadata(uv)?;
            let term = m.term();
            m.store(term, id).map_err(storage_failure)
        })
    }
}

/// The address of this library's `append` method, by which stream.rs recognises a `raft_uv`.
pub(super) fn io_append_address() -> usize {
    let method: AppendMethod = io_append;
    method as usize
}

type AppendMethod = unsafe extern "C" fn(
    *mut raft_io,
    *mut raft_io_append,
    *const raft_entry,
    c_uint,
    raft_io_append_cb,
) -> c_int;

unsafe extern "C" fn io_append(
    io: *mut raft_io,
    req: *mut raft_io_append,
    entries_in: *const raft_entry,
    n: c_uint,
    cb: raft_io_append_cb,
) -> c_int {
    // SAFETY: see `method`; the entries are the library's, valid for the call (copied).
    unsafe {
        method(io, |uv| {
            if uv.closing {
                return Err(Failure::new(RAFT_CANCELED, "closing"));
            }
            if let Some((code, message)) = &uv.broken {
                return Err(Failure::new(*code, message.clone()));
            }
            let given = boundary::slice(entries_in, n as usize, "entries")?;
            if let Some((i, e)) = given.iter().enumerate().find(|(_, e)| e.buf.len % 8 != 0) {
                return Err(Failure::invalid(format!(
                    "entry {i} of the append has {} bytes, not a multiple of 8 (C-Raft's \
                     segments cannot hold it)",
                    e.buf.len
                )));
            }
            let new = entries::from_c(given, "entry")?;
            let limit = uv.batch_limit;
            match uv.queue.back_mut() {
                Some(Job::Append { entries, reqs })
                    if payload_len(entries) + payload_len(&new) <= limit =>
                {
                    entries.extend(new);
                    reqs.push((req, cb));
                }
                _ => {
                    uv.queue.push_back(Job::Append { entries: new, reqs: vec![(req, cb)] });
                }
            }
            schedule_flush(uv);
            Ok(())
        })
    }
}

unsafe extern "C" fn io_truncate(io: *mut raft_io, index: raft_index) -> c_int {
    // SAFETY: see `method`.
    unsafe {
        method(io, |uv| {
            if uv.closing {
                return Err(Failure::new(RAFT_CANCELED, "closing"));
            }
            uv.queue.push_back(Job::Truncate(index));
            submit_next(uv);
            Ok(())
        })
    }
}

unsafe extern "C" fn io_snapshot_put(
    io: *mut raft_io,
    trailing: c_uint,
    req: *mut raft_io_snapshot_put,
    snapshot: *const raft_snapshot,
    cb: raft_io_snapshot_put_cb,
) -> c_int {
    // SAFETY: see `method`; the snapshot is the library's, valid for the call (copied).
    unsafe {
        method(io, |uv| {
            if uv.closing {
                return Err(Failure::new(RAFT_CANCELED, "closing"));
            }
            let given = boundary::non_null(snapshot, "snapshot")?;
            let timestamp = sys::uv_now(uv.r#loop);
            let trailing = u64::from(trailing);
            if trailing > 0 {
                // Written beside appends, from the caller's buffers (checked here).
                snapshot_data(given)?;
                let header = snapshot_header_from_c(given)?;
                let detached = None;
                let job = Job::PutSnapshotBeside {
                    detached,
                    header,
                    snapshot,
                    trailing,
                    timestamp,
                    req,
                    cb,
                };
                uv.queue.push_back(job);
            } else {
                let snapshot = snapshot_from_c(given)?;
                uv.queue.push_back(Job::PutSnapshot { snapshot, trailing, timestamp, req, cb });
            }
            submit_next(uv);
            Ok(())
        })
    }
}

unsafe extern "C" fn io_snapshot_get(
    io: *mut raft_io,
    req: *mut raft_io_snapshot_get,
    cb: raft_io_snapshot_get_cb,
) -> c_int {
    // SAFETY: see `method`.
    unsafe {
        method(io, |uv| {
            if uv.closing {
                return Err(Failure::new(RAFT_CANCELED, "closing"));
            }
            uv.queue.push_back(Job::GetSnapshot { req, cb });
            submit_next(uv);
            Ok(())
        })
    }
}

unsafe extern "C" fn io_time(io: *mut raft_io) -> raft_time {
    // No panic can happen here: two pointer reads and a libuv call.
    // SAFETY: see `method`.
    match unsafe { instance(io) } {
        Some(uv) => unsafe { sys::uv_now(uv.r#loop) },
        None => 0,
    }
}

unsafe extern "C" fn io_random(io: *mut raft_io, min: c_int, max: c_int) -> c_int {
    guard(|| {
        // SAFETY: see `method`.
        let Some(uv) = (unsafe { instance(io) }) else {
            return min;
        };
        if max <= min {
            return min;
        }
        // xorshift64*: enough to spread election timeouts.
        uv.rng ^= uv.rng >> 12;
        uv.rng ^= uv.rng << 25;
        uv.rng ^= uv.rng >> 27;
        let r = uv.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let span = (i64::from(max) - i64::from(min) + 1) as u64;
        (i64::from(min) + (r % span) as i64) as c_int
    })
}

fn payload_len(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.payload.len() as u64).sum()
}

/// Has what waits to go out (queued disk jobs, messages for connected peers) handed to the
/// kernel before the loop next blocks: in the check phase right after the current I/O
/// callbacks, or in the prepare phase if they come from a timer. Everything that a burst of
/// callbacks produces in one loop iteration (many applies read from clients, many
/// AppendEntries read from a leader) then goes as one disk write and one socket write per
/// peer, instead of the first going alone and the rest waiting for it.
pub fn schedule_flush(uv: &mut UvIo) {
    if uv.flush_scheduled || uv.closing {
        // Closing: the queue is canceled and the clients closed by `io_close`.
        return;
    }
    uv.flush_scheduled = true;
    // SAFETY: the instance's own prepare and check handles, open until `io_close`, which sets
    // `closing` first.
    unsafe {
        sys::uv_prepare_start(uv.prepare, Some(on_flush));
        sys::uv_check_start(uv.check, Some(on_flush));
    }
}

unsafe extern "C" fn on_flush(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the prepare and check handles' data is their live instance.
        let Some(uv) = (unsafe { (sys::uv_handle_get_data(handle) as *mut UvIo).as_mut() }) else {
            return;
        };
        uv.flush_scheduled = false;
        // SAFETY: as in `schedule_flush`.
        unsafe {
            sys::uv_prepare_stop(uv.prepare);
            sys::uv_check_stop(uv.check);
        }
        submit_next(uv);
        // SAFETY: the live instance, on the loop thread.
        unsafe { net::flush_clients(uv) };
    })
}

/// Queues a disk job of an extension (stream.rs) behind those already queued.
pub(super) fn queue_job(uv: &mut UvIo, job: Job) -> Result<(), Failure> {
    if uv.closing {
        return Err(Failure::new(RAFT_CANCELED, "closing"));
    }
    uv.queue.push_back(job);
    submit_next(uv);
    Ok(())
}

/// Hands the next queued job to the disk when none is in flight: an append that fits in the
/// open segment to io_uring when there is a ring, everything else to the thread pool; a
/// snapshot put keeping trailing entries goes beside appends. Then, if wanted, the next spare
/// segment is made.
fn submit_next(uv: &mut UvIo) {
    submit_queued(uv);
    prepare_spare_if_wanted(uv);
}

fn submit_queued(uv: &mut UvIo) {
    loop {
        if uv.in_flight || uv.closing {
            return;
        }
        if submit_to_ring(uv) {
            return;
        }
        let Some(job) = uv.queue.front() else {
            return;
        };
        if uv.in_flight_beside && conflicts_with_work_beside_appends(uv, job) {
            // The work beside appends closes a segment too: the closed ones stay in order.
            return;
        }
        if let Job::PutSnapshotBeside { .. } = job {
            start_put_beside_appends(uv);
            continue;
        }
        let Some(job) = uv.queue.pop_front() else {
            return;
        };
        submit_to_pool(uv, job);
        return;
    }
}

/// Whether `job` must wait for the work beside appends: it may close a segment, or read what a
/// snapshot put changes (everything but an append with room in the open segment).
fn conflicts_with_work_beside_appends(uv: &UvIo, job: &Job) -> bool {
    match job {
        Job::Append { entries, .. } => match uv.log.lock() {
            Ok(log) => log.append_closes_segment(entries),
            Err(_) => true,
        },
        _ => true,
    }
}

/// Starts the queued snapshot put (keeping trailing entries) beside appends: the open segment
/// is detached from the log (the spare, if ready, taking its place) and the put goes to the
/// thread pool, while the next appends go on.
fn start_put_beside_appends(uv: &mut UvIo) {
    let Some(mut job) = uv.queue.pop_front() else {
        return;
    };
    if let Job::PutSnapshotBeside { detached, .. } = &mut job {
        *detached = match uv.log.lock() {
            Ok(mut log) => log.detach_open_segment(),
            Err(_) => None, // the put fails on the poisoned log
        };
    }
    uv.spares_wanted = true;
    submit_to_pool(uv, job);
}

/// Makes the next spare segment beside appends, once snapshot puts took one, when nothing else
/// runs beside appends and the log has none.
fn prepare_spare_if_wanted(uv: &mut UvIo) {
    if !uv.spares_wanted || uv.in_flight_beside || uv.closing {
        return;
    }
    if uv.log.lock().map_or(true, |log| log.has_spare()) {
        return;
    }
    submit_to_pool(uv, Job::PrepareSpare);
}

/// Runs `job` on libuv's thread pool, as the job in flight or the one beside appends.
fn submit_to_pool(uv: &mut UvIo, job: Job) {
    let req = sys::alloc_req(sys::UV_WORK);
    let work = Box::new(Work { uv: uv as *mut UvIo, log: uv.log.clone(), job, result: None });
    if req.is_null() {
        finish_job(uv, *work, Some(Failure::nomem()));
        return;
    }
    let is_append = matches!(work.job, Job::Append { .. });
    let beside = work.job.runs_beside_appends();
    let work = Box::into_raw(work);
    // SAFETY: a fresh request; `work` stays alive until after_work frees it.
    let rv = unsafe {
        sys::uv_req_set_data(req, work as *mut c_void);
        sys::uv_queue_work(uv.r#loop, req, Some(work_on_pool), Some(after_work))
    };
    if rv == 0 && is_append {
        uv.trace_write(RAFT_UV_TRACER_WRITE_SUBMIT);
    }
    if rv != 0 {
        heap::free(req as *mut c_void);
        // SAFETY: not submitted: still ours.
        let work = unsafe { Box::from_raw(work) };
        let failure = Failure::new(RAFT_IOERR, format!("uv_queue_work: {}", sys::strerror(rv)));
        // Complete later: we may be inside the method that queued it.
        let uvp = uv as *mut UvIo;
        uv.later(Box::new(move || {
            // SAFETY: deferred completions run while the instance lives.
            finish_job(unsafe { &mut *uvp }, *work, Some(failure));
        }));
        return;
    }
    if beside {
        uv.in_flight_beside = true;
    } else {
        uv.in_flight = true;
    }
}

/// Submits the next job through io_uring if it is an append that fits in the open segment.
/// Returns whether the job was taken (submitted, or failed and completed later).
fn submit_to_ring(uv: &mut UvIo) -> bool {
    let (Some(_), Some(Job::Append { entries, .. })) = (&uv.ring, uv.queue.front()) else {
        return false;
    };
    let planned = match uv.log.lock() {
        Ok(mut log) => {
            // After a snapshot put detached the open segment, the spare takes its place.
            log.open_spare();
            log.plan_append(entries)
        }
        Err(_) => return false,
    };
    let planned = match planned {
        Ok(Some(planned)) => Ok(planned),
        Ok(None) => return false,
        Err(e) => Err(storage_failure(e)),
    };
    let Some(Job::Append { entries, reqs }) = uv.queue.pop_front() else {
        return false;
    };
    let mut kept = Some((entries, reqs));
    let submitted = planned.and_then(|planned| {
        let Some(ring) = uv.ring.as_mut() else {
            return Err(Failure::new(RAFT_IOERR, "no ring"));
        };
        let segment = planned.segment.clone();
        let (entries, reqs) = kept.take().expect("taken once");
        ring.pending = Some(RingAppend { planned, entries, written: 0, reqs });
        ring.submit().map_err(|errno| {
            if let Some(p) = ring.pending.take() {
                kept = Some((p.entries, p.reqs));
            }
            append_failure(&segment, errno)
        })
    });
    match submitted {
        Ok(()) => {
            uv.in_flight = true;
            uv.trace_write(RAFT_UV_TRACER_WRITE_SUBMIT);
        }
        Err(failure) => {
            let (entries, reqs) = kept.take().unwrap_or_default();
            // Complete later: we may be inside the method that queued the append.
            let uvp = uv as *mut UvIo;
            let work = Work {
                uv: uvp,
                log: uv.log.clone(),
                job: Job::Append { entries, reqs },
                result: None,
            };
            uv.later(Box::new(move || {
                // SAFETY: deferred completions run while the instance lives.
                finish_job(unsafe { &mut *uvp }, work, Some(failure));
            }));
        }
    }
    true
}

/// The failure of an append to `segment` that the kernel refused with `errno`.
fn append_failure(segment: &str, errno: c_int) -> Failure {
    let text = std::io::Error::from_raw_os_error(errno);
    let code =
        if errno == libc::ENOSPC || errno == libc::EDQUOT { RAFT_NOSPACE } else { RAFT_IOERR };
    Failure::new(code, format!("append to {segment}: {text}"))
}

/// The ring's eventfd is readable: the append written through io_uring completed (or wrote
/// part of its batch, and the rest is submitted).
unsafe extern "C" fn on_ring_ready(handle: *mut uv_handle_t, _status: c_int, _events: c_int) {
    guard(|| {
        // SAFETY: the poll handle's data is its live instance (closed before it is released).
        let Some(uv) = (unsafe { (sys::uv_handle_get_data(handle) as *mut UvIo).as_mut() }) else {
            return;
        };
        let Some(ring) = uv.ring.as_mut() else {
            return;
        };
        let Some(result) = ring.reap() else {
            return;
        };
        let Some(pending) = ring.pending.as_mut() else {
            return;
        };
        let segment = pending.planned.segment.clone();
        let outcome = if result < 0 {
            Err(append_failure(&segment, -result))
        } else if result == 0 {
            Err(append_failure(&segment, libc::EIO))
        } else {
            pending.written += result as usize;
            if pending.written < pending.planned.bytes().len() && pending.planned.direct {
                // A direct write covers whole blocks: a short one cannot go on where it stopped.
                Err(append_failure(&segment, libc::EIO))
            } else if pending.written < pending.planned.bytes().len() {
                // A short write: the rest goes at once, from where it stopped.
                match ring.submit() {
                    Ok(()) => return,
                    Err(errno) => Err(append_failure(&segment, errno)),
                }
            } else {
                Ok(())
            }
        };
        let Some(done) = ring.pending.take() else {
            return;
        };
        let outcome = outcome.and_then(|()| match uv.log.lock() {
            Ok(mut log) => log.complete_append(&done.planned).map_err(storage_failure),
            Err(_) => Err(Failure::new(RAFT_IOERR, "log poisoned")),
        });
        uv.in_flight = false;
        uv.trace_write(RAFT_UV_TRACER_WRITE_COMPLETE);
        let work = Work {
            uv: uv as *mut UvIo,
            log: uv.log.clone(),
            job: Job::Append { entries: done.entries, reqs: done.reqs },
            result: Some(Ok(Output::Done)),
        };
        finish_job(uv, work, outcome.err());
        if uv.closing {
            close_ring(uv);
        }
        schedule_flush(uv);
        maybe_finish_close(uv);
    })
}

/// Stops watching the ring and closes its poll handle (the ring itself goes with the instance).
fn close_ring(uv: &mut UvIo) {
    if let Some(ring) = uv.ring.as_mut() {
        if !ring.poll.is_null() {
            // SAFETY: the live poll handle of this instance, closed once (then NULL).
            unsafe {
                sys::uv_poll_stop(ring.poll);
                sys::uv_close(ring.poll, Some(on_handle_closed));
            }
            ring.poll = ptr::null_mut();
        }
    }
}

/// Runs on a thread of libuv's pool: only the log (locked) and the job's own data are touched.
unsafe extern "C" fn work_on_pool(req: *mut uv_req_t) {
    // SAFETY: `data` is the Work submitted with this request, touched by no other thread now.
    let work = unsafe { &mut *(sys::uv_req_get_data(req) as *mut Work) };
    let result = boundary::contain(|| {
        match &mut work.job {
            Job::PutSnapshotBeside { detached, header, snapshot, trailing, timestamp, .. } => {
                // SAFETY: the caller's snapshot and its buffers stay valid and unchanged until
                // the put's callback (raft_io's contract), which runs after this job; checked
                // by `io_snapshot_put`.
                let data = unsafe { snapshot_data(*snapshot) }
                    .map_err(|f| storage::Error::new(storage::ErrorKind::Invalid, f.message));
                let detached = detached.take();
                return data
                    .and_then(|data| {
                        storage::put_snapshot_beside_appends(
                            &work.log, detached, header, &data, *trailing, *timestamp,
                        )
                    })
                    .map(|_| Output::Done);
            }
            Job::PrepareSpare => {
                return storage::prepare_spare_segment(&work.log).map(|_| Output::Done);
            }
            _ => {}
        }
        let mut log = match work.log.lock() {
            Ok(log) => log,
            Err(_) => return Err(storage::Error::new(storage::ErrorKind::Io, "log poisoned")),
        };
        match &work.job {
            Job::Append { entries, .. } => log.append(entries).map(|_| Output::Done),
            Job::Truncate(index) => log.truncate(*index).map(|_| Output::Done),
            Job::PutSnapshot { snapshot, trailing, timestamp, .. } => {
                log.put_snapshot(snapshot, *trailing, *timestamp).map(|_| Output::Done)
            }
            Job::GetSnapshot { .. } => log.get_snapshot().map(Output::Snapshot),
            Job::StoreChunk { term, index, offset, data, last: None, .. } => {
                log.store_snapshot_chunk(*term, *index, *offset, data).map(|_| Output::Done)
            }
            Job::StoreChunk { offset, data, last: Some((snapshot, timestamp)), .. } => log
                .finish_snapshot_stream(snapshot, *offset, data, *timestamp)
                .map(|data| Output::Chunk(Chunk { data, conf: None })),
            Job::ReadChunk { index, offset, len, last, .. } => {
                let data = log.read_snapshot_chunk(*index, *offset, *len).map(Bytes::from);
                let conf = match last {
                    true => log.snapshot_configuration(*index).map(Some),
                    false => Ok(None),
                };
                data.and_then(|data| Ok(Output::Chunk(Chunk { data, conf: conf? })))
            }
            Job::PutSnapshotBeside { .. } | Job::PrepareSpare => {
                unreachable!("run above, without the log's lock")
            }
        }
    });
    work.result = Some(result.unwrap_or_else(|panic| {
        Err(storage::Error::new(storage::ErrorKind::Io, format!("disk job panicked: {panic}")))
    }));
}

unsafe extern "C" fn after_work(req: *mut uv_req_t, _status: c_int) {
    guard(|| {
        // SAFETY: the Work of this request, back on the loop thread; the instance outlives
        // every job in flight (close waits for them).
        unsafe {
            let work = Box::from_raw(sys::uv_req_get_data(req) as *mut Work);
            heap::free(req as *mut c_void);
            let uv = &mut *work.uv;
            if work.job.runs_beside_appends() {
                uv.in_flight_beside = false;
            } else {
                uv.in_flight = false;
            }
            if matches!(work.job, Job::Append { .. }) {
                uv.trace_write(RAFT_UV_TRACER_WRITE_COMPLETE);
            }
            finish_job(uv, *work, None);
            schedule_flush(uv);
            maybe_finish_close(uv);
        }
    })
}

/// The disk-retry delay passed: the failed append goes first in the queue again.
unsafe extern "C" fn on_retry(timer: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: the retry timer's data is its live instance.
        let Some(uv) = (unsafe { (sys::uv_handle_get_data(timer) as *mut UvIo).as_mut() }) else {
            return;
        };
        if let Some(job) = uv.retrying.take() {
            uv.in_flight = false;
            uv.queue.push_front(job);
            submit_next(uv);
        }
        maybe_finish_close(uv);
    })
}

/// Fires the callbacks of a finished (or failed, or canceled) job; a failed append may be
/// kept to be tried again instead (`raft_uv_set_disk_retry`).
fn finish_job(uv: &mut UvIo, work: Work, failure: Option<Failure>) {
    let outcome: Result<Output, Failure> = match (failure, work.result) {
        (Some(f), _) => Err(f),
        (None, Some(Ok(output))) => Ok(output),
        (None, Some(Err(e))) => Err(storage_failure(e)),
        (None, None) => Err(Failure::new(RAFT_IOERR, "disk job did not run")),
    };
    if let (Job::PrepareSpare, Err(f)) = (&work.job, &outcome) {
        // Nobody waits for a spare: the next segment is then made when it is needed, and
        // that reports its own failure.
        if f.code != RAFT_CANCELED {
            uv.trace_failure(work.job.what(), f);
        }
        return;
    }
    let job = match &outcome {
        Err(f) => match uv.keep_for_retry(work.job, f) {
            Some(job) => job,
            None => return,
        },
        Ok(_) => work.job,
    };
    let status = match &outcome {
        Ok(_) => 0,
        Err(f) => {
            if f.code != RAFT_CANCELED {
                uv.trace_failure(job.what(), f);
            }
            uv.fail(Failure::new(f.code, f.message.clone()))
        }
    };
    // SAFETY: the requests are the library's, alive until their callback.
    unsafe {
        match job {
            Job::Append { reqs, .. } => {
                for (req, cb) in reqs {
                    if let Some(cb) = cb {
                        cb(req, status);
                    }
                }
            }
            Job::Truncate(_) => {
                if let Err(f) = outcome {
                    uv.broken = Some((f.code, f.message));
                }
            }
            Job::PutSnapshot { req, cb, .. } | Job::PutSnapshotBeside { req, cb, .. } => {
                if let Some(cb) = cb {
                    cb(req, status);
                }
            }
            Job::PrepareSpare => {}
            Job::GetSnapshot { req, cb } => {
                let (snapshot, status) = match outcome {
                    Ok(Output::Snapshot(Some(s))) => match snapshot_to_c(&s) {
                        Ok(p) => (p, 0),
                        Err(f) => (ptr::null_mut(), uv.fail(f)),
                    },
                    Ok(_) => (ptr::null_mut(), uv.fail(Failure::new(RAFT_NOTFOUND, "no snapshot"))),
                    Err(_) => (ptr::null_mut(), status),
                };
                if let Some(cb) = cb {
                    cb(req, snapshot, status);
                } else {
                    free_snapshot(snapshot);
                }
            }
            Job::StoreChunk { done, .. } | Job::ReadChunk { done, .. } => done(match outcome {
                Ok(Output::Chunk(chunk)) => Ok(chunk),
                Ok(_) => Ok(Chunk::default()),
                Err(f) => Err(f),
            }),
        }
    }
}

/// A raft heap copy of `s`: the struct, a one-element `bufs` array, the data and the
/// configuration, all becoming the library's.
fn snapshot_to_c(s: &StoredSnapshot) -> Result<*mut raft_snapshot, Failure> {
    let out = heap::calloc(1, std::mem::size_of::<raft_snapshot>()) as *mut raft_snapshot;
    let bufs = heap::alloc_array::<raft_buffer>(1);
    let data = conf_ffi::copy_to_heap(&s.data);
    let mut conf = raft_configuration { servers: ptr::null_mut(), n: 0 };
    let conf_ok = conf_ffi::to_c(&s.conf, &mut conf);
    match (out.is_null() || bufs.is_null(), data, conf_ok) {
        (false, Ok(data), Ok(())) => {
            // SAFETY: fresh allocations of the right sizes.
            unsafe {
                bufs.write(data);
                out.write(raft_snapshot {
                    index: s.index,
                    term: s.term,
                    configuration: conf,
                    configuration_index: s.conf_index,
                    bufs,
                    n_bufs: 1,
                });
            }
            Ok(out)
        }
        (_, data, _) => {
            heap::free(out as *mut c_void);
            heap::free(bufs as *mut c_void);
            if let Ok(d) = data {
                heap::free(d.base);
            }
            conf_ffi::close(&mut conf);
            Err(Failure::nomem())
        }
    }
}

/// Frees a snapshot made by [`snapshot_to_c`] that nobody took.
fn free_snapshot(s: *mut raft_snapshot) {
    if s.is_null() {
        return;
    }
    // SAFETY: made by snapshot_to_c, not handed over.
    unsafe {
        let snap = &mut *s;
        for i in 0..snap.n_bufs as usize {
            heap::free((*snap.bufs.add(i)).base);
        }
        heap::free(snap.bufs as *mut c_void);
        conf_ffi::close(&mut snap.configuration);
        heap::free(s as *mut c_void);
    }
}

/// Copies the library's snapshot (its buffers joined).
///
/// # Safety
/// `s` and what it points to must be valid for the call.
unsafe fn snapshot_from_c(s: &raft_snapshot) -> Result<StoredSnapshot, Failure> {
    // SAFETY: per the caller.
    let parts = unsafe { snapshot_data(s) }?;
    let mut data = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        data.extend_from_slice(part);
    }
    // SAFETY: per the caller.
    let header = unsafe { snapshot_header_from_c(s) }?;
    Ok(StoredSnapshot {
        term: header.term,
        index: header.index,
        conf: header.conf,
        conf_index: header.conf_index,
        data: Bytes::from(data),
    })
}

/// The metadata of a host's snapshot.
///
/// # Safety
/// `s` must be a valid snapshot (its configuration readable).
unsafe fn snapshot_header_from_c(s: &raft_snapshot) -> Result<SnapshotHeader, Failure> {
    Ok(SnapshotHeader {
        term: s.term,
        index: s.index,
        // SAFETY: per the caller.
        conf: unsafe { conf_ffi::from_c(&s.configuration) }?,
        conf_index: s.configuration_index,
    })
}

/// The data of a host's snapshot: its buffers, where they are.
///
/// # Safety
/// `s` must be a valid snapshot whose buffers stay valid and unchanged while the slices live.
unsafe fn snapshot_data<'a>(s: *const raft_snapshot) -> Result<Vec<&'a [u8]>, Failure> {
    // SAFETY: per the caller.
    let s = unsafe { &*s };
    // SAFETY: per the caller.
    let bufs = unsafe { boundary::slice(s.bufs, s.n_bufs as usize, "snapshot buffers") }?;
    bufs.iter()
        // SAFETY: per the caller.
        .map(|b| unsafe { boundary::buffer_bytes(b, "snapshot buffer") })
        .collect()
}

unsafe extern "C" fn io_close(io: *mut raft_io, cb: raft_io_close_cb) {
    guard(|| {
        // SAFETY: see `method`.
        let Some(uv) = (unsafe { instance(io) }) else {
            return;
        };
        if uv.closing {
            return;
        }
        uv.closing = true;
        uv.in_close_call = true;
        uv.close_cb = cb;
        let uvp = uv as *mut UvIo;
        // An append out through the ring still needs the poll handle for its completion,
        // which closes it.
        if !uv.ring.as_ref().is_some_and(|r| r.pending.is_some()) {
            close_ring(uv);
        }
        // SAFETY: the instance's handles and the host's transport, all alive.
        unsafe {
            sys::uv_timer_stop(uv.timer);
            sys::uv_close(uv.timer, Some(on_handle_closed));
            // An append waiting to be tried again is canceled with the queued jobs below.
            sys::uv_timer_stop(uv.retry_timer);
            sys::uv_close(uv.retry_timer, Some(on_handle_closed));
            uv.flush_scheduled = false;
            sys::uv_close(uv.prepare, Some(on_handle_closed));
            sys::uv_close(uv.check, Some(on_handle_closed));
            if let Some(job) = uv.retrying.take() {
                uv.in_flight = false;
                uv.queue.push_front(job);
            }
            for client in uv.clients.clone() {
                net::close_client(client);
            }
            for server in uv.servers.clone() {
                net::close_server(server);
            }
            if uv.transport_inited {
                let t = uv.transport;
                if let Some(close) = (*t).close {
                    uv.transport_open = true;
                    close(t, Some(on_transport_closed));
                }
            }
            // The defer timer always runs once more: the close callback never fires inside
            // this call, and queued completions are flushed.
            let canceled: Vec<Job> = uv.queue.drain(..).collect();
            for job in canceled {
                let work = Work { uv: uvp, log: uv.log.clone(), job, result: None };
                uv.later(Box::new(move || {
                    finish_job(&mut *uvp, work, Some(Failure::new(RAFT_CANCELED, "closing")));
                }));
            }
            sys::uv_timer_start(uv.defer, Some(run_deferred), 0, 0);
        }
        uv.in_close_call = false;
    })
}

unsafe extern "C" fn on_transport_closed(t: *mut raft_uv_transport) {
    guard(|| {
        // SAFETY: `data` is the instance (raft_uv_init), alive until raft_uv_close.
        unsafe {
            let uv = (*t).data as *mut UvIo;
            if let Some(uv) = uv.as_mut() {
                uv.transport_open = false;
                maybe_finish_close(uv);
            }
        }
    })
}

/// Close callback of the instance's own handles (the tick timer; the defer timer last).
pub unsafe extern "C" fn on_handle_closed(handle: *mut uv_handle_t) {
    guard(|| {
        // SAFETY: handles whose data is their live instance.
        unsafe {
            let uv = sys::uv_handle_get_data(handle) as *mut UvIo;
            heap::free(handle as *mut c_void);
            if let Some(uv) = uv.as_mut() {
                uv.open_handles -= 1;
                if handle == uv.defer {
                    uv.defer = ptr::null_mut();
                    let cb = uv.close_cb.take();
                    let io = uv.io;
                    if let Some(cb) = cb {
                        cb(io);
                    }
                    return;
                }
                maybe_finish_close(uv);
            }
        }
    })
}

/// Once everything else is closed and no job is in flight: closes the open segment and the
/// defer timer, whose close callback calls the close callback of `io`.
pub fn maybe_finish_close(uv: *mut UvIo) {
    // SAFETY: called with the live instance.
    let uv = unsafe { &mut *uv };
    if !uv.closing
        || uv.in_close_call
        || uv.in_flight
        || uv.in_flight_beside
        || uv.transport_open
        || !uv.deferred.is_empty()
        || uv.open_handles != 1
        || uv.defer.is_null()
    {
        return;
    }
    // SAFETY: the defer handle is alive and not closing yet (open_handles counts it).
    unsafe {
        if sys::uv_is_closing(uv.defer) != 0 {
            return;
        }
        if let Ok(mut log) = uv.log.lock() {
            let _ = log.finish_open();
            log.discard_spare();
        }
        sys::uv_timer_stop(uv.defer);
        sys::uv_close(uv.defer, Some(on_handle_closed));
    }
}
