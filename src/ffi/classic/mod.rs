//! C-Raft's classic API (`raft_io`/`raft_fsm`), as a driver over the same core as `raft_step`
//! (docs/classic.md). This file holds the exported functions; [`driver`] carries out updates
//! through `raft_io`, [`log`] keeps the entries' payloads.

mod driver;
mod log;
mod stream;

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::ptr::{self, null_mut};

use driver::{enter, io_failure, now, step_event, submit_many, Change, Driver, Pending};

use super::boundary::{self, guard, Failure};
use super::configuration;
use super::heap;
use super::instance;
use super::types::*;
use crate::codec::configuration as conf_codec;
use crate::core::{self, Role};

/// Checks that the host's back-end and state machine can be driven, and attaches a driver to
/// the instance. Called by `raft_init` after the instance exists.
///
/// # Safety
/// `r` must be an initialised instance; `io` and `fsm` the host's structs, valid until closed.
pub unsafe fn attach(r: *mut raft, io: *mut raft_io, fsm: *mut raft_fsm) -> Result<(), Failure> {
    // SAFETY: per the caller.
    let (io_ref, fsm_ref) = unsafe { (&*io, &*fsm) };
    check_io(io_ref)?;
    check_fsm(fsm_ref)?;
    // SAFETY: per the caller; C-Raft programs rely on `io->data` being the instance.
    unsafe {
        (*io).data = r as *mut c_void;
        let address = (*r).address;
        let rv = ((*io).init.unwrap())(io, (*r).id, address);
        if rv != 0 {
            return Err(io_failure(io, rv, "io"));
        }
        let seed = ((*io).random.unwrap())(io, 0, c_int::MAX);
        super::instance::raft_seed(r, seed as c_uint);
        (*r).io = io;
        (*r).fsm = fsm;
        let slot = Box::new(driver::Slot::new(Driver::new(io, fsm)));
        ptr::write(ptr::addr_of_mut!((*r).private_classic), Box::into_raw(slot) as *mut c_void);
    }
    Ok(())
}

fn check_io(io: &raft_io) -> Result<(), Failure> {
    if io.version < 1 || io.version > 2 {
        return Err(Failure::invalid(format!("io->version must be 1 or 2, not {}", io.version)));
    }
    let required = [
        ("init", io.init.is_some()),
        ("close", io.close.is_some()),
        ("load", io.load.is_some()),
        ("start", io.start.is_some()),
        ("bootstrap", io.bootstrap.is_some()),
        ("set_term", io.set_term.is_some()),
        ("set_vote", io.set_vote.is_some()),
        ("send", io.send.is_some()),
        ("append", io.append.is_some()),
        ("truncate", io.truncate.is_some()),
        ("snapshot_put", io.snapshot_put.is_some()),
        ("snapshot_get", io.snapshot_get.is_some()),
        ("time", io.time.is_some()),
        ("random", io.random.is_some()),
    ];
    match required.iter().find(|(_, set)| !set) {
        Some((name, _)) => Err(Failure::invalid(format!("io->{name} is NULL"))),
        None => Ok(()),
    }
}

fn check_fsm(fsm: &raft_fsm) -> Result<(), Failure> {
    if fsm.version < 1 || fsm.version > 3 {
        return Err(Failure::invalid(format!("fsm->version must be 1 to 3, not {}", fsm.version)));
    }
    if fsm.apply.is_none() || fsm.snapshot.is_none() || fsm.restore.is_none() {
        return Err(Failure::invalid("fsm->apply, snapshot and restore must be set"));
    }
    Ok(())
}

/// Whether `r` was initialised in the classic mode.
///
/// # Safety
/// `r` must point to an initialised `struct raft`.
pub unsafe fn is_classic(r: *mut raft) -> bool {
    // SAFETY: per the caller.
    !unsafe { driver::slot_ptr(r) }.is_null()
}

/// Whether the classic-mode instance `r` can stream snapshots: only over libraft-rs's
/// `raft_uv`, whose data directory takes a snapshot chunk by chunk (`raft_io` itself has no
/// method for a part of a snapshot).
///
/// # Safety
/// `r` must be an initialised classic-mode instance.
pub unsafe fn can_stream_snapshots(r: *mut raft) -> bool {
    // SAFETY: per the caller; `io` is the host's, valid until closed.
    unsafe {
        let io = (*r).io;
        !io.is_null() && super::uv::stream::is_raft_uv(io)
    }
}

/// `raft_close` in the classic mode: fails every pending request with `RAFT_SHUTDOWN`, ends a
/// transfer, fires those callbacks, closes the back-end and, once it and every request in
/// flight completed, frees the instance and calls `cb`.
///
/// # Safety
/// `r` must be an initialised classic-mode instance.
pub unsafe fn close(r: *mut raft, cb: raft_close_cb) -> Result<(), Failure> {
    // SAFETY: per the caller.
    unsafe {
        enter(r, true, |d| {
            if d.closing {
                return Err(Failure::invalid("raft_close was already called"));
            }
            d.closing = true;
            d.end_transfer();
            d.fail_pending(RAFT_SHUTDOWN);
            ptr::write(ptr::addr_of_mut!((*r).close_cb), cb);
            Ok(())
        })?;
        // Outside `enter`: the back-end may call back (even close) synchronously.
        let io = (*r).io;
        ((*io).close.unwrap())(io, Some(driver::io_closed));
    }
    Ok(())
}

/// Requests need a started instance; before `raft_start` it is not the leader (C-Raft's answer).
fn require_started(d: &Driver) -> Result<(), Failure> {
    if !d.started {
        return Err(Failure::new(RAFT_NOTLEADER, "not started: not the leader"));
    }
    Ok(())
}

/// Runs an API call of the classic mode: `r` must be a classic-mode instance that is not
/// closing. Errors go to `raft_errmsg` and come back as the status code.
fn api(r: *mut raft, body: impl FnOnce(&mut Driver) -> Result<(), Failure>) -> c_int {
    guard(|| {
        // SAFETY: `r` is NULL or a struct raft of the host.
        if let Err(f) = unsafe { instance::instance_mut(r) } {
            if f.code == RAFT_BUSY {
                // SAFETY: an initialised struct raft.
                unsafe { instance::set_errmsg(r, &f.message) };
            }
            return f.code;
        }
        // SAFETY: initialised (checked above).
        if !unsafe { is_classic(r) } {
            let f = Failure::invalid("only in the classic mode (raft_init with io and fsm)");
            // SAFETY: as above.
            unsafe { instance::set_errmsg(r, &f.message) };
            return f.code;
        }
        // SAFETY: a classic-mode instance.
        let outcome = unsafe {
            enter(r, false, |d| {
                if d.closing {
                    return Err(Failure::new(RAFT_SHUTDOWN, "the instance is closing"));
                }
                body(d)
            })
        };
        match outcome {
            Ok(()) => 0,
            Err(f) => {
                // SAFETY: as above.
                unsafe { instance::set_errmsg(r, &f.message) };
                f.code
            }
        }
    })
}

/// Bootstraps a brand-new server with `conf` through `raft_io.bootstrap` (which stores term 1
/// and the configuration as entry 1). Only before `raft_start()`. Errors: `RAFT_CANTBOOTSTRAP`
/// (the back-end found existing state), `RAFT_BUSY` (started already), `RAFT_INVALID` (NULL or
/// malformed configuration, not the classic mode), the back-end's codes.
#[no_mangle]
pub extern "C" fn raft_bootstrap(r: *mut raft, conf: *const raft_configuration) -> c_int {
    configure(r, conf, "bootstrap", |io| io.bootstrap)
}

/// Forces `conf` as the configuration, appended to the stored log through `raft_io.recover`,
/// to recover from a lost majority. Only before `raft_start()`, on a stopped cluster (see
/// docs/classic.md). Errors as `raft_bootstrap`, and `RAFT_INVALID` when the back-end has no
/// `recover`.
#[no_mangle]
pub extern "C" fn raft_recover(r: *mut raft, conf: *const raft_configuration) -> c_int {
    configure(r, conf, "recover", |io| io.recover)
}

type ConfigureFn = Option<unsafe extern "C" fn(*mut raft_io, *const raft_configuration) -> c_int>;

fn configure(
    r: *mut raft,
    conf: *const raft_configuration,
    what: &'static str,
    method: impl FnOnce(&raft_io) -> ConfigureFn,
) -> c_int {
    api(r, |d| {
        if d.started {
            return Err(Failure::new(RAFT_BUSY, format!("{what} must come before raft_start")));
        }
        // SAFETY: the host's configuration, checked.
        let c = unsafe { boundary::non_null(conf, "configuration") }?;
        // SAFETY: as above.
        let parsed = unsafe { configuration::from_c(c) }?;
        if parsed.is_empty() {
            return Err(Failure::invalid("the configuration has no server"));
        }
        // SAFETY: the host's io, valid until closed.
        let Some(call) = method(unsafe { &*d.io }) else {
            return Err(Failure::invalid(format!("io->{what} is NULL")));
        };
        // SAFETY: as above.
        let rv = unsafe { call(d.io, c) };
        if rv != 0 {
            return Err(unsafe { io_failure(d.io, rv, what) });
        }
        Ok(())
    })
}

/// Loads the durable state through `raft_io.load`, restores the FSM from the snapshot if any,
/// starts the core and then the back-end (`raft_io.start` with the heartbeat timeout as tick).
/// Errors: `RAFT_BUSY` (started already), the back-end's or FSM's codes, the core's
/// refusal of the loaded state (`RAFT_MALFORMED`, `RAFT_CORRUPT`...).
#[no_mangle]
pub extern "C" fn raft_start(r: *mut raft) -> c_int {
    api(r, |d| {
        if d.started {
            return Err(Failure::new(RAFT_BUSY, "raft_start was already called"));
        }
        // SAFETY: a classic-mode instance owning `d`.
        unsafe { start(r, d) }
    })
}

unsafe fn start(r: *mut raft, d: &mut Driver) -> Result<(), Failure> {
    let mut term = 0;
    let mut voted_for = 0;
    let mut snapshot: *mut raft_snapshot = null_mut();
    let mut start_index = 0;
    let mut entries: *mut raft_entry = null_mut();
    let mut n = 0usize;
    // SAFETY: the host's io; the outputs are ours afterwards.
    let rv = unsafe {
        ((*d.io).load.unwrap())(
            d.io,
            &mut term,
            &mut voted_for,
            &mut snapshot,
            &mut start_index,
            &mut entries,
            &mut n,
        )
    };
    if rv != 0 {
        // SAFETY: the host's io, valid until closed.
        return Err(unsafe { io_failure(d.io, rv, "io") });
    }
    // SAFETY: raft heap memory handed over by the back-end.
    let loaded = unsafe { Loaded::take(snapshot, entries, n) }?;
    let mut metadata = None;
    let loaded_len = loaded.snapshot.as_ref().map(|s| (s.metadata.index, s.data.len as u64));
    if let Some(s) = &loaded.snapshot {
        let mut data = s.data;
        // SAFETY: the host's fsm; on success the buffer is the FSM's.
        let rv = unsafe { ((*d.fsm).restore.unwrap())(d.fsm, &mut data) };
        if rv != 0 {
            heap::free(data.base);
            let mut loaded = loaded;
            loaded.close();
            return Err(Failure::new(rv, "the FSM failed to restore the snapshot"));
        }
        d.last_applied = s.metadata.index;
        metadata = Some(s.metadata);
    }
    let start_index = start_index.max(1);
    let mut event = driver::zeroed_event();
    event.r#type = raft_event_type::RAFT_START as c_int;
    let mut meta_copy = metadata;
    event.body.start = raft_event_start {
        term,
        voted_for,
        metadata: meta_copy.as_mut().map_or(null_mut(), |m| m as *mut _),
        start_index,
        entries: loaded.entries,
        n_entries: loaded.n as c_uint,
    };
    // The log takes the loaded batches first: entries the start itself produces (a sole
    // voter's barrier) are appended after them.
    // SAFETY: the batches are ours now.
    unsafe {
        let snap = metadata.map_or((0, 0), |m| (m.index, m.term));
        d.log.load(snap, start_index, loaded.entry_slice());
    }
    d.note_loaded();
    // SAFETY: the event points at the loaded state, alive for the step.
    let outcome = unsafe { step_event(r, d, &mut event) };
    let mut loaded = loaded;
    if let Err(f) = outcome {
        d.log = log::EntryCache::new(); // frees the batches
        loaded.close();
        return Err(f);
    }
    loaded.close();
    if let Some((index, len)) = loaded_len {
        // SAFETY: the instance is initialised and between steps.
        unsafe { stream::note_snapshot_len(r, index, len) };
    }
    d.started = true;
    // SAFETY: the instance is published; the host's io.
    unsafe {
        driver::publish_last_applied(r, d.last_applied);
        let heartbeat = (*r).heartbeat_timeout;
        let rv = ((*d.io).start.unwrap())(d.io, heartbeat, Some(tick), Some(received));
        if rv != 0 {
            return Err(io_failure(d.io, rv, "io start"));
        }
    }
    Ok(())
}

/// What `raft_io.load` handed over, released on every path.
struct Loaded {
    snapshot: Option<LoadedSnapshot>,
    entries: *mut raft_entry,
    n: usize,
}

struct LoadedSnapshot {
    metadata: raft_snapshot_metadata,
    data: raft_buffer,
}

impl Loaded {
    unsafe fn take(
        s: *mut raft_snapshot,
        entries: *mut raft_entry,
        n: usize,
    ) -> Result<Loaded, Failure> {
        let mut loaded =
            Loaded { snapshot: None, entries, n: if entries.is_null() { 0 } else { n } };
        if !s.is_null() {
            // SAFETY: raft heap memory handed over by the back-end.
            let snap = unsafe { *s };
            let data = unsafe { driver::join_buffers(snap.bufs, snap.n_bufs as usize) };
            heap::free(snap.bufs as *mut c_void);
            heap::free(s as *mut c_void);
            let metadata = raft_snapshot_metadata {
                index: snap.index,
                term: snap.term,
                configuration: snap.configuration,
                configuration_index: snap.configuration_index,
            };
            let Some(data) = data else {
                let mut conf = snap.configuration;
                configuration::close(&mut conf);
                loaded.close_with_batches();
                return Err(Failure::nomem());
            };
            loaded.snapshot = Some(LoadedSnapshot { metadata, data });
        }
        Ok(loaded)
    }

    fn entry_slice(&self) -> &[raft_entry] {
        if self.entries.is_null() {
            return &[];
        }
        // SAFETY: the back-end's array of `n` entries.
        unsafe { std::slice::from_raw_parts(self.entries, self.n) }
    }

    /// Frees the array and the snapshot's configuration (the batches went to the log, the data
    /// to the FSM).
    fn close(&mut self) {
        heap::free(self.entries as *mut c_void);
        self.entries = null_mut();
        if let Some(s) = self.snapshot.as_mut() {
            configuration::close(&mut s.metadata.configuration);
        }
    }

    /// As [`Self::close`], and the entries' batches too (nobody took them).
    fn close_with_batches(&mut self) {
        let mut last: *mut c_void = null_mut();
        for e in self.entry_slice() {
            if e.batch != last {
                heap::free(e.batch);
                last = e.batch;
            }
        }
        self.close();
    }
}

unsafe extern "C" fn tick(io: *mut raft_io) {
    guard(|| {
        // SAFETY: `data` is the instance (raft_init).
        let r = unsafe { (*io).data as *mut raft };
        // SAFETY: a classic-mode instance while its back-end runs.
        let _ = unsafe {
            enter(r, true, |d| {
                if d.closing || d.failed {
                    return Ok(());
                }
                let due = {
                    // SAFETY: a short read.
                    let inst = instance::instance_mut(r)?;
                    inst.core.timeout()
                };
                if now(d.io) < due {
                    return Ok(());
                }
                let mut event = driver::zeroed_event();
                event.r#type = raft_event_type::RAFT_TIMEOUT as c_int;
                let outcome = step_event(r, d, &mut event);
                if let Err(f) = &outcome {
                    instance::set_errmsg(r, &f.message);
                }
                Ok(())
            })
        };
    })
}

unsafe extern "C" fn received(io: *mut raft_io, message: *mut raft_message) {
    guard(|| {
        // SAFETY: `data` is the instance (raft_init).
        let r = unsafe { (*io).data as *mut raft };
        if message.is_null() {
            return;
        }
        // SAFETY: the back-end's message, valid for this call; what it points to is ours, except
        // the sender's address, copied because a busy driver handles the message later.
        let mut msg = unsafe { *message };
        let address = unsafe { owned_address(msg.server_address) };
        // SAFETY: a classic-mode instance while its back-end runs.
        unsafe {
            driver::io_callback(r, move |d| {
                msg.server_address = address.as_ref().map_or(ptr::null(), |a| a.as_ptr());
                if d.closing || d.failed {
                    release_received(&mut msg, true);
                    return;
                }
                let mut event = driver::zeroed_event();
                event.r#type = raft_event_type::RAFT_RECEIVE as c_int;
                event.body.receive = raft_event_receive { message: &mut msg };
                let outcome = step_event(r, d, &mut event);
                release_received(&mut msg, outcome.is_err());
                if let Err(f) = &outcome {
                    instance::set_errmsg(r, &f.message);
                }
            })
        };
    })
}

/// A copy of the sender's address (None for NULL, which the step refuses).
unsafe fn owned_address(address: *const c_char) -> Option<std::ffi::CString> {
    if address.is_null() {
        return None;
    }
    // SAFETY: the back-end's NUL-terminated string, valid for the call.
    Some(unsafe { std::ffi::CStr::from_ptr(address) }.to_owned())
}

/// Frees what a received message carried that the step did not take (docs/contract.md: the
/// entries array and the configuration always; the payloads only when the step failed).
unsafe fn release_received(m: &mut raft_message, step_failed: bool) {
    // SAFETY: the member selected by the type; raft heap memory of the back-end.
    unsafe {
        if m.r#type == raft_message_type::RAFT_APPEND_ENTRIES as c_int {
            let ae = &mut m.body.append_entries;
            if !ae.entries.is_null() {
                if step_failed {
                    let entries = std::slice::from_raw_parts(ae.entries, ae.n_entries as usize);
                    let mut last: *mut c_void = null_mut();
                    for e in entries {
                        if e.batch != last {
                            heap::free(e.batch);
                            last = e.batch;
                        }
                    }
                }
                heap::free(ae.entries as *mut c_void);
            }
        } else {
            super::message::release_snapshot_carried(m, !step_failed);
        }
    }
}

/// Proposes commands: `n` entries with the payloads of `bufs` (raft heap memory; on success the
/// library owns it, on error it stays the caller's). The callback fires once the last of them
/// is applied to the FSM, with the FSM's result. Errors: `RAFT_NOTLEADER`, `RAFT_NOSPACE`,
/// `RAFT_INVALID` (NULL pointers, `n` 0), `RAFT_SHUTDOWN` (closing), `RAFT_BUSY`.
#[no_mangle]
pub extern "C" fn raft_apply(
    r: *mut raft,
    req: *mut raft_apply,
    bufs: *const raft_buffer,
    n: c_uint,
    cb: raft_apply_cb,
) -> c_int {
    api(r, |d| {
        require_started(d)?;
        if req.is_null() {
            return Err(Failure::invalid("request is NULL"));
        }
        if n == 0 {
            return Err(Failure::invalid("no buffer to apply"));
        }
        // SAFETY: the caller's array of `n` buffers.
        let bufs = unsafe { boundary::slice(bufs, n as usize, "bufs") }?;
        let term = current_term(r)?;
        let mut entries: Vec<raft_entry> = bufs
            .iter()
            .map(|b| raft_entry {
                term,
                r#type: raft_entry_type::RAFT_COMMAND as c_int,
                buf: *b,
                batch: b.base,
            })
            .collect();
        let first = last_index(r)? + 1;
        // SAFETY: a classic-mode instance owning `d`.
        unsafe { submit_many(r, d, &mut entries) }?;
        // SAFETY: the host's request, alive until its callback.
        unsafe {
            (*req).r#type = raft_entry_type::RAFT_COMMAND as c_int;
            (*req).index = first;
            (*req).cb = cb;
        }
        d.pending.push_back(Pending::Apply { req, last: first + n as u64 - 1 });
        Ok(())
    })
}

/// Proposes a barrier: the callback fires once every entry before it is applied. Errors as
/// `raft_apply`, and `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_barrier(r: *mut raft, req: *mut raft_barrier, cb: raft_barrier_cb) -> c_int {
    api(r, |d| {
        require_started(d)?;
        if req.is_null() {
            return Err(Failure::invalid("request is NULL"));
        }
        let term = current_term(r)?;
        let base = heap::calloc(1, 8);
        if base.is_null() {
            return Err(Failure::nomem());
        }
        let mut entry = raft_entry {
            term,
            r#type: raft_entry_type::RAFT_BARRIER as c_int,
            buf: raft_buffer { base, len: 8 },
            batch: base,
        };
        let index = last_index(r)? + 1;
        // SAFETY: a classic-mode instance owning `d`.
        if let Err(f) = unsafe { driver::submit(r, d, &mut entry) } {
            heap::free(base);
            return Err(f);
        }
        // SAFETY: the host's request, alive until its callback.
        unsafe {
            (*req).r#type = raft_entry_type::RAFT_BARRIER as c_int;
            (*req).index = index;
            (*req).cb = cb;
        }
        d.pending.push_back(Pending::Barrier(req));
        Ok(())
    })
}

/// Adds server `id` at `address` as a spare. The callback fires once the new configuration is
/// committed. Errors: `RAFT_NOTLEADER`, `RAFT_CANTCHANGE` (a change is pending, or this leader
/// has not committed an entry of its term yet), `RAFT_DUPLICATEID`, `RAFT_DUPLICATEADDRESS`,
/// `RAFT_BADID` (0), `RAFT_INVALID`.
#[no_mangle]
pub extern "C" fn raft_add(
    r: *mut raft,
    req: *mut raft_change,
    id: raft_id,
    address: *const c_char,
    cb: raft_change_cb,
) -> c_int {
    api(r, |d| {
        // SAFETY: the caller's NUL-terminated string.
        let address = unsafe { boundary::text(address, "address") }?;
        let mut conf = leader_configuration(r, d, req)?;
        conf.add(id, address, Role::Spare).map_err(core::Error::from)?;
        // SAFETY: a classic-mode instance owning `d`.
        unsafe { change(r, d, req, cb, &conf) }
    })
}

/// Gives server `id` a new role. A promotion to voter of a server whose log lags first runs
/// catch-up rounds; the change is submitted once it caught up (or fails with
/// `RAFT_NOCONNECTION`). Errors: `RAFT_NOTLEADER`, `RAFT_BADROLE` (unknown role, or the server
/// has it already), `RAFT_NOTFOUND` (no such server), `RAFT_CANTCHANGE`.
#[no_mangle]
pub extern "C" fn raft_assign(
    r: *mut raft,
    req: *mut raft_change,
    id: raft_id,
    role: c_int,
    cb: raft_change_cb,
) -> c_int {
    api(r, |d| {
        let mut conf = leader_configuration(r, d, req)?;
        let role = role_from_code(role)
            .ok_or_else(|| Failure::new(RAFT_BADROLE, format!("unknown role {role}")))?;
        let Some(server) = conf.servers.iter_mut().find(|s| s.id == id) else {
            return Err(Failure::new(RAFT_NOTFOUND, format!("no server has ID {id}")));
        };
        if server.role == role {
            return Err(Failure::new(RAFT_BADROLE, format!("server {id} already has that role")));
        }
        server.role = role;
        let (matched, last) = {
            // SAFETY: a short read.
            let inst = unsafe { instance::instance_mut(r) }?;
            (inst.core.match_index(id).unwrap_or(0), inst.core.last_index())
        };
        if role != Role::Voter || matched == last {
            // SAFETY: a classic-mode instance owning `d`.
            return unsafe { change(r, d, req, cb, &conf) };
        }
        let mut event = driver::zeroed_event();
        event.r#type = raft_event_type::RAFT_CATCH_UP as c_int;
        event.body.catch_up = raft_event_catch_up { server_id: id };
        // SAFETY: a classic-mode instance owning `d`.
        unsafe { step_event(r, d, &mut event) }?;
        // SAFETY: the host's request, alive until its callback.
        unsafe {
            (*req).r#type = raft_entry_type::RAFT_CHANGE as c_int;
            (*req).cb = cb;
        }
        d.change = Some(Change { req, catch_up: id });
        Ok(())
    })
}

/// Removes server `id` from the configuration. Errors: `RAFT_NOTLEADER`, `RAFT_BADID` (not in
/// the configuration), `RAFT_CANTCHANGE`.
#[no_mangle]
pub extern "C" fn raft_remove(
    r: *mut raft,
    req: *mut raft_change,
    id: raft_id,
    cb: raft_change_cb,
) -> c_int {
    api(r, |d| {
        let mut conf = leader_configuration(r, d, req)?;
        let Some(at) = conf.servers.iter().position(|s| s.id == id) else {
            return Err(Failure::new(RAFT_BADID, format!("no server has ID {id}")));
        };
        conf.servers.remove(at);
        // SAFETY: a classic-mode instance owning `d`.
        unsafe { change(r, d, req, cb, &conf) }
    })
}

/// The configuration a change starts from, after the checks every change shares.
fn leader_configuration(
    r: *mut raft,
    d: &Driver,
    req: *mut raft_change,
) -> Result<core::Configuration, Failure> {
    require_started(d)?;
    if req.is_null() {
        return Err(Failure::invalid("request is NULL"));
    }
    // SAFETY: a short read.
    let inst = unsafe { instance::instance_mut(r) }?;
    if inst.core.state() != core::State::Leader || inst.core.transferee() != 0 {
        return Err(Failure::new(RAFT_NOTLEADER, "server is not the leader"));
    }
    if d.change.is_some() {
        return Err(Failure::new(RAFT_CANTCHANGE, "a configuration change is already in progress"));
    }
    Ok(inst.core.configuration().clone())
}

/// Submits `conf` as a `RAFT_CHANGE` entry for `req`.
unsafe fn change(
    r: *mut raft,
    d: &mut Driver,
    req: *mut raft_change,
    cb: raft_change_cb,
    conf: &core::Configuration,
) -> Result<(), Failure> {
    let term = current_term(r)?;
    let index = last_index(r)? + 1;
    let mut entry = driver::change_entry(term, &conf_codec::encode(conf))?;
    // SAFETY: forwarded.
    if let Err(f) = unsafe { driver::submit(r, d, &mut entry) } {
        heap::free(entry.batch);
        return Err(f);
    }
    // SAFETY: the host's request, alive until its callback.
    unsafe {
        (*req).r#type = raft_entry_type::RAFT_CHANGE as c_int;
        (*req).index = index;
        (*req).cb = cb;
    }
    d.change = Some(Change { req, catch_up: 0 });
    Ok(())
}

/// Transfers leadership to `id` (0: a voter the library picks). The callback fires once the
/// transfer ended, successfully or not (check `raft_leader()`). Errors: `RAFT_NOTLEADER`,
/// `RAFT_BADID` (not a voter, or this server), `RAFT_NOTFOUND` (no other voter),
/// `RAFT_INVALID`.
#[no_mangle]
pub extern "C" fn raft_transfer(
    r: *mut raft,
    req: *mut raft_transfer,
    id: raft_id,
    cb: raft_transfer_cb,
) -> c_int {
    api(r, |d| {
        require_started(d)?;
        if req.is_null() {
            return Err(Failure::invalid("request is NULL"));
        }
        if !d.transfer.is_null() {
            return Err(Failure::new(RAFT_NOTLEADER, "a leadership transfer is in progress"));
        }
        let mut event = driver::zeroed_event();
        event.r#type = raft_event_type::RAFT_TRANSFER as c_int;
        event.body.transfer = raft_event_transfer { server_id: id };
        // SAFETY: a classic-mode instance owning `d`.
        unsafe { step_event(r, d, &mut event) }?;
        let target = {
            // SAFETY: a short read.
            let inst = unsafe { instance::instance_mut(r) }?;
            inst.core.transferee()
        };
        // SAFETY: the host's request, alive until its callback.
        unsafe {
            (*req).r#type = RAFT_TRANSFER_REQUEST;
            (*req).id = target;
            (*req).start = now(d.io);
            (*req).cb = cb;
        }
        d.transfer = req;
        Ok(())
    })
}

/// libraft-rs extension: a linearizable read (docs/reads.md). The callback fires with 0 once the
/// read is confirmed and the FSM has applied up to its read index (`req->index`): read the FSM
/// there. Leader only. Errors: `RAFT_NOTLEADER` (not the leader, not started, handing over),
/// `RAFT_INVALID` (NULL request), `RAFT_SHUTDOWN` (closing), `RAFT_BUSY` (from the FSM).
#[no_mangle]
pub extern "C" fn raft_read(r: *mut raft, req: *mut raft_read, cb: raft_read_cb) -> c_int {
    api(r, |d| {
        require_started(d)?;
        if req.is_null() {
            return Err(Failure::invalid("request is NULL"));
        }
        d.next_read += 1;
        let id = d.next_read;
        // SAFETY: the host's request, alive until its callback.
        unsafe {
            (*req).id = id;
            (*req).index = 0;
            (*req).cb = cb;
        }
        // Listed before the step: a sole voter or a lease confirms it within the step.
        d.reads.push((req, None));
        let mut event = driver::zeroed_event();
        event.r#type = raft_event_type::RAFT_READ as c_int;
        event.body.read = raft_event_read { id };
        // SAFETY: a classic-mode instance owning `d`.
        let stepped = unsafe { step_event(r, d, &mut event) };
        if stepped.is_err() {
            d.reads.retain(|(other, _)| *other != req);
        }
        stepped
    })
}

/// C-Raft's request type code of a transfer (no entry type has this value).
const RAFT_TRANSFER_REQUEST: c_int = 4;

/// The index of the last entry applied to the FSM (0 for NULL or a `raft_step`-mode instance).
#[no_mangle]
pub extern "C" fn raft_last_applied(r: *mut raft) -> raft_index {
    guard(|| {
        // SAFETY: `r` is NULL or the host's struct raft.
        if unsafe { instance::instance_ref(r) }.is_none() || !unsafe { is_classic(r) } {
            return Some(0);
        }
        // SAFETY: a plain member of the initialised struct, published after every update (so
        // that the FSM may ask while the driver is running).
        Some(unsafe { ptr::read(ptr::addr_of!((*r).last_applied)) })
    })
    .unwrap_or(0)
}

/// Entries applied since the last snapshot before a new one is taken (default 1024; 0 means
/// after every applied entry).
#[no_mangle]
pub extern "C" fn raft_set_snapshot_threshold(r: *mut raft, n: c_uint) {
    set(r, |d| d.threshold = n)
}

/// Entries kept in the log before a snapshot's index (default 2048).
#[no_mangle]
pub extern "C" fn raft_set_snapshot_trailing(r: *mut raft, n: c_uint) {
    set(r, |d| d.trailing = n)
}

fn set(r: *mut raft, f: impl FnOnce(&mut Driver)) {
    guard(|| {
        // SAFETY: `r` is NULL or the host's struct raft.
        if unsafe { instance::instance_ref(r) }.is_none() || !unsafe { is_classic(r) } {
            return;
        }
        // SAFETY: a classic-mode instance.
        let _ = unsafe {
            enter(r, false, |d| {
                f(d);
                Ok(())
            })
        };
    })
}

fn current_term(r: *mut raft) -> Result<raft_term, Failure> {
    // SAFETY: a short read of an initialised instance.
    Ok(unsafe { instance::instance_mut(r) }?.core.current_term())
}

fn last_index(r: *mut raft) -> Result<raft_index, Failure> {
    // SAFETY: a short read of an initialised instance.
    Ok(unsafe { instance::instance_mut(r) }?.core.last_index())
}

impl Driver {
    /// Everything loaded is on disk already.
    fn note_loaded(&mut self) {
        self.set_written(self.log.last_index());
    }
}
