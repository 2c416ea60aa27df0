//! The classic driver: a host of `raft_step` written once, inside the library, for C-Raft's
//! classic API. It turns what `raft_io` reports (ticks, received messages, completed writes)
//! into events, steps the same core every `raft_step` host steps, and carries out each update
//! through `raft_io` and `raft_fsm` in the order docs/contract.md#update-order gives. It holds
//! no protocol rule: which entries to send, what is committed, who leads is the core's answer.
//!
//! Re-entrancy. The host's code runs inside the driver (FSM methods, `raft_io` methods) and
//! request callbacks may call the API again. The driver is therefore entered only through
//! [`enter`], which marks it busy; API calls made while it is busy are refused with
//! `RAFT_BUSY`, `raft_io` callbacks that arrive while it is busy (a back-end completing inside
//! the method call) are queued and run when the outer call finishes, and request callbacks
//! are fired only once no borrow of the driver is alive.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::ptr::{self, null_mut};

use super::log::{EntryCache, Lent};
use super::stream;
use crate::codec::configuration as conf_codec;
use crate::core::{self, State};
use crate::ffi::boundary::{self, Failure};
use crate::ffi::configuration;
use crate::ffi::heap;
use crate::ffi::instance;
use crate::ffi::step;
use crate::ffi::types::*;

/// C-Raft's defaults for the classic mode.
pub const DEFAULT_SNAPSHOT_THRESHOLD: u32 = 1024;
pub const DEFAULT_SNAPSHOT_TRAILING: u32 = 2048;

/// A request waiting for its entry to be applied.
pub enum Pending {
    Apply { req: *mut raft_apply, last: raft_index },
    Barrier(*mut raft_barrier),
}

/// A request whose callback is due.
pub enum Completion {
    Read(*mut raft_read, c_int),
    Apply(*mut raft_apply, c_int, *mut c_void),
    Barrier(*mut raft_barrier, c_int),
    Change(*mut raft_change, c_int),
    Transfer(*mut raft_transfer),
}

/// The pending configuration change and, for a promotion waiting for catch-up, the server.
pub struct Change {
    pub req: *mut raft_change,
    pub catch_up: raft_id,
}

/// Events produced while carrying out an update, stepped once the update is done.
enum Derived {
    /// The `Change` entry at this index was applied.
    Configuration(raft_index),
    /// A snapshot was stored by us.
    Snapshot(raft_snapshot_metadata, c_uint),
}

/// A `raft_io` callback that arrived while the driver was busy.
type Deferred = Box<dyn FnOnce(*mut raft)>;

pub struct Driver {
    pub io: *mut raft_io,
    pub fsm: *mut raft_fsm,
    pub log: EntryCache,
    /// The last index handed to `raft_io` (loaded or appended): truncation is needed only
    /// before rewriting at or below it.
    written: raft_index,
    pub pending: VecDeque<Pending>,
    /// Reads asked with `raft_read`: (request, read index once confirmed).
    pub reads: Vec<(*mut raft_read, Option<raft_index>)>,
    pub next_read: u64,
    pub change: Option<Change>,
    pub transfer: *mut raft_transfer,
    completed: VecDeque<Completion>,
    derived: VecDeque<Derived>,
    pub last_applied: raft_index,
    pub threshold: u32,
    pub trailing: u32,
    taking: bool,
    /// A received snapshot is being stored (writes of older entries are moot meanwhile).
    pub(super) installing: bool,
    /// A received snapshot that waits for our own snapshot write to finish.
    held_install: Option<Box<InstallRequest>>,
    /// The stored received snapshot whose data restores the FSM once it is committed.
    pub(super) installed: Option<(raft_index, raft_buffer)>,
    pub started: bool,
    pub closing: bool,
    /// An I/O error the protocol cannot survive: the instance stops taking part.
    pub failed: bool,
    pub(super) in_flight: u32,
    io_closed: bool,
    was_leader: bool,
}

impl Driver {
    pub fn new(io: *mut raft_io, fsm: *mut raft_fsm) -> Driver {
        Driver {
            io,
            fsm,
            log: EntryCache::new(),
            written: 0,
            pending: VecDeque::new(),
            reads: Vec::new(),
            next_read: 0,
            change: None,
            transfer: null_mut(),
            completed: VecDeque::new(),
            derived: VecDeque::new(),
            last_applied: 0,
            threshold: DEFAULT_SNAPSHOT_THRESHOLD,
            trailing: DEFAULT_SNAPSHOT_TRAILING,
            taking: false,
            installing: false,
            held_install: None,
            installed: None,
            started: false,
            closing: false,
            failed: false,
            in_flight: 0,
            io_closed: false,
            was_leader: false,
        }
    }
}

impl Driver {
    pub fn set_written(&mut self, index: raft_index) {
        self.written = index;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some((_, buf)) = self.installed.take() {
            heap::free(buf.base);
        }
        if let Some(mut held) = self.held_install.take() {
            configuration::close(&mut held.metadata.configuration);
            heap::free(held.chunk.base);
        }
    }
}

// ---- entering and leaving -------------------------------------------------------------------

/// What `struct raft`'s private slot points to: the driver, and what is touched while the
/// driver is lent out (`&mut Driver` inside [`enter`]): whether it is, how deep the calls
/// nest, and the `raft_io` callbacks that arrived meanwhile. Only the cells are shared; the
/// driver itself is reached mutably by one caller at a time.
pub struct Slot {
    driver: UnsafeCell<Driver>,
    deferred: RefCell<VecDeque<Deferred>>,
    busy: Cell<bool>,
    depth: Cell<u32>,
}

impl Slot {
    pub fn new(driver: Driver) -> Slot {
        Slot {
            driver: UnsafeCell::new(driver),
            deferred: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            depth: Cell::new(0),
        }
    }
}

/// The slot of a classic-mode instance, NULL in the `raft_step` mode.
///
/// # Safety
/// `r` must point to an initialised `struct raft`.
pub unsafe fn slot_ptr(r: *mut raft) -> *mut Slot {
    // SAFETY: a plain member of the caller's struct.
    unsafe { ptr::read(ptr::addr_of!((*r).private_classic)) as *mut Slot }
}

/// The driver, for a short access while it is not lent out.
///
/// # Safety
/// `slot` must be alive and not busy, and the reference dropped before anything can enter.
unsafe fn idle_driver<'a>(slot: *mut Slot) -> &'a mut Driver {
    // SAFETY: per the caller.
    unsafe { &mut *(*slot).driver.get() }
}

/// Runs `body` on the driver of `r`, then runs the `raft_io` callbacks that arrived meanwhile,
/// then fires due request callbacks when `fire` (io callbacks and `raft_close`; API calls leave
/// them for the next one, as C-Raft does, so that no callback runs inside `raft_apply`).
/// Refuses with `RAFT_BUSY` when the driver is already running.
///
/// # Safety
/// `r` must point to an initialised classic-mode `struct raft`.
pub unsafe fn enter<T>(
    r: *mut raft,
    fire: bool,
    body: impl FnOnce(&mut Driver) -> Result<T, Failure>,
) -> Result<T, Failure> {
    // SAFETY: per the caller; the slot lives until `finish_close_if_done` frees it, which
    // waits for depth 0.
    let slot = unsafe { slot_ptr(r) };
    let cells = unsafe { &*slot };
    if cells.busy.get() {
        return Err(Failure::new(RAFT_BUSY, "called from inside a callback of this instance"));
    }
    cells.busy.set(true);
    cells.depth.set(cells.depth.get() + 1);
    // SAFETY: not busy until now: the only mutable access for the duration of `body`.
    let outcome = boundary::contain(|| body(unsafe { &mut *cells.driver.get() }));
    cells.busy.set(false);
    // SAFETY: as above.
    unsafe { drain(r, slot, fire) };
    cells.depth.set(cells.depth.get() - 1);
    match outcome {
        Ok(result) => {
            // SAFETY: as above; may free the slot (nothing below touches it).
            unsafe { finish_close_if_done(r, slot) };
            result
        }
        Err(panic) => {
            // SAFETY: not busy.
            unsafe { idle_driver(slot).failed = true };
            // SAFETY: as above.
            unsafe { finish_close_if_done(r, slot) };
            Err(Failure::new(
                RAFT_SHUTDOWN,
                format!("internal error in the classic driver ({panic}): close the instance"),
            ))
        }
    }
}

/// Runs a `raft_io` callback now, or later when the driver is busy (the back-end called it
/// from inside one of its methods).
///
/// # Safety
/// `r` must point to an initialised classic-mode `struct raft`.
pub unsafe fn io_callback(r: *mut raft, job: impl FnOnce(&mut Driver) + 'static) {
    // SAFETY: per the caller; the slot is alive while any request of it is in flight.
    let cells = unsafe { &*slot_ptr(r) };
    if cells.busy.get() {
        cells.deferred.borrow_mut().push_back(Box::new(move |r| {
            // SAFETY: run by `drain` on the same instance, not busy.
            unsafe { io_callback(r, job) };
        }));
        return;
    }
    // SAFETY: per the caller.
    let outcome = unsafe {
        enter(r, true, |d| {
            job(d);
            Ok(())
        })
    };
    if let Err(f) = outcome {
        // SAFETY: an initialised struct raft.
        unsafe { instance::set_errmsg(r, &f.message) };
    }
}

/// Runs deferred io callbacks and, when `fire`, request callbacks, until none is left.
unsafe fn drain(r: *mut raft, slot: *mut Slot, fire: bool) {
    // SAFETY: the slot is alive (caller) and not busy.
    let cells = unsafe { &*slot };
    loop {
        let job = cells.deferred.borrow_mut().pop_front();
        if let Some(job) = job {
            job(r);
            continue;
        }
        if !fire {
            return;
        }
        // SAFETY: not busy; the reference ends with the statement.
        let Some(completion) = unsafe { idle_driver(slot) }.completed.pop_front() else {
            return;
        };
        // SAFETY: the request structs are the host's, alive until their callback fired. The
        // callback may call the API again: no reference to the driver is alive.
        unsafe { fire_completion(completion) };
    }
}

unsafe fn fire_completion(c: Completion) {
    // SAFETY: per the caller.
    unsafe {
        match c {
            Completion::Apply(req, status, result) => {
                if let Some(cb) = (*req).cb {
                    cb(req, status, result)
                }
            }
            Completion::Read(req, status) => {
                if let Some(cb) = (*req).cb {
                    cb(req, status)
                }
            }
            Completion::Barrier(req, status) => {
                if let Some(cb) = (*req).cb {
                    cb(req, status)
                }
            }
            Completion::Change(req, status) => {
                if let Some(cb) = (*req).cb {
                    cb(req, status)
                }
            }
            Completion::Transfer(req) => {
                if let Some(cb) = (*req).cb {
                    cb(req)
                }
            }
        }
    }
}

// ---- requests -------------------------------------------------------------------------------

impl Driver {
    /// Every pending request fails with `status` (leadership lost, or closing).
    pub fn fail_pending(&mut self, status: c_int) {
        if let Some(change) = self.change.take() {
            self.completed.push_back(Completion::Change(change.req, status));
        }
        // Confirmed reads stay valid after a step-down (the core fails the others); only
        // closing ends them.
        if status == RAFT_SHUTDOWN {
            for (req, _) in std::mem::take(&mut self.reads) {
                self.completed.push_back(Completion::Read(req, status));
            }
        }
        while let Some(p) = self.pending.pop_front() {
            self.completed.push_back(match p {
                Pending::Apply { req, .. } => Completion::Apply(req, status, null_mut()),
                Pending::Barrier(req) => Completion::Barrier(req, status),
            });
        }
    }

    pub fn end_transfer(&mut self) {
        if !self.transfer.is_null() {
            self.completed.push_back(Completion::Transfer(self.transfer));
            self.transfer = null_mut();
        }
    }

    /// Records what the last step decided about reads (`RAFT_UPDATE_READS`).
    fn note_reads(&mut self, r: *mut raft) {
        let mut results: *const raft_read_result = null_mut();
        let mut n = 0;
        if crate::ffi::instance::raft_update_reads(r, &mut results, &mut n) != 0 || n == 0 {
            return;
        }
        // SAFETY: the library's array of `n` results, valid until the next step.
        let results = unsafe { std::slice::from_raw_parts(results, n as usize) };
        for result in results {
            // SAFETY: the host's requests, alive until their callbacks.
            let Some(k) = self.reads.iter().position(|(req, _)| unsafe { (**req).id } == result.id)
            else {
                continue;
            };
            if result.status == 0 {
                self.reads[k].1 = Some(result.index);
            } else {
                let (req, _) = self.reads.swap_remove(k);
                self.completed.push_back(Completion::Read(req, result.status));
            }
        }
    }

    /// Completes the confirmed reads whose index the FSM has applied.
    fn complete_reads(&mut self) {
        let applied = self.last_applied;
        let mut k = 0;
        while k < self.reads.len() {
            match self.reads[k] {
                (req, Some(index)) if index <= applied => {
                    // SAFETY: the host's request, alive until its callback.
                    unsafe { (*req).index = index };
                    self.reads.swap_remove(k);
                    self.completed.push_back(Completion::Read(req, 0));
                }
                _ => k += 1,
            }
        }
    }

    fn complete_applied(&mut self, index: raft_index, result: *mut c_void) {
        let done = match self.pending.front() {
            Some(Pending::Apply { last, .. }) => *last == index,
            Some(Pending::Barrier(req)) => {
                // SAFETY: the host's request, alive until its callback.
                unsafe { (**req).index == index }
            }
            None => false,
        };
        if !done {
            return;
        }
        match self.pending.pop_front() {
            Some(Pending::Apply { req, .. }) => {
                self.completed.push_back(Completion::Apply(req, 0, result))
            }
            Some(Pending::Barrier(req)) => self.completed.push_back(Completion::Barrier(req, 0)),
            None => {}
        }
    }
}

// ---- stepping -------------------------------------------------------------------------------

/// Steps `event` (its time and capacity are filled from `raft_io`) and carries out the update,
/// then the events it led to.
///
/// # Safety
/// `r` must be the initialised classic-mode instance that owns `d`; the event's pointers valid.
pub unsafe fn step_event(
    r: *mut raft,
    d: &mut Driver,
    event: &mut raft_event,
) -> Result<(), Failure> {
    if d.failed {
        return Err(Failure::new(RAFT_IOERR, "the instance stopped after an I/O error: close it"));
    }
    // SAFETY: the host's io, valid until closed.
    unsafe {
        event.time = now(d.io);
        event.capacity = (*d.io).capacity;
    }
    let mut update = zeroed_update();
    // SAFETY: `r` is initialised; the event is valid (caller).
    let rv = unsafe { step::step(r, event, &mut update, step::Caller::ClassicDriver) };
    if rv != 0 {
        return Err(Failure::new(rv, errmsg_of(r)));
    }
    // SAFETY: as above; the update was just filled by the step.
    unsafe { carry_out(r, d, &mut update) }?;
    // SAFETY: as above.
    unsafe { step_derived(r, d) }
}

/// Steps the events produced while carrying out updates, in order.
unsafe fn step_derived(r: *mut raft, d: &mut Driver) -> Result<(), Failure> {
    while let Some(derived) = d.derived.pop_front() {
        let mut event = zeroed_event();
        let mut conf = raft_configuration { servers: null_mut(), n: 0 };
        match derived {
            Derived::Configuration(index) => {
                // The event carries the configuration for the contract's sake; the core already
                // holds it. An entry that does not decode was refused when it was appended.
                if let Some(entry) = d.log.get(index) {
                    // SAFETY: the entry's payload lives in its batch.
                    let bytes = unsafe { boundary::buffer_bytes(&entry.buf, "configuration") }?;
                    if let Ok(c) = conf_codec::decode(bytes) {
                        configuration::to_c(&c, &mut conf)?;
                    }
                }
                event.r#type = raft_event_type::RAFT_CONFIGURATION as c_int;
                event.body.configuration = raft_event_configuration { index, conf };
            }
            Derived::Snapshot(metadata, trailing) => {
                event.r#type = raft_event_type::RAFT_SNAPSHOT as c_int;
                event.body.snapshot = raft_event_snapshot { metadata, trailing };
            }
        }
        // SAFETY: as the caller's.
        let outcome = unsafe { step_event(r, d, &mut event) };
        if let Some(c) = derived_configuration(&mut event) {
            configuration::close(c);
        }
        outcome?;
    }
    Ok(())
}

/// The configuration a derived event owns, to close after its step.
fn derived_configuration(event: &mut raft_event) -> Option<&mut raft_configuration> {
    if event.r#type == raft_event_type::RAFT_CONFIGURATION as c_int {
        // SAFETY: the member selected by the type we set.
        return Some(unsafe { &mut event.body.configuration.conf });
    }
    if event.r#type == raft_event_type::RAFT_SNAPSHOT as c_int {
        // SAFETY: as above.
        return Some(unsafe { &mut event.body.snapshot.metadata.configuration });
    }
    None
}

/// What the driver needs to know of the core after a step, read in one short borrow so that
/// no reference to the instance is alive while the host's code runs (it may read the
/// instance through the API).
struct Facts {
    state: State,
    term: raft_term,
    vote: raft_id,
    commit: raft_index,
    transferee: raft_id,
    leader_known: bool,
}

/// The core of the instance `r`, for a short read.
///
/// # Safety
/// `r` must be initialised and idle, and the reference must be dropped before the host's code
/// runs.
pub(super) unsafe fn core_of<'a>(r: *mut raft) -> Result<&'a core::Raft, Failure> {
    // SAFETY: per the caller.
    Ok(&unsafe { instance::instance_mut(r) }?.core)
}

fn facts(core: &core::Raft) -> Facts {
    Facts {
        state: core.state(),
        term: core.current_term(),
        vote: core.voted_for(),
        commit: core.commit_index(),
        transferee: core.transferee(),
        leader_known: core.leader().is_some(),
    }
}

/// Carries out one update (docs/contract.md#update-order).
unsafe fn carry_out(r: *mut raft, d: &mut Driver, u: &mut raft_update) -> Result<(), Failure> {
    // SAFETY: the instance is initialised and idle between steps.
    let facts = facts(unsafe { core_of(r) }?);
    if u.flags & RAFT_UPDATE_STATE != 0 {
        d.state_changed(facts.state);
    }
    // SAFETY: as above.
    unsafe { d.check_change(r) }?;
    if u.flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR) != 0 {
        // SAFETY: the host's io.
        unsafe { d.persist_term_and_vote(facts.term, facts.vote) }?;
    }
    if u.flags & RAFT_UPDATE_ENTRIES != 0 {
        // SAFETY: the update's entries, handed to us by the step.
        unsafe { d.store_entries(r, &u.entries) }?;
    }
    if u.flags & RAFT_UPDATE_SNAPSHOT != 0 {
        // SAFETY: as above.
        if stream::is_streamed(&u.snapshot) {
            unsafe { d.store_snapshot_chunk(r, &u.snapshot) }?;
        } else {
            unsafe { d.store_received_snapshot(r, &u.snapshot) }?;
        }
    }
    if u.flags & RAFT_UPDATE_MESSAGES != 0 {
        for i in 0..u.messages.n as usize {
            // SAFETY: the library's queue holds `n` messages until the next step.
            let message = unsafe { *u.messages.batch.add(i) };
            // SAFETY: as above.
            unsafe { d.send(r, message) };
        }
    }
    // Also when the commit index did not move: an FSM that refused an entry gets it again.
    if u.flags & RAFT_UPDATE_COMMIT_INDEX != 0 || d.last_applied < facts.commit {
        // SAFETY: the host's fsm.
        unsafe { d.apply_committed(r, facts.commit, facts.state) }?;
    }
    d.check_transfer(&facts);
    if u.flags & RAFT_UPDATE_READS != 0 {
        d.note_reads(r);
    }
    d.complete_reads();
    // SAFETY: as above.
    unsafe { d.maybe_take_snapshot(r, facts.commit) };
    // SAFETY: as above.
    unsafe { publish_last_applied(r, d.last_applied) };
    Ok(())
}

impl Driver {
    fn state_changed(&mut self, state: State) {
        if self.was_leader && state != State::Leader {
            self.fail_pending(RAFT_LEADERSHIPLOST);
        }
        self.was_leader = state == State::Leader;
    }

    /// A promotion waiting for its server to catch up: submit the promotion once it caught up,
    /// fail the request if catch-up was aborted.
    unsafe fn check_change(&mut self, r: *mut raft) -> Result<(), Failure> {
        let Some(change) = &self.change else { return Ok(()) };
        if change.catch_up == 0 {
            return Ok(());
        }
        let (req, id) = (change.req, change.catch_up);
        // SAFETY: a short read; no host code runs while `core` lives.
        let core = unsafe { core_of(r) }?;
        match core.catch_up(id) {
            Ok(core::CatchUpStatus::Aborted) | Err(_) => {
                self.change = None;
                self.completed.push_back(Completion::Change(req, RAFT_NOCONNECTION));
            }
            Ok(core::CatchUpStatus::Finished) => {
                if core.transferee() != 0 {
                    self.change = None;
                    self.completed.push_back(Completion::Change(req, RAFT_LEADERSHIPLOST));
                    return Ok(());
                }
                let mut conf = core.configuration().clone();
                if let Some(s) = conf.servers.iter_mut().find(|s| s.id == id) {
                    s.role = core::Role::Voter;
                }
                if let Some(c) = self.change.as_mut() {
                    c.catch_up = 0;
                }
                let term = core.current_term();
                // Submitted after this update is carried out, as a new event.
                let payload = conf_codec::encode(&conf);
                self.derived_submit(r, term, payload);
            }
            _ => {}
        }
        Ok(())
    }

    /// Submits a promotion entry as soon as the current update is done. A failure (leadership
    /// lost meanwhile) fails the change request.
    fn derived_submit(&mut self, r: *mut raft, term: raft_term, payload: Vec<u8>) {
        let job = move |r: *mut raft| {
            // SAFETY: run by `drain` on the same instance.
            let outcome = unsafe {
                enter(r, true, |d| {
                    let mut entry = change_entry(term, &payload)?;
                    let index = core_of(r)?.last_index() + 1;
                    // SAFETY: the instance is initialised.
                    let result = submit(r, d, &mut entry);
                    match (&result, &d.change) {
                        (Err(_), _) => heap::free(entry.batch),
                        // SAFETY: the host's request, alive until its callback.
                        (Ok(()), Some(change)) => (*change.req).index = index,
                        (Ok(()), None) => {}
                    }
                    result
                })
            };
            if let Err(f) = outcome {
                // SAFETY: `r` is initialised; its driver is idle between calls.
                let d = unsafe { idle_driver(slot_ptr(r)) };
                if let Some(change) = d.change.take() {
                    d.completed.push_back(Completion::Change(change.req, f.code));
                }
            }
        };
        // SAFETY: `r` owns this driver; only the slot's cells are touched.
        unsafe { (*slot_ptr(r)).deferred.borrow_mut().push_back(Box::new(job)) };
    }

    /// Completes a transfer request once the transfer ended (C-Raft's rule: as leader it was
    /// abandoned; as follower, once a leader is known).
    fn check_transfer(&mut self, facts: &Facts) {
        if self.transfer.is_null() || facts.transferee != 0 {
            return;
        }
        match facts.state {
            State::Leader => self.end_transfer(),
            State::Follower if facts.leader_known => self.end_transfer(),
            _ => {}
        }
    }

    unsafe fn persist_term_and_vote(
        &mut self,
        term: raft_term,
        vote: raft_id,
    ) -> Result<(), Failure> {
        // SAFETY: the host's io and its methods (checked non-NULL at init).
        unsafe {
            let io = self.io;
            let rv = ((*io).set_term.unwrap())(io, term);
            if rv != 0 {
                return Err(self.fatal(io_failure(io, rv, "persist term")));
            }
            let rv = ((*io).set_vote.unwrap())(io, vote);
            if rv != 0 {
                return Err(self.fatal(io_failure(io, rv, "persist vote")));
            }
        }
        Ok(())
    }

    /// Records an error after which the instance must not go on (its durable state may lag
    /// behind what it would announce): it stops stepping and its requests fail.
    pub(super) fn fatal(&mut self, f: Failure) -> Failure {
        self.failed = true;
        self.fail_pending(f.code);
        self.end_transfer();
        f
    }

    unsafe fn store_entries(
        &mut self,
        r: *mut raft,
        e: &raft_update_entries,
    ) -> Result<(), Failure> {
        // SAFETY: the update's array of `n` entries, raft heap, now ours.
        let entries = unsafe { std::slice::from_raw_parts(e.batch, e.n as usize) };
        if e.index <= self.log.last_index() {
            self.log.truncate_from(e.index);
        }
        // SAFETY: the payload batches are handed over by the step.
        unsafe { self.log.push_all(entries) };
        heap::free(e.batch as *mut c_void);
        if e.index <= self.written {
            // SAFETY: the host's io.
            let rv = unsafe { ((*self.io).truncate.unwrap())(self.io, e.index) };
            if rv != 0 {
                return Err(self.fatal(unsafe { io_failure(self.io, rv, "truncate the log") }));
            }
        }
        let Some(lent) = self.log.lend(e.index, e.n as usize) else {
            return Ok(());
        };
        let mut req = Box::new(AppendRequest {
            req: raft_io_append { data: null_mut(), cb: None },
            r,
            index: e.index,
            lent,
        });
        req.req.data = &mut *req as *mut AppendRequest as *mut c_void;
        let n = req.lent.entries.len() as c_uint;
        let entries_ptr = req.lent.entries.as_ptr();
        let raw = Box::into_raw(req);
        // SAFETY: the request box lives until the callback (or the failure below).
        let rv = unsafe {
            ((*self.io).append.unwrap())(
                self.io,
                &mut (*raw).req,
                entries_ptr,
                n,
                Some(append_done),
            )
        };
        if rv != 0 {
            // SAFETY: the back-end refused: it will never call back.
            drop(unsafe { Box::from_raw(raw) });
            return Err(self.fatal(unsafe { io_failure(self.io, rv, "append entries") }));
        }
        self.written = e.index + n as u64 - 1;
        self.in_flight += 1;
        Ok(())
    }

    unsafe fn store_received_snapshot(
        &mut self,
        r: *mut raft,
        s: &raft_update_snapshot,
    ) -> Result<(), Failure> {
        let m = s.metadata;
        self.log.restore(m.index, m.term);
        self.written = m.index;
        self.installing = true;
        let mut req = Box::new(InstallRequest {
            req: raft_io_snapshot_put { data: null_mut(), cb: None },
            r,
            metadata: m,
            chunk: s.chunk,
            snapshot: raft_snapshot {
                index: m.index,
                term: m.term,
                configuration: m.configuration,
                configuration_index: m.configuration_index,
                bufs: null_mut(),
                n_bufs: 1,
            },
        });
        if self.taking {
            // Our own snapshot is being written: store the received one after it.
            self.held_install = Some(req);
            return Ok(());
        }
        req.req.data = &mut *req as *mut InstallRequest as *mut c_void;
        // SAFETY: as in `start_install`.
        unsafe { self.start_install(req) }
    }

    unsafe fn start_install(&mut self, mut req: Box<InstallRequest>) -> Result<(), Failure> {
        req.req.data = &mut *req as *mut InstallRequest as *mut c_void;
        req.snapshot.bufs = &mut req.chunk;
        let raw = Box::into_raw(req);
        // SAFETY: the request lives until its callback, or is reclaimed below.
        let rv = unsafe {
            ((*self.io).snapshot_put.unwrap())(
                self.io,
                0,
                &mut (*raw).req,
                &(*raw).snapshot,
                Some(install_done),
            )
        };
        if rv != 0 {
            // SAFETY: refused: no callback will come.
            let mut req = unsafe { Box::from_raw(raw) };
            configuration::close(&mut req.metadata.configuration);
            heap::free(req.chunk.base);
            self.installing = false;
            // SAFETY: the host's io, valid until closed.
            return Err(self.fatal(unsafe { io_failure(self.io, rv, "store a snapshot") }));
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Sends one message of an update, attaching entries from the log, a loaded snapshot or
    /// (streaming) a chunk read from the data directory.
    unsafe fn send(&mut self, r: *mut raft, mut message: raft_message) {
        let address = copy_address(message.server_address);
        message.server_address = address.as_ptr() as *const c_char;
        if message.r#type == raft_message_type::RAFT_INSTALL_SNAPSHOT_CHUNK as c_int {
            // SAFETY: the step's message, valid for this update.
            unsafe { self.send_snapshot_chunk(r, message, address) };
            return;
        }
        let mut lent = None;
        if message.r#type == raft_message_type::RAFT_APPEND_ENTRIES as c_int {
            // SAFETY: the member selected by the type.
            let ae = unsafe { &mut message.body.append_entries };
            if ae.n_entries > 0 {
                let Some(l) = self.log.lend(ae.prev_log_index + 1, ae.n_entries as usize) else {
                    return; // Compacted meanwhile: the leader will probe again.
                };
                ae.entries = l.entries.as_ptr() as *mut raft_entry;
                lent = Some(l);
            }
        }
        let req = SendRequest::new(r, message, address, lent, None);
        if message.r#type != raft_message_type::RAFT_INSTALL_SNAPSHOT as c_int {
            // SAFETY: the host's io; the request lives until its callback.
            unsafe { self.dispatch(req) };
            return;
        }
        let raw = Box::into_raw(req);
        // SAFETY: the request lives until its callback or is reclaimed on refusal.
        unsafe {
            let rv =
                ((*self.io).snapshot_get.unwrap())(self.io, &mut (*raw).get, Some(snapshot_loaded));
            if rv != 0 {
                // Delivery is best effort: the core retries on its own schedule.
                drop(Box::from_raw(raw));
                return;
            }
        }
        self.in_flight += 1;
    }

    /// Hands a message to `raft_io.send`, counted in flight until its callback (a refused
    /// send is a lost message: the core retries on its own schedule). A request already
    /// counted in flight (a snapshot or chunk read first) keeps its count.
    ///
    /// # Safety
    /// The driver's io must be valid.
    pub(super) unsafe fn dispatch(&mut self, req: Box<SendRequest>) {
        let counted = req.counted;
        let raw = Box::into_raw(req);
        // SAFETY: the request lives until its callback or is reclaimed on refusal.
        let rv = unsafe {
            (*raw).send.data = raw as *mut c_void;
            ((*self.io).send.unwrap())(self.io, &mut (*raw).send, &(*raw).message, Some(sent))
        };
        match (rv, counted) {
            (0, false) => self.in_flight += 1,
            (0, true) => {}
            (_, counted) => {
                // SAFETY: refused: no callback will come.
                drop(unsafe { Box::from_raw(raw) });
                if counted {
                    self.in_flight -= 1;
                }
            }
        }
    }

    /// Applies committed entries in order: restores a stored received snapshot first when the
    /// commit index reached it.
    unsafe fn apply_committed(
        &mut self,
        r: *mut raft,
        commit: raft_index,
        state: State,
    ) -> Result<(), Failure> {
        if let Some((index, _)) = self.installed {
            if commit >= index {
                let (index, mut buf) = self.installed.take().unwrap();
                // SAFETY: the host's fsm; on success the buffer becomes the FSM's.
                let rv = unsafe { ((*self.fsm).restore.unwrap())(self.fsm, &mut buf) };
                if rv != 0 {
                    heap::free(buf.base);
                    return Err(
                        self.fatal(Failure::new(rv, "the FSM failed to restore a snapshot"))
                    );
                }
                self.last_applied = index;
            }
        }
        while self.last_applied < commit {
            let index = self.last_applied + 1;
            let Some(entry) = self.log.get(index).cloned() else {
                break; // A snapshot is being installed.
            };
            match raft_entry_type::try_from(entry.kind) {
                Ok(raft_entry_type::RAFT_COMMAND) => {
                    let mut result = null_mut();
                    // SAFETY: the host's fsm; the payload stays ours.
                    let rv =
                        unsafe { ((*self.fsm).apply.unwrap())(self.fsm, &entry.buf, &mut result) };
                    if rv != 0 {
                        // Retried after the next step; the FSM said why through its own means.
                        // SAFETY: `r` is initialised.
                        unsafe {
                            instance::set_errmsg(
                                r,
                                &format!("the FSM failed to apply entry {index} ({rv})"),
                            )
                        };
                        break;
                    }
                    self.last_applied = index;
                    self.complete_applied(index, result);
                }
                Ok(raft_entry_type::RAFT_CHANGE) => {
                    self.last_applied = index;
                    if state == State::Leader {
                        // SAFETY: the host's request, alive until its callback.
                        let ours =
                            |c: &mut Change| c.catch_up == 0 && unsafe { (*c.req).index } == index;
                        if let Some(change) = self.change.take_if(ours) {
                            self.completed.push_back(Completion::Change(change.req, 0));
                        }
                    }
                    self.derived.push_back(Derived::Configuration(index));
                }
                _ => {
                    self.last_applied = index;
                    self.complete_applied(index, null_mut());
                }
            }
        }
        Ok(())
    }

    /// Takes a snapshot when enough entries were applied since the last one (C-Raft's rule).
    unsafe fn maybe_take_snapshot(&mut self, r: *mut raft, commit: raft_index) {
        if self.closing || self.failed || self.taking || self.installing || self.installed.is_some()
        {
            return;
        }
        if self.last_applied < commit || commit - self.log.snapshot_index() < self.threshold as u64
        {
            return;
        }
        let Some(term) = self.log.term_of(commit) else { return };
        let mut conf = raft_configuration { servers: null_mut(), n: 0 };
        // SAFETY: a short read; no host code runs while `core` lives.
        let Ok(core) = (unsafe { core_of(r) }) else { return };
        // The configuration of the latest change the snapshot covers, even one whose
        // RAFT_CONFIGURATION event is still to be stepped: a server restarting from this
        // snapshot must not fall back to an older configuration.
        let Some((configuration, conf_index)) = core.configuration_as_of(commit) else { return };
        if configuration::to_c(configuration, &mut conf).is_err() {
            return;
        }
        let mut req = Box::new(TakeRequest {
            put: raft_io_snapshot_put { data: null_mut(), cb: None },
            r,
            snapshot: raft_snapshot {
                index: commit,
                term,
                configuration: conf,
                configuration_index: conf_index,
                bufs: null_mut(),
                n_bufs: 0,
            },
            trailing: self.trailing,
        });
        // SAFETY: the host's fsm fills the buffers.
        let rv = unsafe {
            let fsm = self.fsm;
            let mut rv =
                ((*fsm).snapshot.unwrap())(fsm, &mut req.snapshot.bufs, &mut req.snapshot.n_bufs);
            if rv == 0 && (*fsm).version >= 3 {
                if let Some(more) = (*fsm).snapshot_async {
                    rv = more(fsm, &mut req.snapshot.bufs, &mut req.snapshot.n_bufs);
                }
            }
            rv
        };
        if rv != 0 {
            // SAFETY: whatever the FSM produced is released as after a write.
            unsafe { release_fsm_buffers(self.fsm, &mut req.snapshot) };
            configuration::close(&mut req.snapshot.configuration);
            return;
        }
        req.put.data = &mut *req as *mut TakeRequest as *mut c_void;
        let raw = Box::into_raw(req);
        // SAFETY: the request lives until its callback or is reclaimed on refusal.
        let rv = unsafe {
            ((*self.io).snapshot_put.unwrap())(
                self.io,
                self.trailing,
                &mut (*raw).put,
                &(*raw).snapshot,
                Some(snapshot_taken),
            )
        };
        if rv != 0 {
            // SAFETY: refused; no callback will come.
            let mut req = unsafe { Box::from_raw(raw) };
            unsafe { release_fsm_buffers(self.fsm, &mut req.snapshot) };
            configuration::close(&mut req.snapshot.configuration);
            return;
        }
        self.taking = true;
        self.in_flight += 1;
    }
}

/// The length of an FSM snapshot's data (its buffers together).
fn snapshot_len(s: &raft_snapshot) -> u64 {
    // SAFETY: the buffers the FSM produced, still ours.
    let bufs = unsafe { boundary::slice(s.bufs, s.n_bufs as usize, "snapshot buffers") };
    bufs.map_or(0, |bufs| bufs.iter().map(|b| b.len as u64).sum())
}

/// Releases the buffers an FSM snapshot produced: to the FSM when it finalizes them (version
/// 2+ with `snapshot_finalize`), else freed here.
unsafe fn release_fsm_buffers(fsm: *mut raft_fsm, s: &mut raft_snapshot) {
    // SAFETY: the host's fsm and the buffers it produced (raft heap).
    unsafe {
        if (*fsm).version >= 2 {
            if let Some(finalize) = (*fsm).snapshot_finalize {
                finalize(fsm, &mut s.bufs, &mut s.n_bufs);
                return;
            }
        }
        for i in 0..s.n_bufs as usize {
            heap::free((*s.bufs.add(i)).base);
        }
        heap::free(s.bufs as *mut c_void);
        s.bufs = null_mut();
        s.n_bufs = 0;
    }
}

/// Submits one entry of ours (a command, a barrier, a configuration). On error the entry's
/// payload is still the caller's.
///
/// # Safety
/// `r` must be the initialised instance owning `d`.
pub unsafe fn submit(r: *mut raft, d: &mut Driver, entry: &mut raft_entry) -> Result<(), Failure> {
    submit_many(r, d, std::slice::from_mut(entry))
}

/// As [`submit`], for several entries of one request.
///
/// # Safety
/// As [`submit`].
pub unsafe fn submit_many(
    r: *mut raft,
    d: &mut Driver,
    entries: &mut [raft_entry],
) -> Result<(), Failure> {
    let mut event = zeroed_event();
    event.r#type = raft_event_type::RAFT_SUBMIT as c_int;
    event.body.submit =
        raft_event_submit { entries: entries.as_mut_ptr(), n: entries.len() as c_uint };
    // SAFETY: forwarded.
    unsafe { step_event(r, d, &mut event) }
}

/// A `RAFT_CHANGE` entry of `term` holding `payload`, in a new raft-heap batch.
pub fn change_entry(term: raft_term, payload: &[u8]) -> Result<raft_entry, Failure> {
    let buf = configuration::copy_to_heap(payload)?;
    Ok(raft_entry { term, r#type: raft_entry_type::RAFT_CHANGE as c_int, buf, batch: buf.base })
}

// ---- raft_io requests and their callbacks ---------------------------------------------------

struct AppendRequest {
    req: raft_io_append,
    r: *mut raft,
    index: raft_index,
    lent: Lent,
}

unsafe extern "C" fn append_done(req: *mut raft_io_append, status: c_int) {
    boundary::guard(|| {
        // SAFETY: `data` is the box created in `store_entries`, reclaimed once here.
        let req = unsafe { Box::from_raw((*req).data as *mut AppendRequest) };
        let r = req.r;
        // SAFETY: the instance lives while its requests are in flight.
        unsafe {
            io_callback(r, move |d| {
                d.in_flight -= 1;
                if d.closing {
                    return;
                }
                if status != 0 {
                    let f =
                        Failure::new(status, format!("append at {} failed ({status})", req.index));
                    instance::set_errmsg(r, &f.message);
                    d.fatal(f);
                    return;
                }
                if d.installing {
                    return; // Those entries are about to be replaced by the snapshot.
                }
                // Only the written entries still in the log (same index and term) count.
                let mut durable = 0;
                for (i, e) in req.lent.entries.iter().enumerate() {
                    if d.log.term_of(req.index + i as u64) != Some(e.term) {
                        break;
                    }
                    durable = req.index + i as u64;
                }
                if durable == 0 {
                    return;
                }
                let mut event = zeroed_event();
                event.r#type = raft_event_type::RAFT_PERSISTED_ENTRIES as c_int;
                event.body.persisted_entries = raft_event_persisted_entries { index: durable };
                report(r, step_event(r, d, &mut event));
            })
        }
    })
}

struct InstallRequest {
    req: raft_io_snapshot_put,
    r: *mut raft,
    metadata: raft_snapshot_metadata,
    chunk: raft_buffer,
    snapshot: raft_snapshot,
}

unsafe extern "C" fn install_done(req: *mut raft_io_snapshot_put, status: c_int) {
    boundary::guard(|| {
        // SAFETY: `data` is the box created in `start_install`, reclaimed once here.
        let mut req = unsafe { Box::from_raw((*req).data as *mut InstallRequest) };
        let r = req.r;
        // SAFETY: the instance lives while its requests are in flight.
        unsafe {
            io_callback(r, move |d| {
                d.in_flight -= 1;
                d.installing = false;
                if d.closing || status != 0 {
                    configuration::close(&mut req.metadata.configuration);
                    heap::free(req.chunk.base);
                    if !d.closing {
                        let f = Failure::new(status, "storing a received snapshot failed");
                        instance::set_errmsg(r, &f.message);
                        d.fatal(f);
                    }
                    return;
                }
                d.installed = Some((req.metadata.index, req.chunk));
                let mut event = zeroed_event();
                event.r#type = raft_event_type::RAFT_PERSISTED_SNAPSHOT as c_int;
                event.body.persisted_snapshot =
                    raft_event_persisted_snapshot { metadata: req.metadata, offset: 0, last: 1 };
                report(r, step_event(r, d, &mut event));
                configuration::close(&mut req.metadata.configuration);
            })
        }
    })
}

struct TakeRequest {
    put: raft_io_snapshot_put,
    r: *mut raft,
    snapshot: raft_snapshot,
    trailing: c_uint,
}

unsafe extern "C" fn snapshot_taken(req: *mut raft_io_snapshot_put, status: c_int) {
    boundary::guard(|| {
        // SAFETY: `data` is the box created in `maybe_take_snapshot`, reclaimed once here.
        let mut req = unsafe { Box::from_raw((*req).data as *mut TakeRequest) };
        let r = req.r;
        // SAFETY: the instance lives while its requests are in flight.
        unsafe {
            io_callback(r, move |d| {
                d.in_flight -= 1;
                d.taking = false;
                let len = snapshot_len(&req.snapshot);
                release_fsm_buffers(d.fsm, &mut req.snapshot);
                let s = &req.snapshot;
                if !d.closing && status == 0 {
                    d.log.compact(s.index, s.term, req.trailing);
                    let metadata = raft_snapshot_metadata {
                        index: s.index,
                        term: s.term,
                        configuration: s.configuration,
                        configuration_index: s.configuration_index,
                    };
                    // Ownership of the configuration moves to the derived event.
                    d.derived.push_back(Derived::Snapshot(metadata, req.trailing));
                    report(r, step_derived(r, d));
                    stream::note_snapshot_len(r, s.index, len);
                } else {
                    configuration::close(&mut req.snapshot.configuration);
                }
                if let Some(held) = d.held_install.take() {
                    if d.closing {
                        let mut held = held;
                        configuration::close(&mut held.metadata.configuration);
                        heap::free(held.chunk.base);
                        d.installing = false;
                    } else {
                        report(r, d.start_install(held));
                    }
                }
            })
        }
    })
}

pub(super) struct SendRequest {
    send: raft_io_send,
    get: raft_io_snapshot_get,
    r: *mut raft,
    message: raft_message,
    _address: Vec<u8>,
    _lent: Option<Lent>,
    /// The snapshot attached to an InstallSnapshot, or the configuration and data attached to
    /// a snapshot chunk: ours, freed with the request.
    snapshot_data: Option<(raft_configuration, raft_buffer)>,
    /// Already counted in the driver's requests in flight (its snapshot or chunk was read).
    counted: bool,
}

impl SendRequest {
    /// A request for `message`, whose address points into `address`; `attached` is what was
    /// read for it (and so counted in flight already).
    pub(super) fn new(
        r: *mut raft,
        message: raft_message,
        address: Vec<u8>,
        lent: Option<Lent>,
        attached: Option<(raft_configuration, raft_buffer)>,
    ) -> Box<SendRequest> {
        let mut req = Box::new(SendRequest {
            send: raft_io_send { data: null_mut(), cb: None },
            get: raft_io_snapshot_get { data: null_mut(), cb: None },
            r,
            message,
            _address: address,
            _lent: lent,
            counted: attached.is_some(),
            snapshot_data: attached,
        });
        let data = &mut *req as *mut SendRequest as *mut c_void;
        req.send.data = data;
        req.get.data = data;
        req
    }
}

impl Drop for SendRequest {
    fn drop(&mut self) {
        if let Some((mut conf, data)) = self.snapshot_data.take() {
            configuration::close(&mut conf);
            heap::free(data.base);
        }
    }
}

unsafe extern "C" fn sent(req: *mut raft_io_send, _status: c_int) {
    boundary::guard(|| {
        // SAFETY: `data` is the box created in `send`, reclaimed once here.
        let req = unsafe { Box::from_raw((*req).data as *mut SendRequest) };
        let r = req.r;
        // SAFETY: the instance lives while its requests are in flight.
        unsafe {
            io_callback(r, move |d| {
                // Delivery is best effort: a failed send is a lost message.
                d.in_flight -= 1;
                drop(req);
            })
        }
    })
}

unsafe extern "C" fn snapshot_loaded(
    get: *mut raft_io_snapshot_get,
    snapshot: *mut raft_snapshot,
    status: c_int,
) {
    boundary::guard(|| {
        // SAFETY: `data` is the box created in `send`; kept until `sent` or reclaimed here.
        let raw = unsafe { (*get).data as *mut SendRequest };
        let r = unsafe { (*raw).r };
        // SAFETY: the instance lives while its requests are in flight.
        unsafe {
            io_callback(r, move |d| {
                let mut req = Box::from_raw(raw);
                let taken = if status == 0 { take_snapshot(snapshot) } else { None };
                let Some((conf, conf_index, data, index, term)) = taken else {
                    d.in_flight -= 1;
                    return;
                };
                req.snapshot_data = Some((conf, data));
                let is = &mut req.message.body.install_snapshot;
                is.conf = conf;
                is.conf_index = conf_index;
                is.data = data;
                if index > is.last_index {
                    is.last_index = index;
                    is.last_term = term;
                }
                if d.closing {
                    d.in_flight -= 1;
                    return;
                }
                req.counted = true;
                d.dispatch(req);
            })
        }
    })
}

/// Takes over a snapshot loaded by `raft_io`: its configuration, and its data as one buffer
/// (several buffers are joined). The struct and its buffers array are freed.
unsafe fn take_snapshot(
    s: *mut raft_snapshot,
) -> Option<(raft_configuration, raft_index, raft_buffer, raft_index, raft_term)> {
    if s.is_null() {
        return None;
    }
    // SAFETY: raft heap memory handed over by the back-end.
    unsafe {
        let snap = *s;
        let data = join_buffers(snap.bufs, snap.n_bufs as usize);
        heap::free(snap.bufs as *mut c_void);
        heap::free(s as *mut c_void);
        let Some(data) = data else {
            let mut conf = snap.configuration;
            configuration::close(&mut conf);
            return None;
        };
        Some((snap.configuration, snap.configuration_index, data, snap.index, snap.term))
    }
}

/// One buffer with the contents of `n` buffers (freed); the single buffer itself when `n` is 1.
///
/// # Safety
/// `bufs` must hold `n` raft-heap buffers now owned by the caller.
pub unsafe fn join_buffers(bufs: *mut raft_buffer, n: usize) -> Option<raft_buffer> {
    if n == 1 {
        // SAFETY: per the caller.
        return Some(unsafe { *bufs });
    }
    // SAFETY: per the caller.
    let parts = unsafe { boundary::slice(bufs, n, "snapshot buffers") }.ok()?;
    let total: usize = parts.iter().map(|b| b.len).sum();
    let base = heap::malloc(total.max(1));
    let mut at = 0;
    for part in parts {
        if !base.is_null() && part.len > 0 {
            // SAFETY: `base` has room for `total` bytes; each part holds `len` bytes.
            unsafe {
                ptr::copy_nonoverlapping(
                    part.base as *const u8,
                    (base as *mut u8).add(at),
                    part.len,
                )
            };
        }
        at += part.len;
        heap::free(part.base);
    }
    if base.is_null() {
        return None;
    }
    Some(raft_buffer { base, len: total })
}

// ---- helpers --------------------------------------------------------------------------------

/// An event with every byte zero, as the contract asks before filling one in.
pub fn zeroed_event() -> raft_event {
    // SAFETY: raft_event is plain C data (integers, pointers, a union of such); all-zero bytes
    // are a valid value of every member.
    unsafe { std::mem::zeroed() }
}

/// An update for the step to fill (it need not be initialised; zero is a valid value).
fn zeroed_update() -> raft_update {
    // SAFETY: plain C data, as above.
    unsafe { std::mem::zeroed() }
}

/// The back-end's clock.
///
/// # Safety
/// `io` must be the host's initialised back-end.
pub unsafe fn now(io: *mut raft_io) -> raft_time {
    // SAFETY: per the caller; `time` checked non-NULL at init.
    unsafe { ((*io).time.unwrap())(io) }
}

/// A failure carrying the back-end's own message.
///
/// # Safety
/// `io` must be the host's back-end.
pub unsafe fn io_failure(io: *mut raft_io, code: c_int, what: &str) -> Failure {
    // SAFETY: `errmsg` is a fixed buffer inside the host's struct.
    let bytes = unsafe { &*(ptr::addr_of!((*io).errmsg) as *const [u8; RAFT_ERRMSG_BUF_SIZE]) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let detail = String::from_utf8_lossy(&bytes[..end]);
    if detail.is_empty() {
        Failure::new(code, format!("{what}: error {code}"))
    } else {
        Failure::new(code, format!("{what}: {detail}"))
    }
}

fn errmsg_of(r: *mut raft) -> String {
    // SAFETY: `errmsg` is a fixed buffer inside the initialised struct.
    let bytes = unsafe { &*(ptr::addr_of!((*r).errmsg) as *const [u8; RAFT_ERRMSG_BUF_SIZE]) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A NUL-terminated copy of a destination address (the library's copy is valid only until the
/// next step, and a send completes later).
fn copy_address(address: *const c_char) -> Vec<u8> {
    let mut copy = Vec::new();
    if !address.is_null() {
        // SAFETY: the library's NUL-terminated copy, valid for this step.
        copy.extend_from_slice(unsafe { std::ffi::CStr::from_ptr(address) }.to_bytes());
    }
    copy.push(0);
    copy
}

/// Records the error of an io-driven step in the instance's message (nobody else will see it).
pub(super) unsafe fn report(r: *mut raft, outcome: Result<(), Failure>) {
    if let Err(f) = outcome {
        // SAFETY: an initialised struct raft.
        unsafe { instance::set_errmsg(r, &f.message) };
    }
}

/// Publishes `last_applied` (the rest of `struct raft` is published by every step).
///
/// # Safety
/// `r` must point to an initialised `struct raft`.
pub unsafe fn publish_last_applied(r: *mut raft, index: raft_index) {
    // SAFETY: a plain member of the caller's struct.
    unsafe { ptr::write(ptr::addr_of_mut!((*r).last_applied), index) };
}

/// Frees the driver and the instance once closing finished: the back-end closed, no request
/// is in flight and no call is running. Then calls the host's close callback.
///
/// # Safety
/// `slot` must be the live slot of `r`, not busy.
unsafe fn finish_close_if_done(r: *mut raft, slot: *mut Slot) {
    // SAFETY: per the caller; the slot is alive until freed here.
    unsafe {
        let d = idle_driver(slot);
        if !d.closing || !d.io_closed || d.in_flight > 0 || (*slot).depth.get() > 0 {
            return;
        }
        let cb = (*r).close_cb;
        drop(Box::from_raw(slot));
        ptr::write(ptr::addr_of_mut!((*r).private_classic), null_mut());
        instance::release(r);
        if let Some(cb) = cb {
            cb(r);
        }
    }
}

/// The back-end finished closing.
pub unsafe extern "C" fn io_closed(io: *mut raft_io) {
    boundary::guard(|| {
        // SAFETY: `data` is the instance, set by raft_init.
        let r = unsafe { (*io).data as *mut raft };
        // SAFETY: as above.
        let slot = unsafe { slot_ptr(r) };
        if slot.is_null() {
            return;
        }
        // SAFETY: alive until `finish_close_if_done` frees it. A back-end may close from
        // inside a call of ours (busy): the flag is then set through the lent driver's owner
        // once it returns.
        unsafe {
            if (*slot).busy.get() {
                (*slot).deferred.borrow_mut().push_back(Box::new(|r| io_closed((*r).io)));
                return;
            }
            let d = idle_driver(slot);
            d.io_closed = true;
            if d.in_flight > 0 {
                // A back-end that closes before calling back every request breaks its
                // contract; the instance is kept (leaked) rather than freed under it.
                instance::set_errmsg(r, "raft_io closed with requests in flight");
            }
            finish_close_if_done(r, slot);
        }
    })
}
