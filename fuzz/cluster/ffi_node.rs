//! A node driven through the C ABI (`raft_init`, `raft_step`, the getters), called from Rust
//! through the library's exported `extern "C"` functions, with the ownership rules of the
//! header checked against the counting heap: a received batch or snapshot is freed by the
//! library or handed back (never both, never neither) on success and left alone on error;
//! submitted payloads always come back; memory the host owns is never freed by the library.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr;

use ::raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult, TimeoutNow};
use ::raft::core::{Configuration, EntryType, Outgoing, SnapshotMetadata};
use ::raft::ffi::types::{
    raft, raft_append_entries, raft_append_entries_result, raft_buffer, raft_configuration,
    raft_entry, raft_event, raft_event_catch_up, raft_event_configuration,
    raft_event_persisted_entries, raft_event_persisted_snapshot, raft_event_receive,
    raft_event_snapshot, raft_event_start, raft_event_submit, raft_event_transfer, raft_event_type,
    raft_install_snapshot, raft_message, raft_message_type, raft_request_vote,
    raft_request_vote_result, raft_server, raft_snapshot_metadata, raft_timeout_now, raft_update,
    RAFT_UPDATE_COMMIT_INDEX, RAFT_UPDATE_CURRENT_TERM, RAFT_UPDATE_ENTRIES, RAFT_UPDATE_SNAPSHOT,
    RAFT_UPDATE_STATE, RAFT_UPDATE_VOTED_FOR,
};

use super::heap;
use super::model::{Entry, Ev, Msg, Node, Observed, Out, Send, Settings};

// The struct raft holds pointers to opaque legacy types; only pointers to it cross.
#[allow(improper_ctypes)]
extern "C" {
    fn raft_init(
        r: *mut raft,
        io: *mut c_void,
        fsm: *mut c_void,
        id: u64,
        address: *const c_char,
    ) -> c_int;
    fn raft_close(r: *mut raft, cb: *mut c_void);
    fn raft_seed(r: *mut raft, random: c_uint);
    fn raft_set_election_timeout(r: *mut raft, msecs: c_uint);
    fn raft_set_heartbeat_timeout(r: *mut raft, msecs: c_uint);
    fn raft_set_install_snapshot_timeout(r: *mut raft, msecs: c_uint);
    fn raft_set_pre_vote(r: *mut raft, enabled: bool);
    fn raft_set_max_catch_up_rounds(r: *mut raft, n: c_uint);
    fn raft_set_max_catch_up_round_duration(r: *mut raft, msecs: c_uint);
    fn raft_set_max_inflight_entries(r: *mut raft, n: c_uint);
    fn raft_set_capacity_threshold(r: *mut raft, min: u16);
    fn raft_current_term(r: *const raft) -> u64;
    fn raft_voted_for(r: *const raft) -> u64;
    fn raft_commit_index(r: *const raft) -> u64;
    fn raft_timeout(r: *const raft) -> u64;
    fn raft_match_index(r: *const raft, id: u64, index: *mut u64) -> c_int;
    fn raft_catch_up(r: *const raft, id: u64, status: *mut c_int) -> c_int;
    fn raft_transferee(r: *const raft) -> u64;
    fn raft_state(r: *mut raft) -> c_int;
    fn raft_role(r: *mut raft) -> c_int;
    fn raft_leader(r: *mut raft, id: *mut u64, address: *mut *const c_char);
    fn raft_last_index(r: *mut raft) -> u64;
    fn raft_step(r: *mut raft, event: *mut raft_event, update: *mut raft_update) -> c_int;
    fn raft_configuration_close(c: *mut raft_configuration);
}

const RECEIVE: c_int = raft_event_type::RAFT_RECEIVE as c_int;
const APPEND_ENTRIES: c_int = raft_message_type::RAFT_APPEND_ENTRIES as c_int;
const INSTALL_SNAPSHOT: c_int = raft_message_type::RAFT_INSTALL_SNAPSHOT as c_int;

pub struct FfiNode {
    r: *mut raft,
    /// Snapshot configurations handed to the host, closed after RAFT_PERSISTED_SNAPSHOT.
    held: Vec<raft_configuration>,
    starve: Option<u32>,
}

impl Drop for FfiNode {
    fn drop(&mut self) {
        // SAFETY: an instance initialised by `new`, closed once, then its box freed.
        unsafe {
            raft_close(self.r, ptr::null_mut());
            drop(Box::from_raw(self.r));
        }
        for mut conf in self.held.drain(..) {
            // SAFETY: a configuration the library handed to the host.
            unsafe { raft_configuration_close(&mut conf) };
        }
    }
}

/// Host memory an event points to, alive for the step. Boxed where the event points at the
/// element itself, whose address must not move when the vector grows.
#[derive(Default)]
#[allow(clippy::vec_box)]
struct Scratch {
    strings: Vec<CString>,
    servers: Vec<Vec<raft_server>>,
    entries: Vec<Vec<raft_entry>>,
    metas: Vec<Box<raft_snapshot_metadata>>,
    messages: Vec<Box<raft_message>>,
    /// raft-heap batches whose ownership the step may take (received) or must hand back
    /// (submitted), or that stay the host's (start).
    received_batch: Option<*mut c_void>,
    received_data: Option<*mut c_void>,
    submitted_batch: Option<*mut c_void>,
    start_batch: Option<*mut c_void>,
}

impl Scratch {
    fn string(&mut self, s: &str) -> *const c_char {
        let c = CString::new(s.replace('\0', "?")).unwrap();
        let p = c.as_ptr();
        self.strings.push(c);
        p
    }

    fn conf(&mut self, conf: &Configuration) -> raft_configuration {
        let servers: Vec<raft_server> = conf
            .servers
            .iter()
            .map(|s| raft_server {
                id: s.id,
                address: self.string(&s.address) as *mut c_char,
                role: c_int::from(s.role.code()),
            })
            .collect();
        let n = servers.len() as c_uint;
        let p = if servers.is_empty() { ptr::null_mut() } else { servers.as_ptr() as *mut _ };
        self.servers.push(servers);
        raft_configuration { servers: p, n }
    }

    fn meta(&mut self, m: &SnapshotMetadata) -> raft_snapshot_metadata {
        raft_snapshot_metadata {
            index: m.index,
            term: m.term,
            configuration: self.conf(&m.configuration),
            configuration_index: m.configuration_index,
        }
    }

    /// The entries as a host array sharing one raft-heap batch (NULL, NULL when empty).
    fn entries(&mut self, entries: &[Entry]) -> (*mut raft_entry, Option<*mut c_void>) {
        if entries.is_empty() {
            return (ptr::null_mut(), None);
        }
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.payload.iter().copied()).collect();
        let batch = heap::copy_in(&bytes);
        let mut offset = 0;
        let array: Vec<raft_entry> = entries
            .iter()
            .map(|e| {
                // SAFETY: within the batch just allocated.
                let base = unsafe { (batch as *mut u8).add(offset) } as *mut c_void;
                offset += e.payload.len();
                raft_entry {
                    term: e.term,
                    r#type: c_int::from(e.kind.code()),
                    buf: raft_buffer { base, len: e.payload.len() },
                    batch,
                }
            })
            .collect();
        let p = array.as_ptr() as *mut raft_entry;
        self.entries.push(array);
        (p, Some(batch))
    }

    fn message(&mut self, from: u64, from_address: &str, msg: &Msg) -> *mut raft_message {
        // SAFETY: an all-zero message is valid plain data.
        let mut m: Box<raft_message> = Box::new(unsafe { std::mem::zeroed() });
        m.server_id = from;
        m.server_address = self.string(from_address);
        match msg {
            Msg::RequestVote(v) => {
                m.r#type = raft_message_type::RAFT_REQUEST_VOTE as c_int;
                m.body.request_vote = raft_request_vote {
                    version: 2,
                    term: v.term,
                    candidate_id: v.candidate_id,
                    last_log_index: v.last_log_index,
                    last_log_term: v.last_log_term,
                    disrupt_leader: v.disrupt_leader.into(),
                    pre_vote: v.pre_vote.into(),
                };
            }
            Msg::RequestVoteResult(v) => {
                m.r#type = raft_message_type::RAFT_REQUEST_VOTE_RESULT as c_int;
                m.body.request_vote_result = raft_request_vote_result {
                    version: 2,
                    term: v.term,
                    vote_granted: v.vote_granted.into(),
                    pre_vote: v.pre_vote.into(),
                    features: v.features,
                    capacity: v.capacity,
                };
            }
            Msg::AppendEntries { term, prev_index, prev_term, commit, entries } => {
                let (array, batch) = self.entries(entries);
                self.received_batch = batch;
                m.r#type = APPEND_ENTRIES;
                m.body.append_entries = raft_append_entries {
                    version: 0,
                    term: *term,
                    prev_log_index: *prev_index,
                    prev_log_term: *prev_term,
                    leader_commit: *commit,
                    entries: array,
                    n_entries: entries.len() as c_uint,
                    read_round: 0,
                };
            }
            Msg::AppendEntriesResult(v) => {
                m.r#type = raft_message_type::RAFT_APPEND_ENTRIES_RESULT as c_int;
                m.body.append_entries_result = raft_append_entries_result {
                    version: 1,
                    term: v.term,
                    rejected: v.rejected,
                    last_log_index: v.last_log_index,
                    features: v.features,
                    capacity: v.capacity,
                    read_echo: 0,
                };
            }
            Msg::InstallSnapshot { term, meta, data } => {
                let base = heap::copy_in(data);
                self.received_data = Some(base);
                m.r#type = INSTALL_SNAPSHOT;
                m.body.install_snapshot = raft_install_snapshot {
                    version: 0,
                    term: *term,
                    last_index: meta.index,
                    last_term: meta.term,
                    conf: self.conf(&meta.configuration),
                    conf_index: meta.configuration_index,
                    data: raft_buffer { base, len: data.len() },
                };
            }
            Msg::TimeoutNow(v) => {
                m.r#type = raft_message_type::RAFT_TIMEOUT_NOW as c_int;
                m.body.timeout_now = raft_timeout_now {
                    version: 0,
                    term: v.term,
                    last_log_index: v.last_log_index,
                    last_log_term: v.last_log_term,
                };
            }
        }
        let p = &mut *m as *mut raft_message;
        self.messages.push(m);
        p
    }

    /// Frees what the host still owns after the step.
    fn release(&mut self, accepted: bool) {
        let taken = if accepted { vec![] } else { vec![self.received_batch, self.received_data] };
        for p in taken.into_iter().chain([self.start_batch]).flatten() {
            heap::release(p);
        }
        if !accepted {
            if let Some(p) = self.submitted_batch {
                heap::release(p);
            }
        }
    }
}

fn new_event(time: u64, kind: c_int, capacity: u16) -> raft_event {
    // SAFETY: an all-zero event is valid plain data ("zero the whole struct").
    let mut ev: raft_event = unsafe { std::mem::zeroed() };
    ev.time = time;
    ev.r#type = kind;
    ev.capacity = capacity;
    ev
}

/// The C event for `ev`, pointing into `scratch`.
fn build(ev: &Ev, now: u64, capacity: u16, scratch: &mut Scratch) -> raft_event {
    use self::raft_event_type::*;
    let kind = |k: raft_event_type| k as c_int;
    match ev {
        Ev::Start { term, vote, snapshot, start_index, entries } => {
            let mut e = new_event(now, kind(RAFT_START), capacity);
            let metadata = match snapshot {
                Some(m) => {
                    let meta = Box::new(scratch.meta(m));
                    scratch.metas.push(meta);
                    &mut **scratch.metas.last_mut().unwrap() as *mut raft_snapshot_metadata
                }
                None => ptr::null_mut(),
            };
            let (array, batch) = scratch.entries(entries);
            scratch.start_batch = batch;
            e.body.start = raft_event_start {
                term: *term,
                voted_for: *vote,
                metadata,
                start_index: *start_index,
                entries: array,
                n_entries: entries.len() as c_uint,
            };
            e
        }
        Ev::Receive { from, from_address, msg } => {
            let mut e = new_event(now, RECEIVE, capacity);
            e.body.receive =
                raft_event_receive { message: scratch.message(*from, from_address, msg) };
            e
        }
        Ev::PersistedEntries(index) => {
            let mut e = new_event(now, kind(RAFT_PERSISTED_ENTRIES), capacity);
            e.body.persisted_entries = raft_event_persisted_entries { index: *index };
            e
        }
        Ev::PersistedSnapshot(m) => {
            let mut e = new_event(now, kind(RAFT_PERSISTED_SNAPSHOT), capacity);
            e.body.persisted_snapshot =
                raft_event_persisted_snapshot { metadata: scratch.meta(m), offset: 0, last: 1 };
            e
        }
        Ev::Configuration(index, conf) => {
            let mut e = new_event(now, kind(RAFT_CONFIGURATION), capacity);
            e.body.configuration =
                raft_event_configuration { index: *index, conf: scratch.conf(conf) };
            e
        }
        Ev::Snapshot(m, trailing) => {
            let mut e = new_event(now, kind(RAFT_SNAPSHOT), capacity);
            e.body.snapshot =
                raft_event_snapshot { metadata: scratch.meta(m), trailing: *trailing };
            e
        }
        Ev::Timeout => new_event(now, kind(RAFT_TIMEOUT), capacity),
        Ev::Submit(entries) => {
            let mut e = new_event(now, kind(RAFT_SUBMIT), capacity);
            let (array, batch) = scratch.entries(entries);
            scratch.submitted_batch = batch;
            e.body.submit = raft_event_submit { entries: array, n: entries.len() as c_uint };
            e
        }
        Ev::CatchUp(id) => {
            let mut e = new_event(now, kind(RAFT_CATCH_UP), capacity);
            e.body.catch_up = raft_event_catch_up { server_id: *id };
            e
        }
        Ev::Transfer(id) => {
            let mut e = new_event(now, kind(RAFT_TRANSFER), capacity);
            e.body.transfer = raft_event_transfer { server_id: *id };
            e
        }
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn text(p: *const c_char) -> Option<String> {
    // SAFETY: per the caller.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// An emitted message in the core's form.
///
/// # Safety
/// `m` is a message of the update just returned.
unsafe fn emitted(m: &raft_message) -> Send {
    // SAFETY: the union member selected by `type`, as the library filled it.
    let body = unsafe {
        match m.r#type {
            1 => {
                let a = &m.body.append_entries;
                assert!(a.entries.is_null(), "an emitted AppendEntries carries entries");
                Outgoing::AppendEntries {
                    term: a.term,
                    prev_log_index: a.prev_log_index,
                    prev_log_term: a.prev_log_term,
                    leader_commit: a.leader_commit,
                    n_entries: a.n_entries,
                }
            }
            2 => {
                let a = &m.body.append_entries_result;
                Outgoing::AppendEntriesResult(AppendEntriesResult {
                    term: a.term,
                    rejected: a.rejected,
                    last_log_index: a.last_log_index,
                    features: a.features,
                    capacity: a.capacity,
                })
            }
            3 => {
                let v = &m.body.request_vote;
                Outgoing::RequestVote(RequestVote {
                    term: v.term,
                    candidate_id: v.candidate_id,
                    last_log_index: v.last_log_index,
                    last_log_term: v.last_log_term,
                    disrupt_leader: v.disrupt_leader != 0,
                    pre_vote: v.pre_vote != 0,
                })
            }
            4 => {
                let v = &m.body.request_vote_result;
                Outgoing::RequestVoteResult(RequestVoteResult {
                    term: v.term,
                    vote_granted: v.vote_granted != 0,
                    pre_vote: v.version > 1 && v.pre_vote != 0,
                    features: v.features,
                    capacity: v.capacity,
                })
            }
            5 => {
                let s = &m.body.install_snapshot;
                assert!(s.conf.servers.is_null() && s.data.base.is_null(), "snapshot attached");
                Outgoing::InstallSnapshot {
                    term: s.term,
                    last_index: s.last_index,
                    last_term: s.last_term,
                    conf_index: s.conf_index,
                }
            }
            6 => {
                let t = &m.body.timeout_now;
                Outgoing::TimeoutNow(TimeoutNow {
                    term: t.term,
                    last_log_index: t.last_log_index,
                    last_log_term: t.last_log_term,
                })
            }
            other => panic!("emitted message of unknown type {other}"),
        }
    };
    // SAFETY: the destination address, valid until the next step.
    let address = unsafe { text(m.server_address) }.expect("emitted message without address");
    Send { to: m.server_id, address, body }
}

/// The configuration of a snapshot update in the core's form.
///
/// # Safety
/// `c` was filled by the library.
unsafe fn read_conf(c: &raft_configuration) -> Configuration {
    let mut conf = Configuration::new();
    for k in 0..c.n as usize {
        // SAFETY: `n` servers at `servers`.
        let s = unsafe { &*c.servers.add(k) };
        let role = ::raft::core::Role::from_code(s.role.into()).expect("known role");
        // SAFETY: NUL-terminated address.
        let address = unsafe { text(s.address) }.expect("server address");
        conf.servers.push(::raft::core::Server { id: s.id, address: address.into(), role });
    }
    conf
}

impl FfiNode {
    /// Reads the update of a successful step, checks who owns what, and frees what the host
    /// no longer needs.
    ///
    /// # Safety
    /// `u` was filled by a successful `raft_step` on this node.
    unsafe fn take_update(&mut self, u: &raft_update, scratch: &Scratch) -> Out {
        let flag = |f: u32| u.flags & f != 0;
        let mut out = Out {
            term_changed: flag(RAFT_UPDATE_CURRENT_TERM),
            vote_changed: flag(RAFT_UPDATE_VOTED_FOR),
            state_changed: flag(RAFT_UPDATE_STATE),
            commit_changed: flag(RAFT_UPDATE_COMMIT_INDEX),
            ..Out::default()
        };
        let mut handed_back = HashSet::new();
        if flag(RAFT_UPDATE_ENTRIES) {
            let e = &u.entries;
            let mut entries = Vec::new();
            for k in 0..e.n as usize {
                // SAFETY: `n` entries at `batch`, whose payloads the host now owns.
                let entry = unsafe { &*e.batch.add(k) };
                let payload = if entry.buf.len == 0 {
                    Vec::new()
                } else {
                    // SAFETY: as above.
                    unsafe {
                        std::slice::from_raw_parts(entry.buf.base as *const u8, entry.buf.len)
                    }
                    .to_vec()
                };
                let kind = EntryType::from_code(entry.r#type.into()).expect("known entry type");
                entries.push(Entry { term: entry.term, kind, payload });
                assert!(!entry.batch.is_null(), "handed-back entry without a batch");
                handed_back.insert(entry.batch);
            }
            heap::release(e.batch as *mut c_void);
            out.entries = Some((e.index, entries));
        }
        if let Some(b) = scratch.received_batch {
            let freed = heap::freed_in_step(b);
            let back = handed_back.contains(&b);
            assert!(freed != back, "received batch: freed {freed} and handed back {back}");
        }
        if let Some(b) = scratch.submitted_batch {
            assert!(!heap::freed_in_step(b), "the library freed a submitted batch");
            assert!(handed_back.contains(&b), "submitted entries were not handed back");
        }
        for b in handed_back {
            heap::release(b);
        }
        if flag(RAFT_UPDATE_SNAPSHOT) {
            let s = &u.snapshot;
            // SAFETY: the configuration the library filled for the host.
            let configuration = unsafe { read_conf(&s.metadata.configuration) };
            self.held.push(s.metadata.configuration);
            out.snapshot = Some(SnapshotMetadata {
                index: s.metadata.index,
                term: s.metadata.term,
                configuration,
                configuration_index: s.metadata.configuration_index,
            });
            assert_eq!(Some(s.chunk.base), scratch.received_data, "snapshot chunk is not ours");
        }
        if let Some(d) = scratch.received_data {
            let freed = heap::freed_in_step(d);
            let back = flag(RAFT_UPDATE_SNAPSHOT);
            assert!(freed != back, "snapshot data: freed {freed} and handed back {back}");
            if back {
                heap::release(d);
            }
        }
        if let Some(b) = scratch.start_batch {
            assert!(!heap::freed_in_step(b), "the library freed the start batch");
        }
        for conf in &self.held {
            assert!(
                !heap::freed_in_step(conf.servers as *mut c_void),
                "freed a host's configuration"
            );
        }
        let m = &u.messages;
        for k in 0..m.n as usize {
            // SAFETY: `n` messages in the library's queue, valid until the next step.
            out.messages.push(unsafe { emitted(&*m.batch.add(k)) });
        }
        out
    }

    /// Steps a raw event and checks the error path's ownership: nothing the host owns freed.
    fn raw_step(&mut self, ev: &mut raft_event, scratch: &mut Scratch) -> (c_int, raft_update) {
        // SAFETY: an all-zero update is valid plain data.
        let mut update: raft_update = unsafe { std::mem::zeroed() };
        heap::start_step();
        heap::fail_allocation(self.starve);
        // SAFETY: a live instance and an event pointing into `scratch`.
        let rc = unsafe { raft_step(self.r, ev, &mut update) };
        heap::fail_allocation(None);
        heap::assert_no_bad_free("raft_step");
        if rc != 0 {
            let payloads = [scratch.received_batch, scratch.received_data, scratch.submitted_batch];
            for p in payloads.into_iter().flatten() {
                assert!(!heap::freed_in_step(p), "a failed step ({rc}) freed the host's payload");
            }
        }
        (rc, update)
    }

    /// Steps a misused event and frees its payloads (a failure must leave them to the host).
    fn misstep(&mut self, mut ev: raft_event, mut scratch: Scratch) -> c_int {
        let (rc, _) = self.raw_step(&mut ev, &mut scratch);
        assert_ne!(rc, 0, "a misused raft_step was accepted");
        scratch.release(false);
        rc
    }
}

impl Node for FfiNode {
    fn new(id: u64, address: &str, seed: u32, s: &Settings) -> FfiNode {
        // SAFETY: an all-zero struct raft for raft_init to fill; boxed so that it never moves.
        let r = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<raft>() }));
        let address = CString::new(address).unwrap();
        // SAFETY: a fresh struct and a valid address.
        unsafe {
            let rc = raft_init(r, ptr::null_mut(), ptr::null_mut(), id, address.as_ptr());
            assert_eq!(rc, 0, "raft_init");
            raft_seed(r, seed);
            raft_set_election_timeout(r, s.election_timeout);
            raft_set_heartbeat_timeout(r, s.heartbeat_timeout);
            raft_set_install_snapshot_timeout(r, s.install_snapshot_timeout);
            raft_set_pre_vote(r, s.pre_vote);
            raft_set_max_inflight_entries(r, s.max_inflight_entries);
            raft_set_max_catch_up_rounds(r, s.max_catch_up_rounds);
            raft_set_max_catch_up_round_duration(r, s.max_catch_up_round_duration);
            raft_set_capacity_threshold(r, s.capacity_threshold);
        }
        FfiNode { r, held: Vec::new(), starve: None }
    }

    fn step(&mut self, now: u64, capacity: u16, ev: &Ev) -> Result<Out, i32> {
        let mut scratch = Scratch::default();
        let mut event = build(ev, now, capacity, &mut scratch);
        let (rc, update) = self.raw_step(&mut event, &mut scratch);
        if rc != 0 {
            scratch.release(false);
            return Err(rc);
        }
        // SAFETY: the update of the successful step just made.
        let out = unsafe { self.take_update(&update, &scratch) };
        scratch.release(true);
        if matches!(ev, Ev::PersistedSnapshot(_)) {
            for mut conf in self.held.drain(..) {
                // SAFETY: a configuration the library handed to the host.
                unsafe { raft_configuration_close(&mut conf) };
            }
        }
        Ok(out)
    }

    fn observe(&self) -> Observed {
        let r = self.r;
        // SAFETY: a live instance; the getters only read it.
        unsafe {
            let mut leader = 0;
            let mut address = ptr::null();
            raft_leader(r, &mut leader, &mut address);
            let mut detail = Vec::new();
            for id in 1..=7 {
                let mut index = 0;
                let rc = raft_match_index(r, id, &mut index);
                let mut status = 0;
                let rc2 = raft_catch_up(r, id, &mut status);
                detail.push(format!("{id}: match {rc}/{index} catch-up {rc2}/{status}"));
            }
            Observed {
                term: raft_current_term(r),
                vote: raft_voted_for(r),
                commit: raft_commit_index(r),
                state: raft_state(r) as u8,
                role: raft_role(r),
                last_index: raft_last_index(r),
                leader: (leader, text(address)),
                timeout: raft_timeout(r),
                transferee: raft_transferee(r),
                detail,
            }
        }
    }

    fn misuse(&mut self, now: u64, how: u8) -> Option<i32> {
        use self::raft_event_type::*;
        let mut scratch = Scratch::default();
        let vote = Msg::RequestVote(RequestVote {
            term: 1,
            candidate_id: 2,
            last_log_index: 1,
            last_log_term: 1,
            disrupt_leader: false,
            pre_vote: false,
        });
        let entry = Entry { term: 1, kind: EntryType::Command, payload: vec![1; 8] };
        match how % 12 {
            0 => {
                // SAFETY: NULL event and NULL update are refused.
                let rc = unsafe {
                    let mut update: raft_update = std::mem::zeroed();
                    let a = raft_step(self.r, ptr::null_mut(), &mut update);
                    let mut ev = new_event(now, RAFT_TIMEOUT as c_int, 0);
                    let b = raft_step(self.r, &mut ev, ptr::null_mut());
                    assert_eq!(a, b, "NULL event and NULL update give different codes");
                    a
                };
                Some(rc)
            }
            1 => Some(self.misstep(new_event(now, 99, 0), scratch)),
            2 => Some(self.misstep(new_event(now, 0, 0), scratch)),
            3 => Some(self.misstep(new_event(now, RECEIVE, 0), scratch)),
            4 => {
                let ev = build(&Ev::Submit(vec![]), now, 0, &mut scratch);
                Some(self.misstep(ev, scratch))
            }
            5 => {
                let mut ev = build(&Ev::Submit(vec![entry]), now, 0, &mut scratch);
                ev.body.submit.entries = ptr::null_mut();
                Some(self.misstep(ev, scratch))
            }
            6 => {
                let ev = build(
                    &Ev::Receive { from: 2, from_address: "n".into(), msg: vote },
                    now,
                    0,
                    &mut scratch,
                );
                scratch.messages[0].server_address = ptr::null();
                Some(self.misstep(ev, scratch))
            }
            7 => {
                let ev = build(
                    &Ev::Receive { from: 2, from_address: "n".into(), msg: vote },
                    now,
                    0,
                    &mut scratch,
                );
                scratch.messages[0].r#type = 77;
                Some(self.misstep(ev, scratch))
            }
            8 => {
                let msg = Msg::AppendEntries {
                    term: 1,
                    prev_index: 0,
                    prev_term: 0,
                    commit: 0,
                    entries: vec![entry],
                };
                let ev = build(
                    &Ev::Receive { from: 2, from_address: "n".into(), msg },
                    now,
                    0,
                    &mut scratch,
                );
                scratch.entries[0][0].r#type = 9;
                Some(self.misstep(ev, scratch))
            }
            9 => {
                let msg = Msg::AppendEntries {
                    term: 1,
                    prev_index: 0,
                    prev_term: 0,
                    commit: 0,
                    entries: vec![entry.clone(), entry],
                };
                let ev = build(
                    &Ev::Receive { from: 2, from_address: "n".into(), msg },
                    now,
                    0,
                    &mut scratch,
                );
                scratch.messages[0].body.append_entries.entries = ptr::null_mut();
                Some(self.misstep(ev, scratch))
            }
            10 => {
                let ev = build(
                    &Ev::Start {
                        term: 1,
                        vote: 0,
                        snapshot: None,
                        start_index: 1,
                        entries: vec![],
                    },
                    now,
                    0,
                    &mut scratch,
                );
                Some(self.misstep(ev, scratch))
            }
            _ => {
                // Instances that are not started, or closed, or no instance at all.
                let fresh = FfiNode::new(9, "fresh", 1, &Settings::default_for_misuse());
                let mut ev = new_event(now, RAFT_TIMEOUT as c_int, 0);
                // SAFETY: a live instance, then a closed one, then NULL.
                unsafe {
                    let mut update: raft_update = std::mem::zeroed();
                    assert_ne!(raft_step(fresh.r, &mut ev, &mut update), 0, "step before start");
                    raft_close(fresh.r, ptr::null_mut());
                    assert_ne!(raft_step(fresh.r, &mut ev, &mut update), 0, "step after close");
                    assert_ne!(raft_step(ptr::null_mut(), &mut ev, &mut update), 0, "NULL raft");
                }
                drop(fresh);
                None
            }
        }
    }

    fn starve(&mut self, nth: Option<u32>) {
        self.starve = nth;
    }
}
