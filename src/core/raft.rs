//! The server instance: its persistent and volatile state, the step entry point and the
//! accessors. Each protocol rule lives in the module named after it; this file only routes
//! events and holds what every rule shares.

use std::sync::Arc;

use super::configuration::{Configuration, ConfigurationFormat};
use super::error::Error;
use super::event::{Event, SnapshotMetadata, Update};
use super::log::Log;
use super::membership::Membership;
use super::message::{Message, Outgoing};
use super::progress::Progress;
use super::reads::{ForwardedRead, Reads};
use super::settings::Settings;
use super::snapshot_chunks::Staging;
use super::trace::{Tracer, LEVEL_INFO};
use super::types::{CatchUpStatus, Id, Index, Role, State, Term, Time, MAX_INDEX, MAX_TERM};
use crate::raft_trace;

/// What a step carries through the rules: the time, the tracer and the update being built.
pub(crate) struct Ctx<'t> {
    pub now: Time,
    pub tracer: Option<&'t mut dyn Tracer>,
    pub update: Update,
}

impl Ctx<'_> {
    pub fn send(&mut self, to: Id, address: Arc<str>, body: Outgoing) {
        self.send_with_context(to, address, body, 0);
    }

    /// Sends a message carrying a read round or its echo (`reads.rs`).
    pub fn send_with_context(&mut self, to: Id, address: Arc<str>, body: Outgoing, read: u32) {
        self.update.messages.push(Message { to, address, body, read_context: read });
    }
}

/// Follower state: who leads this term, and how much of our log it has vouched for.
#[derive(Debug, Default)]
pub(crate) struct Follower {
    pub leader: Option<(Id, Arc<str>)>,
    /// Highest index verified against the leader of this term (None: no AppendEntries accepted
    /// from it yet). Acknowledgements never go beyond it.
    pub verified: Option<Index>,
    /// The read round last received from that leader, echoed in our results (`reads.rs`).
    pub read_echo: u32,
}

#[derive(Debug)]
pub(crate) struct Candidate {
    pub pre_vote: bool,
    pub votes: Vec<Id>,
}

#[derive(Debug)]
pub(crate) struct Transfer {
    pub target: Id,
    pub start: Time,
}

#[derive(Debug)]
pub(crate) struct Leader {
    /// One entry per server of the current configuration, this server's included (unused).
    pub progress: Vec<Progress>,
    /// Start of the current check-quorum period.
    pub quorum_start: Time,
    pub transfer: Option<Transfer>,
    /// Reused buffer for the commit computation.
    pub scratch: Vec<Index>,
    /// Linearizable reads waiting for their read index to be confirmed (`reads.rs`).
    pub reads: Reads,
}

#[derive(Debug)]
pub(crate) enum Status {
    Follower(Follower),
    Candidate(Candidate),
    Leader(Leader),
}

/// What [`Raft::membership`] shows.
#[derive(Clone, Copy, Debug)]
pub struct MembershipView<'a> {
    /// The configuration in effect, committed or not.
    pub current: &'a Configuration,
    /// The latest committed configuration.
    pub committed: &'a Configuration,
    pub committed_index: Index,
    /// Index of the uncommitted `Change` entry in effect, or 0.
    pub uncommitted_index: Index,
    /// Changes whenever any of the above changes.
    pub generation: u64,
}

pub struct Raft {
    pub(crate) id: Id,
    pub(crate) address: Arc<str>,
    /// How `Change` entries encode configurations. The host supplies it (the C boundary hands
    /// over C-Raft's codec) because the protocol must not know any byte format; only `Change`
    /// entries are ever decoded, so commands cost nothing.
    pub(crate) configurations: &'static dyn ConfigurationFormat,
    pub(crate) settings: Settings,
    pub(crate) random: u32,
    pub(crate) started: bool,
    pub(crate) now: Time,
    /// This server's disk capacity, as last reported by the host.
    pub(crate) capacity: u16,
    pub(crate) term: Term,
    pub(crate) voted_for: Id,
    pub(crate) log: Log,
    /// Every entry up to here is durable.
    pub(crate) durable: Index,
    pub(crate) commit: Index,
    pub(crate) membership: Membership,
    /// Configuration index of our latest snapshot (what InstallSnapshot advertises).
    pub(crate) snapshot_conf_index: Index,
    /// A snapshot received from the leader that the host is storing.
    pub(crate) installing: Option<SnapshotMetadata>,
    /// The length of our latest snapshot's data, when the host told us (`snapshot_chunks.rs`).
    pub(crate) snapshot_len: Option<(Index, u64)>,
    /// A streamed snapshot being received (`snapshot_chunks.rs`).
    pub(crate) staging: Option<Staging>,
    pub(crate) status: Status,
    pub(crate) timer_start: Time,
    /// The current randomized election timeout, in [T, 2T].
    pub(crate) timer_length: u32,
    /// Disk capacity reported by peers that report it.
    pub(crate) peer_capacity: Vec<(Id, u16)>,
    /// Until then, a server started with leases on refuses votes (`reads.rs`).
    pub(crate) vote_guard_until: Time,
    /// Reads this follower forwarded to its leader (`reads.rs`).
    pub(crate) forwarded_reads: Vec<ForwardedRead>,
    update: Update,
}

impl Raft {
    /// A server `id` at `address`, reading the configurations of `Change` entries with
    /// `configurations`. It does nothing until it receives `Event::Start`.
    pub fn new(id: Id, address: &str, configurations: &'static dyn ConfigurationFormat) -> Raft {
        let settings = Settings::default();
        Raft {
            id,
            address: Arc::from(address),
            configurations,
            timer_length: settings.election_timeout,
            settings,
            random: 0,
            started: false,
            now: 0,
            capacity: 0,
            term: 0,
            voted_for: 0,
            log: Log::new(),
            durable: 0,
            commit: 0,
            membership: Membership::default(),
            snapshot_conf_index: 0,
            installing: None,
            snapshot_len: None,
            staging: None,
            status: Status::Follower(Follower::default()),
            timer_start: 0,
            peer_capacity: Vec::new(),
            vote_guard_until: 0,
            forwarded_reads: Vec::new(),
            update: Update::default(),
        }
    }

    pub fn id(&self) -> Id {
        self.id
    }

    pub fn address(&self) -> &Arc<str> {
        &self.address
    }

    pub fn seed(&mut self, seed: u32) {
        self.random = seed;
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Sets the base election timeout. 0 is clamped to 1 ms (C-Raft divides by zero). A
    /// follower or candidate draws a new randomized timeout at once.
    pub fn set_election_timeout(&mut self, msecs: u32, mut tracer: Option<&mut dyn Tracer>) {
        if msecs == 0 {
            raft_trace!(tracer, LEVEL_INFO, "election timeout 0 clamped to 1 ms");
        }
        self.settings.election_timeout = msecs.max(1);
        if !matches!(self.status, Status::Leader(_)) {
            self.draw_timer_length();
        }
    }
    pub fn set_heartbeat_timeout(&mut self, msecs: u32) {
        self.settings.heartbeat_timeout = msecs;
    }
    pub fn set_install_snapshot_timeout(&mut self, msecs: u32) {
        self.settings.install_snapshot_timeout = msecs;
    }
    pub fn set_pre_vote(&mut self, enabled: bool) {
        self.settings.pre_vote = enabled;
    }
    pub fn set_max_catch_up_rounds(&mut self, n: u32) {
        self.settings.max_catch_up_rounds = n;
    }
    pub fn set_max_catch_up_round_duration(&mut self, msecs: u32) {
        self.settings.max_catch_up_round_duration = msecs;
    }
    pub fn set_max_inflight_entries(&mut self, n: u32) {
        self.settings.max_inflight_entries = n;
    }
    pub fn set_capacity_threshold(&mut self, min: u16) {
        self.settings.capacity_threshold = min;
    }
    /// Lease reads on or off, and the clock drift the lease allows for (`reads.rs`).
    pub fn set_read_lease(&mut self, enabled: bool, max_clock_drift: u32) {
        self.settings.read_lease = enabled;
        self.settings.max_clock_drift = max_clock_drift;
    }

    /// Feeds one event. On error nothing observable changed and the update must be ignored.
    pub fn step(
        &mut self,
        now: Time,
        capacity: u16,
        event: Event<'_>,
        tracer: Option<&mut dyn Tracer>,
    ) -> Result<&Update, Error> {
        self.update.clear();
        let mut cx = Ctx { now, tracer, update: std::mem::take(&mut self.update) };
        let result = self.dispatch(&mut cx, capacity, event);
        if result.is_ok() {
            self.expire_forwarded_reads(&mut cx);
        }
        self.update = cx.update;
        match result {
            Ok(()) => Ok(&self.update),
            Err(e) => {
                self.update.clear();
                Err(e)
            }
        }
    }

    /// Checks the event against the current state, then applies it. Every `check_*` is free
    /// of side effects; every `on_*` is infallible.
    fn dispatch(&mut self, cx: &mut Ctx<'_>, capacity: u16, event: Event<'_>) -> Result<(), Error> {
        if self.started == matches!(event, Event::Start { .. }) {
            let why = if self.started { "already started" } else { "not started" };
            return Err(Error::Invalid(why.to_string()));
        }
        if cx.now < self.now {
            return Err(Error::Invalid(format!("time went back from {} to {}", self.now, cx.now)));
        }
        match event {
            Event::Start { term, voted_for, snapshot, start_index, entries } => {
                let plan =
                    self.check_start(term, voted_for, snapshot.as_ref(), start_index, entries)?;
                self.accept_time(cx, capacity);
                self.on_start(cx, term, voted_for, snapshot, start_index, entries, plan);
            }
            Event::Receive(received) => {
                let plan = self.check_receive(&received, cx.now)?;
                self.accept_time(cx, capacity);
                self.on_receive(cx, received, plan);
            }
            Event::PersistedEntries { index } => {
                self.check_persisted_entries(index)?;
                self.accept_time(cx, capacity);
                self.on_persisted_entries(cx, index);
            }
            Event::PersistedSnapshot { metadata } => {
                self.check_persisted_snapshot(&metadata)?;
                self.accept_time(cx, capacity);
                self.on_persisted_snapshot(cx);
            }
            Event::PersistedSnapshotChunk { index, term, offset } => {
                self.check_persisted_chunk(index, term, offset)?;
                self.accept_time(cx, capacity);
                self.on_persisted_chunk(cx, offset);
            }
            Event::Configuration { index } => {
                self.accept_time(cx, capacity);
                raft_trace!(cx.tracer, LEVEL_INFO, "> configuration at {index} committed");
                self.on_configuration(cx, index);
            }
            Event::Snapshot { metadata, trailing } => {
                self.check_snapshot(&metadata)?;
                self.accept_time(cx, capacity);
                self.on_snapshot(cx, &metadata, trailing);
            }
            Event::Timeout => {
                self.accept_time(cx, capacity);
                self.on_timeout(cx);
            }
            Event::Submit { entries } => {
                let confs = self.check_submit(entries)?;
                self.accept_time(cx, capacity);
                self.on_submit(cx, entries, confs);
            }
            Event::CatchUp { server_id } => {
                self.check_catch_up(server_id)?;
                self.accept_time(cx, capacity);
                raft_trace!(cx.tracer, LEVEL_INFO, "> catch up server {server_id}");
                self.on_catch_up(cx, server_id);
            }
            Event::Transfer { server_id } => {
                let target = self.check_transfer(server_id)?;
                self.accept_time(cx, capacity);
                self.on_transfer(cx, target);
            }
            Event::Read { id } => {
                self.check_read()?;
                self.accept_time(cx, capacity);
                self.on_read(cx, id);
            }
        }
        Ok(())
    }

    /// The event is valid: from here on the step changes state.
    fn accept_time(&mut self, cx: &Ctx<'_>, capacity: u16) {
        self.now = cx.now;
        self.capacity = capacity;
    }

    pub fn current_term(&self) -> Term {
        self.term
    }
    /// This server's disk capacity, as last reported by the host.
    pub fn capacity(&self) -> u16 {
        self.capacity
    }
    pub fn voted_for(&self) -> Id {
        self.voted_for
    }
    pub fn commit_index(&self) -> Index {
        self.commit
    }

    pub fn match_index(&self, id: Id) -> Result<Index, Error> {
        let Status::Leader(leader) = &self.status else {
            return Err(Error::NotLeader);
        };
        if id == self.id && self.membership.current.get(id).is_some() {
            return Ok(self.durable);
        }
        match leader.progress.iter().find(|p| p.id == id) {
            Some(p) => Ok(p.matched),
            None => Err(Error::BadId(format!("server {id} is not in the configuration"))),
        }
    }

    pub fn catch_up(&self, id: Id) -> Result<CatchUpStatus, Error> {
        let Status::Leader(leader) = &self.status else {
            return Err(Error::NotLeader);
        };
        match leader.progress.iter().find(|p| p.id == id) {
            Some(p) => Ok(p.catch_up.status),
            None => Err(Error::BadId(format!("server {id} is not in the configuration"))),
        }
    }

    pub fn transferee(&self) -> Id {
        match &self.status {
            Status::Leader(Leader { transfer: Some(t), .. }) => t.target,
            _ => 0,
        }
    }

    pub fn state(&self) -> State {
        match self.status {
            Status::Follower(_) => State::Follower,
            Status::Candidate(_) => State::Candidate,
            Status::Leader(_) => State::Leader,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.membership.current.role_of(self.id)
    }

    pub fn leader(&self) -> Option<(Id, &Arc<str>)> {
        match &self.status {
            Status::Follower(f) => f.leader.as_ref().map(|(id, address)| (*id, address)),
            Status::Candidate(_) => None,
            Status::Leader(l) if l.transfer.is_some() => None,
            Status::Leader(_) => Some((self.id, &self.address)),
        }
    }

    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// Index of the most recent snapshot (0 if none).
    pub fn snapshot_index(&self) -> Index {
        self.log.snapshot_index()
    }

    /// Highest index known durable on this server.
    pub fn persisted_index(&self) -> Index {
        self.durable
    }

    /// The configurations and their indexes, as C-Raft's `struct raft` shows them.
    pub fn membership(&self) -> MembershipView<'_> {
        let m = &self.membership;
        MembershipView {
            current: &m.current,
            committed: &m.committed,
            committed_index: m.committed_index,
            uncommitted_index: m.uncommitted_index,
            generation: m.generation,
        }
    }

    /// The configuration in effect at log index `index` and the index of its entry: what a
    /// snapshot up to `index` records. None when `index` precedes every known configuration.
    pub fn configuration_as_of(&self, index: Index) -> Option<(&Configuration, Index)> {
        self.membership.as_of(index)
    }

    /// The configuration in effect (possibly uncommitted).
    pub fn configuration(&self) -> &Configuration {
        &self.membership.current
    }

    /// The term of the entry at `index`, if the log holds it or it is the snapshot's last entry.
    pub fn term_of(&self, index: Index) -> Option<Term> {
        self.log.term_of(index)
    }

    // ---- helpers shared by the rules ----

    /// The configuration carried by the payload of a `Change` entry.
    pub(crate) fn decode_change(&self, payload: &[u8]) -> Result<Configuration, Error> {
        (self.configurations.decode(payload))
            .map_err(|why| Error::Malformed(format!("bad configuration: {why}")))
    }

    /// Whether this server may move to a new term of its own making (an election): its term
    /// must stay within [`MAX_TERM`], and its log must have room for the barrier a new leader
    /// appends. Without this a forged term near the limit would make the next election wrap.
    pub(crate) fn can_start_new_term(&self) -> bool {
        self.term < MAX_TERM && self.log.last_index() < MAX_INDEX
    }

    /// Moves to a higher term: no vote yet, and no longer leader or candidate of the old one.
    pub(crate) fn adopt_term(&mut self, cx: &mut Ctx<'_>, term: Term) {
        raft_trace!(cx.tracer, LEVEL_INFO, "  adopt term {term} (was {})", self.term);
        self.term = term;
        self.voted_for = 0;
        cx.update.term_changed = true;
        cx.update.vote_changed = true;
        match &mut self.status {
            Status::Follower(f) => *f = Follower::default(),
            _ => self.become_follower(cx),
        }
    }

    pub(crate) fn become_follower(&mut self, cx: &mut Ctx<'_>) {
        if !matches!(self.status, Status::Follower(_)) {
            cx.update.state_changed = true;
        }
        self.fail_reads(cx);
        self.status = Status::Follower(Follower::default());
        self.restart_election_timer(cx, true);
    }

    /// The address to reply to `id`: the configuration's copy when it matches (no allocation).
    pub(crate) fn reply_address(&self, id: Id, given: &str) -> Arc<str> {
        if let Some(server) = self.membership.current.get(id) {
            if &*server.address == given {
                return server.address.clone();
            }
        }
        if let Status::Follower(Follower { leader: Some((leader, address)), .. }) = &self.status {
            if *leader == id && &**address == given {
                return address.clone();
            }
        }
        Arc::from(given)
    }

    pub(crate) fn progress_position(&self, id: Id) -> Option<usize> {
        match &self.status {
            Status::Leader(l) => l.progress.iter().position(|p| p.id == id),
            _ => None,
        }
    }

    pub(crate) fn record_capacity(&mut self, id: Id, features: u16, capacity: u16) {
        if features & super::message::FEATURE_CAPACITY == 0 {
            self.peer_capacity.retain(|(peer, _)| *peer != id);
            return;
        }
        match self.peer_capacity.iter_mut().find(|(peer, _)| *peer == id) {
            Some(entry) => entry.1 = capacity,
            None => self.peer_capacity.push((id, capacity)),
        }
    }
}
