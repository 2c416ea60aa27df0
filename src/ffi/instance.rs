//! The instance lifecycle (`raft_init`, `raft_close`, `raft_seed`), settings and accessors.
//!
//! `struct raft` is host memory with C-Raft's layout; the library's state lives in a boxed
//! [`Instance`] whose pointer sits in a private slot, next to a magic word that identifies an
//! initialised instance and a busy word that refuses re-entrant calls. `struct raft` is only
//! ever touched through raw pointers, so a tracer callback reading the public members while a
//! step runs does not alias a Rust reference.

use std::ffi::{c_char, c_int, c_uint, c_ushort, c_void, CStr};
use std::ptr::{self, addr_of, addr_of_mut};
use std::sync::Arc;

use super::boundary::{self, guard, Failure, PanicValue};
use super::classic;
use super::heap;
use super::published::{publish, publish_settings, Published};
use super::step::BarrierStock;
use super::tracer::{self, HostTracer};
use super::types::*;
use crate::core;

/// "raft-rs" and a layout version: marks an initialised `struct raft`.
const MAGIC: u64 = 0x7261_6674_2d72_7301;

/// The library's state for one `struct raft`.
pub struct Instance {
    pub core: core::Raft,
    /// The queue behind `update.messages`, reused from step to step.
    pub messages: Vec<raft_message>,
    /// The buffer of entry views of a step's event, always empty between steps.
    pub views: Vec<core::EntryView<'static>>,
    /// NUL-terminated copies of the addresses that emitted messages and `raft_leader` point to.
    pub addresses: AddressBook,
    /// Reused buffer for formatting trace messages.
    pub trace_text: String,
    /// The built-in tracer `raft_init` installs; boxed so that its address is stable.
    pub default_tracer: Box<raft_tracer>,
    /// Whether the built-in tracer prints (`LIBRAFT_TRACE` was set at `raft_init`).
    pub default_tracer_enabled: bool,
    /// Set when a step panicked: the state may be inconsistent, so every later step fails.
    pub poisoned: bool,
    /// A barrier entry ready to hand out when this server becomes leader.
    pub barrier: BarrierStock,
    /// The memory behind the public members of `struct raft` that point into the library.
    pub published: Published,
    /// The reads of the last step's update (`raft_update_reads`).
    pub reads: Vec<raft_read_result>,
}

impl Instance {
    /// The built-in tracer when it is silent (so that installing it costs no formatting), or
    /// NULL when it prints.
    pub fn silent_default_tracer(&self) -> *const raft_tracer {
        if self.default_tracer_enabled {
            ptr::null()
        } else {
            &*self.default_tracer
        }
    }
}

/// NUL-terminated copies of the addresses that emitted messages and `raft_leader` point to.
///
/// A pointer handed to the host stays valid until its next `raft_step` begins. A server's
/// address may change within one step (a transport may report another peer address for the
/// same leader from one message to the next): the copy an earlier message of the same update
/// points to is then retired, not freed, until the next step. A cluster has a handful of
/// servers, so a short list searched in order beats hashing. Copies are made with fallible
/// allocations, since they happen after the core changed state.
#[derive(Default)]
pub struct AddressBook {
    entries: Vec<(core::Id, Arc<str>, Vec<u8>)>,
    retired: Vec<Vec<u8>>,
}

impl AddressBook {
    /// A new step starts: the host no longer holds pointers to retired copies.
    pub fn begin_step(&mut self) {
        self.retired.clear();
    }

    /// A pointer to a NUL-terminated copy of `address`, valid until the next step; None when
    /// no memory is left for a new copy.
    pub fn pointer(&mut self, id: core::Id, address: &Arc<str>) -> Option<*const c_char> {
        let at = match self.entries.iter().position(|e| e.0 == id) {
            Some(at) => at,
            None => {
                let copy = nul_terminated(address)?;
                self.entries.try_reserve(1).ok()?;
                self.entries.push((id, address.clone(), copy));
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[at];
        if !Arc::ptr_eq(&entry.1, address) && *entry.1 != **address {
            let copy = nul_terminated(address)?;
            self.retired.try_reserve(1).ok()?;
            self.retired.push(std::mem::replace(&mut entry.2, copy));
            entry.1 = address.clone();
        }
        Some(entry.2.as_ptr() as *const c_char)
    }

    /// Records the address `raft_leader` reports for `id`.
    pub fn record(&mut self, id: core::Id, address: &Arc<str>) {
        // Without memory for a changed address, raft_leader keeps reporting the previous one
        // until a later step records it.
        let _ = self.pointer(id, address);
    }

    /// The pointer already recorded for `id`, if any.
    pub fn recorded(&self, id: core::Id) -> *const c_char {
        self.entries.iter().find(|e| e.0 == id).map_or(ptr::null(), |e| e.2.as_ptr().cast())
    }
}

/// A NUL-terminated copy of `text`, cut at a stray NUL (addresses come from C strings or
/// decoded configurations); None when out of memory.
fn nul_terminated(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut copy = Vec::new();
    copy.try_reserve_exact(end + 1).ok()?;
    copy.extend_from_slice(&bytes[..end]);
    copy.push(0);
    Some(copy)
}

/// Writes `message` into the instance's error buffer, truncated at a character boundary.
///
/// # Safety
/// `r` must point to a `struct raft`.
pub unsafe fn set_errmsg(r: *mut raft, message: &str) {
    // SAFETY: `errmsg` is RAFT_ERRMSG_BUF_SIZE bytes inside `*r`.
    unsafe { boundary::write_errmsg(addr_of_mut!((*r).errmsg) as *mut c_char, message) }
}

/// The instance of an initialised `struct raft` that no step is using.
///
/// # Safety
/// `r` must be NULL or point to a `struct raft` that was at least zeroed or initialised, and no
/// other reference to its instance may be alive for `'a`.
pub unsafe fn instance_mut<'a>(r: *mut raft) -> Result<&'a mut Instance, Failure> {
    // SAFETY: forwarded to the caller.
    let inst = unsafe { instance_ptr(r) }?;
    // SAFETY: the pointer was created by Box::into_raw in raft_init and is not aliased.
    Ok(unsafe { &mut *inst })
}

/// Shared access for accessors; None for NULL, uninitialised or busy instances.
///
/// # Safety
/// As [`instance_mut`].
pub unsafe fn instance_ref<'a>(r: *const raft) -> Option<&'a Instance> {
    // SAFETY: forwarded to the caller; only read access is created.
    unsafe { instance_ptr(r as *mut raft) }.ok().map(|p| unsafe { &*p })
}

unsafe fn instance_ptr(r: *mut raft) -> Result<*mut Instance, Failure> {
    if r.is_null() {
        return Err(Failure::invalid("raft instance is NULL"));
    }
    // SAFETY: `r` points to a struct raft (caller); the private words are plain integers.
    let (magic, busy, inst) = unsafe {
        (
            ptr::read(addr_of!((*r).private_magic)),
            ptr::read(addr_of!((*r).private_busy)),
            ptr::read(addr_of!((*r).private_instance)),
        )
    };
    if magic != MAGIC || inst.is_null() {
        return Err(Failure::invalid("raft instance is not initialised (call raft_init)"));
    }
    if busy != 0 {
        return Err(Failure::new(RAFT_BUSY, "called from inside raft_step on the same instance"));
    }
    Ok(inst as *mut Instance)
}

/// After a panic inside a call on `r`: marks its instance failed (every later step refuses
/// with `RAFT_SHUTDOWN`), idle again so that it can be closed, and stores `message`. Does
/// nothing for a NULL or uninitialised `r`.
///
/// # Safety
/// `r` must be NULL or point to a `struct raft` that was at least zeroed or initialised, and no
/// reference to its instance may be alive.
pub unsafe fn poison(r: *mut raft, message: &str) {
    if r.is_null() {
        return;
    }
    // SAFETY: `r` points to a struct raft (caller); the private words are plain integers.
    let (magic, inst) = unsafe {
        (ptr::read(addr_of!((*r).private_magic)), ptr::read(addr_of!((*r).private_instance)))
    };
    if magic != MAGIC || inst.is_null() {
        return;
    }
    // SAFETY: created by Box::into_raw in raft_init; no reference to it is alive (caller).
    unsafe {
        (*(inst as *mut Instance)).poisoned = true;
        set_busy(r, false);
        set_errmsg(r, message);
    }
}

/// Marks the instance busy (or idle) for the duration of a step.
///
/// # Safety
/// `r` must point to an initialised `struct raft`.
pub unsafe fn set_busy(r: *mut raft, busy: bool) {
    // SAFETY: a plain integer member of the caller's struct.
    unsafe { ptr::write(addr_of_mut!((*r).private_busy), busy as u64) }
}

/// Initialises `r` as server `id` at `address` (copied). With NULL `io` and `fsm` the instance
/// is driven by `raft_step()`; with both it runs C-Raft's classic API over them
/// (docs/classic.md): `io->data` is set to `r`, `io->init` is called and the generator is
/// seeded from `io->random`. Sets C-Raft's defaults, installs the built-in tracer (silent
/// unless `LIBRAFT_TRACE` is set now) and clears the error message. Call `raft_seed()` next.
/// Errors: `RAFT_INVALID` (NULL `r` or `address`, only one of `io`/`fsm`, an unknown
/// `version` or a NULL required method, non-UTF-8 address), the back-end's `init` code,
/// `RAFT_BADID` (`id` 0), `RAFT_NOMEM`. On error (other than a NULL `r`) `raft_errmsg` says why
/// and `r` must not be closed.
#[no_mangle]
pub extern "C" fn raft_init(
    r: *mut raft,
    io: *mut raft_io,
    fsm: *mut raft_fsm,
    id: raft_id,
    address: *const c_char,
) -> c_int {
    guard(|| {
        if r.is_null() {
            return RAFT_INVALID;
        }
        // SAFETY: `r` points to host memory of struct raft's size.
        unsafe {
            ptr::write_bytes(r as *mut u8, 0, std::mem::size_of::<raft>());
            match init(r, io, fsm, id, address) {
                Ok(()) => 0,
                Err(f) => {
                    set_errmsg(r, &f.message);
                    f.code
                }
            }
        }
    })
}

unsafe fn init(
    r: *mut raft,
    io: *mut raft_io,
    fsm: *mut raft_fsm,
    id: raft_id,
    address: *const c_char,
) -> Result<(), Failure> {
    if io.is_null() != fsm.is_null() {
        return Err(Failure::invalid(
            "io and fsm go together: both for the classic API, neither for raft_step()",
        ));
    }
    // SAFETY: a non-NULL address is the caller's NUL-terminated string.
    let address = unsafe { boundary::text(address, "address") }?;
    if id == 0 {
        return Err(Failure::new(RAFT_BADID, "server ID must not be 0"));
    }
    let address_copy = heap::copy_string(address.as_bytes())?;
    let mut instance = Box::new(Instance {
        core: core::Raft::new(id, address, &crate::codec::configuration::CRAFT),
        messages: Vec::new(),
        addresses: AddressBook::default(),
        views: Vec::new(),
        trace_text: String::new(),
        default_tracer: Box::new(tracer::default_tracer()),
        default_tracer_enabled: std::env::var_os("LIBRAFT_TRACE").is_some(),
        poisoned: false,
        barrier: BarrierStock::empty(),
        published: Published::new(),
        reads: Vec::new(),
    });
    let default_tracer: *mut raft_tracer = &mut *instance.default_tracer;
    // SAFETY: writing the public and private members of the caller's struct.
    unsafe {
        (*r).tracer = default_tracer;
        (*r).id = id;
        (*r).address = address_copy;
        (*r).private_instance = Box::into_raw(instance) as *mut c_void;
        (*r).private_magic = MAGIC;
        let inst = &mut *((*r).private_instance as *mut Instance);
        publish(r, inst);
        publish_settings(r, inst);
    }
    if !io.is_null() {
        // SAFETY: `r` is initialised; `io` and `fsm` are the host's (raft_init's contract).
        if let Err(f) = unsafe { classic::attach(r, io, fsm) } {
            // SAFETY: nothing else refers to the new instance.
            unsafe { release(r) };
            return Err(f);
        }
    }
    Ok(())
}

/// Closes the instance. In the `raft_step` mode it releases everything at once (pass NULL as
/// `cb`; it is never called). In the classic mode every pending request completes with
/// `RAFT_SHUTDOWN` (a transfer completes), the back-end is closed, and once it and every
/// request given to it have called back the instance is released and `cb` (if any) is called;
/// only then may the host free `r`, `io` and `fsm`. Host-owned memory (entry batches, snapshot
/// buffers, update arrays) is unaffected. NULL, uninitialised or already closed instances are
/// ignored; so is a call from inside `raft_step` or a callback of the same instance.
#[no_mangle]
pub extern "C" fn raft_close(r: *mut raft, cb: raft_close_cb) {
    guard(|| {
        // SAFETY: `r` is NULL or a struct raft of the host.
        if unsafe { instance_ptr(r) }.is_err() {
            return;
        }
        // SAFETY: initialised (checked above).
        if unsafe { classic::is_classic(r) } {
            // SAFETY: a classic-mode instance.
            if let Err(f) = unsafe { classic::close(r, cb) } {
                // SAFETY: as above.
                unsafe { set_errmsg(r, &f.message) };
            }
            return;
        }
        // SAFETY: initialised and not in use.
        unsafe { release(r) };
    })
}

/// Frees the instance's state and its address; `r` may then be initialised again.
///
/// # Safety
/// `r` must be an initialised `struct raft` whose instance no reference points to.
pub unsafe fn release(r: *mut raft) {
    // SAFETY: per the caller; the instance was created by Box::into_raw in raft_init.
    unsafe {
        let inst = ptr::read(addr_of!((*r).private_instance)) as *mut Instance;
        if !inst.is_null() {
            drop(Box::from_raw(inst));
        }
        heap::free((*r).address as *mut c_void);
        (*r).address = ptr::null_mut();
        (*r).tracer = ptr::null_mut();
        (*r).private_instance = ptr::null_mut();
        (*r).private_magic = 0;
        (*r).configuration = raft_configuration { servers: ptr::null_mut(), n: 0 };
        (*r).configuration_committed = raft_configuration { servers: ptr::null_mut(), n: 0 };
        (*r).role.follower_state.current_leader =
            raft_leader_info { id: 0, address: ptr::null_mut() };
    }
}

/// Sets the state of the instance's random generator (election timeouts). Call once after
/// `raft_init()`, before `RAFT_START` or `raft_set_election_timeout()`.
#[no_mangle]
pub extern "C" fn raft_seed(r: *mut raft, random: c_uint) {
    with_instance(r, |inst| inst.core.seed(random))
}

/// Runs `f` on an idle, initialised instance; does nothing otherwise (setters return nothing).
/// The instance is marked busy meanwhile, as in a step: `f` may call the host's tracer, and a
/// tracer that calls back into the library on this instance (to step it, or even close it)
/// must be refused, not allowed to free or change the instance under `f`.
fn with_instance(r: *mut raft, f: impl FnOnce(&mut Instance)) {
    guard(|| {
        // SAFETY: `r` is NULL or a struct raft of the host.
        if let Ok(inst) = unsafe { instance_mut(r) } {
            // SAFETY: `r` is initialised (instance_mut succeeded); cleared below.
            unsafe { set_busy(r, true) };
            let outcome = boundary::contain(|| f(inst));
            // SAFETY: as above; the settings may have changed what `struct raft` shows.
            unsafe {
                set_busy(r, false);
                publish(r, inst);
                publish_settings(r, inst);
            }
            if let Err(panic) = outcome {
                inst.poisoned = true;
                // SAFETY: an initialised struct raft.
                unsafe { set_errmsg(r, &format!("internal error ({panic}): close the instance")) };
            }
        }
    })
}

/// Base election timeout in ms (default 1000; each reset draws in [T, 2T]). Draws a new
/// timeout at once for a follower or candidate. 0 is raised to 1.
#[no_mangle]
pub extern "C" fn raft_set_election_timeout(r: *mut raft, msecs: c_uint) {
    with_instance(r, |inst| {
        // SAFETY: reading the tracer member of the caller's initialised struct.
        let installed = unsafe { (*r).tracer };
        let silent = inst.silent_default_tracer();
        // SAFETY: `installed` is the host's tracer (or NULL), valid for the call.
        let mut tracer = unsafe { HostTracer::new(installed, silent, &mut inst.trace_text) };
        let tracer = tracer.as_mut().map(|t| t as &mut dyn core::Tracer);
        inst.core.set_election_timeout(msecs, tracer);
    })
}

/// Interval between heartbeats in ms (default 100).
#[no_mangle]
pub extern "C" fn raft_set_heartbeat_timeout(r: *mut raft, msecs: c_uint) {
    with_instance(r, |inst| inst.core.set_heartbeat_timeout(msecs))
}

/// How long a leader waits for the answer to an InstallSnapshot before probing again, in ms
/// (default 30000).
#[no_mangle]
pub extern "C" fn raft_set_install_snapshot_timeout(r: *mut raft, msecs: c_uint) {
    with_instance(r, |inst| inst.core.set_install_snapshot_timeout(msecs))
}

/// Enables the pre-vote round before elections (default off).
#[no_mangle]
pub extern "C" fn raft_set_pre_vote(r: *mut raft, enabled: bool) {
    with_instance(r, |inst| inst.core.set_pre_vote(enabled))
}

/// Most catch-up rounds before a slow server's catch-up is aborted (default 10).
#[no_mangle]
pub extern "C" fn raft_set_max_catch_up_rounds(r: *mut raft, n: c_uint) {
    with_instance(r, |inst| inst.core.set_max_catch_up_rounds(n))
}

/// Longest a catch-up round may last, in ms (default 5000).
#[no_mangle]
pub extern "C" fn raft_set_max_catch_up_round_duration(r: *mut raft, msecs: c_uint) {
    with_instance(r, |inst| inst.core.set_max_catch_up_round_duration(msecs))
}

/// Most entries a leader sends to one follower beyond its acknowledged index (default 32).
#[no_mangle]
pub extern "C" fn raft_set_max_inflight_entries(r: *mut raft, n: c_uint) {
    with_instance(r, |inst| inst.core.set_max_inflight_entries(n))
}

/// When non-zero, `RAFT_SUBMIT` fails with `RAFT_NOSPACE` if more than half of the voters
/// report their capacity and no more than half of them report at least `min` (default 0).
#[no_mangle]
pub extern "C" fn raft_set_capacity_threshold(r: *mut raft, min: c_ushort) {
    with_instance(r, |inst| inst.core.set_capacity_threshold(min))
}

/// libraft-rs extension: serve reads from the leader's lease, without a round of
/// acknowledgements, when `enabled` (default off). The lease lasts the election timeout less
/// `max_clock_drift` ms from the start of the last round a majority acknowledged; it assumes
/// clocks drift apart by less than that and that no follower restarts within a lease
/// (docs/reads.md). A transfer ends it for the rest of the term.
#[no_mangle]
pub extern "C" fn raft_set_read_lease(r: *mut raft, enabled: bool, max_clock_drift: c_uint) {
    with_instance(r, |inst| inst.core.set_read_lease(enabled, max_clock_drift))
}

/// libraft-rs extension: streamed snapshots (docs/snapshots.md). With `chunk_size` > 0 this
/// server takes snapshots in chunks as a follower (advertising it to its leaders) and, as a
/// leader, streams its snapshot in chunks of `chunk_size` bytes, at most `window` (at least 1)
/// unacknowledged, to followers that take them; it streams only a snapshot whose length it
/// was told (`raft_set_snapshot_length`). 0 (the default) sends and takes snapshots whole, as
/// C-Raft does. Set it before `RAFT_START` and keep it. A classic-mode instance streams only
/// over libraft-rs's libuv back-end of `raft/uv.h` (chunks go straight into its data
/// directory; the snapshot's length is told by the library itself). Errors: `RAFT_INVALID` (NULL or uninitialised `r`,
/// or a classic-mode instance over another `raft_io`, whose methods take snapshots whole);
/// nothing changes then.
#[no_mangle]
pub extern "C" fn raft_set_snapshot_chunks(r: *mut raft, chunk_size: u64, window: c_uint) -> c_int {
    let mut initialised = false;
    with_instance(r, |_| initialised = true);
    // SAFETY: only read when `r` is an initialised struct raft (with_instance found it).
    let classic = initialised
        && unsafe { super::classic::is_classic(r) && !super::classic::can_stream_snapshots(r) };
    let outcome = if !initialised {
        Err(String::from("not an initialised struct raft"))
    } else if classic {
        Err(String::from(
            "streamed snapshots in the classic mode need libraft-rs's raft_uv: this raft_io \
             takes snapshots whole",
        ))
    } else {
        with_instance(r, |inst| inst.core.set_snapshot_chunks(chunk_size, window));
        Ok(())
    };
    invalid_unless_ok(r, outcome)
}

/// 0, or `RAFT_INVALID` with the message in `r`'s errmsg (when `r` is not NULL).
fn invalid_unless_ok(r: *mut raft, outcome: Result<(), String>) -> c_int {
    match outcome {
        Ok(()) => 0,
        Err(message) => {
            if !r.is_null() {
                // SAFETY: `r` is the host's struct raft; errmsg is plain host memory.
                unsafe { set_errmsg(r, &message) };
            }
            RAFT_INVALID
        }
    }
}

/// libraft-rs extension (docs/snapshots.md): the length in bytes of the data of the host's
/// snapshot at `index`, the one it stored last (`RAFT_SNAPSHOT`) or loaded (`RAFT_START`), so
/// that a leader can stream it. A snapshot received whole needs no call; one received in
/// chunks neither. Errors: `RAFT_INVALID` (NULL or uninitialised `r`, or `index` is not the
/// library's latest snapshot); nothing changes then.
#[no_mangle]
pub extern "C" fn raft_set_snapshot_length(r: *mut raft, index: raft_index, length: u64) -> c_int {
    let mut outcome = Err(String::from("not an initialised struct raft"));
    with_instance(r, |inst| outcome = inst.core.note_snapshot_len(index, length));
    invalid_unless_ok(r, outcome)
}

/// libraft-rs extension: the reads the last `raft_step()` confirmed or failed
/// (`RAFT_UPDATE_READS`), in `*reads` (library-owned, valid until the next step or close on the
/// instance) and `*n`. Errors: `RAFT_INVALID` (NULL argument, uninitialised), `RAFT_BUSY`
/// (inside a step); nothing is written then.
#[no_mangle]
pub extern "C" fn raft_update_reads(
    r: *const raft,
    reads: *mut *const raft_read_result,
    n: *mut c_uint,
) -> c_int {
    guard(|| {
        if reads.is_null() || n.is_null() {
            return RAFT_INVALID;
        }
        // SAFETY: `r` is NULL or a struct raft of the host.
        let inst = match unsafe { instance_ptr(r as *mut raft) } {
            // SAFETY: created by raft_init, not in use by a step.
            Ok(p) => unsafe { &*p },
            Err(f) => return f.code,
        };
        // SAFETY: non-NULL output pointers of the caller.
        unsafe {
            reads.write(inst.reads.as_ptr());
            n.write(inst.reads.len() as c_uint);
        }
        0
    })
}

/// Runs `f` on an idle, initialised instance, or returns `neutral` (also after a panic: the
/// getter then answers as for a NULL instance).
fn read<T>(r: *const raft, neutral: T, f: impl FnOnce(&Instance) -> T) -> T {
    // SAFETY: `r` is NULL or a struct raft of the host.
    guard(|| unsafe { instance_ref(r) }.map(f)).unwrap_or(neutral)
}

/// The current term (0 for a NULL or uninitialised instance).
#[no_mangle]
pub extern "C" fn raft_current_term(r: *const raft) -> raft_term {
    read(r, 0, |i| i.core.current_term())
}

/// The server voted for in the current term, 0 for none.
#[no_mangle]
pub extern "C" fn raft_voted_for(r: *const raft) -> raft_id {
    read(r, 0, |i| i.core.voted_for())
}

/// The highest index known to be committed.
#[no_mangle]
pub extern "C" fn raft_commit_index(r: *const raft) -> raft_index {
    read(r, 0, |i| i.core.commit_index())
}

/// Absolute time at which the next `RAFT_TIMEOUT` is due (0 before `RAFT_START`).
#[no_mangle]
pub extern "C" fn raft_timeout(r: *const raft) -> raft_time {
    read(r, 0, |i| i.core.timeout())
}

/// Leader only: stores in `*index` the highest index known to be replicated on server `id`
/// (for itself, its durable index). Errors: `RAFT_INVALID` (NULL argument, uninitialised),
/// `RAFT_BUSY` (inside a step), `RAFT_NOTLEADER`, `RAFT_BADID` (not in the configuration).
#[no_mangle]
pub extern "C" fn raft_match_index(r: *const raft, id: raft_id, index: *mut raft_index) -> c_int {
    query(r, index, |inst| inst.core.match_index(id))
}

/// Leader only: stores in `*status` the catch-up status of server `id` (`RAFT_CATCH_UP_*`).
/// Errors as `raft_match_index`.
#[no_mangle]
pub extern "C" fn raft_catch_up(r: *const raft, id: raft_id, status: *mut c_int) -> c_int {
    query(r, status, |inst| inst.core.catch_up(id).map(catch_up_code))
}

/// Runs a fallible accessor that stores its answer in `*out`.
fn query<T>(
    r: *const raft,
    out: *mut T,
    f: impl FnOnce(&Instance) -> Result<T, core::Error>,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return RAFT_INVALID;
        }
        // SAFETY: `r` is NULL or a struct raft of the host.
        let inst = match unsafe { instance_ptr(r as *mut raft) } {
            // SAFETY: created by raft_init, not in use by a step.
            Ok(p) => unsafe { &*p },
            Err(f) => return f.code,
        };
        match f(inst) {
            Ok(v) => {
                // SAFETY: non-NULL output pointer of the caller.
                unsafe { out.write(v) };
                0
            }
            Err(e) => core_error_code(&e),
        }
    })
}

/// The target of the pending leadership transfer, or 0.
#[no_mangle]
pub extern "C" fn raft_transferee(r: *const raft) -> raft_id {
    read(r, 0, |i| i.core.transferee())
}

/// The server's state (`RAFT_UNAVAILABLE` for a NULL, uninitialised or busy instance).
#[no_mangle]
pub extern "C" fn raft_state(r: *mut raft) -> raft_state {
    read(r, raft_state::RAFT_UNAVAILABLE, |i| i.core.state().into())
}

/// This server's role in the current configuration, or -1 if it is not in it.
#[no_mangle]
pub extern "C" fn raft_role(r: *mut raft) -> c_int {
    read(r, -1, |i| i.core.role().map_or(-1, role_code))
}

/// The known leader: its ID and address (the library's copy, valid until the next step), or
/// 0/NULL when unknown, while a candidate, or while a leadership transfer is pending. Either
/// output pointer may be NULL.
#[no_mangle]
pub extern "C" fn raft_leader(r: *mut raft, id: *mut raft_id, address: *mut *const c_char) {
    let (leader_id, leader_address) = read(r, (0, ptr::null()), |i| match i.core.leader() {
        Some((leader, _)) => (leader, i.addresses.recorded(leader)),
        None => (0, ptr::null()),
    });
    // SAFETY: non-NULL output pointers of the caller.
    unsafe {
        if let Some(id) = id.as_mut() {
            *id = leader_id;
        }
        if let Some(address) = address.as_mut() {
            *address = leader_address;
        }
    }
}

/// Index of the last entry in the log, durable or not; the snapshot index when the log is
/// empty; 0 if neither.
#[no_mangle]
pub extern "C" fn raft_last_index(r: *mut raft) -> raft_index {
    read(r, 0, |i| i.core.last_index())
}

/// The message of the last failed call on this instance (empty after `raft_init`). Points into
/// `r`; valid until the next call on it. Never NULL.
#[no_mangle]
pub extern "C" fn raft_errmsg(r: *mut raft) -> *const c_char {
    guard(|| {
        if r.is_null() {
            return Some(c"raft instance is NULL".as_ptr());
        }
        // SAFETY: `errmsg` is inside the caller's struct.
        Some(unsafe { addr_of!((*r).errmsg) as *const c_char })
    })
    .unwrap_or(<&CStr as PanicValue>::ON_PANIC.as_ptr())
}
