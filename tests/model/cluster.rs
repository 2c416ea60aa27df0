//! The model's state: three servers, each a real `raft::core::Raft` behind a minimal host, and
//! the network between them.
//!
//! Why a server is stored as "what it loaded at START + the events it accepted since": the
//! checker must clone, hash and compare states, and `Raft` offers none of that (it is neither
//! `Clone` nor `Hash`, and much of what decides its next move — progress, timers, the follower's
//! verified index — has no public accessor). A fingerprint built from the public accessors would
//! merge servers that differ in that hidden state and silently skip behaviours. The inputs since
//! START determine the `Raft` exactly (the core is deterministic: fixed seed, and the clock of a
//! step is recomputed from the replayed server), so the model keeps them and rebuilds a server by
//! replaying them whenever an action touches it. Two states are merged only when every server
//! saw the same inputs: interleavings of independent steps on different servers still collapse,
//! which is where most of the reduction comes from.
//!
//! The host side (durable disk, in-memory log with payloads, pending writes, applied entries)
//! is kept explicitly, as the simulator's host (`tests/sim/host.rs`) keeps it.

use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use raft::codec::configuration as codec;
use raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult, TimeoutNow};
use raft::core::{
    Configuration, EntrySource, EntryType, EntryView, Error, Event, Incoming, Outgoing, Raft,
    Received, Role, State,
};

pub const SERVERS: u64 = 3;
/// The base election timeout; a server's timers run on its own logical clock.
pub const ELECTION_TIMEOUT: u64 = 1000;
/// Disk capacity every host reports (no capacity threshold is set, so it never blocks).
const CAPACITY: u16 = 100;

/// A server's place in a configuration. Only voters and stand-bys are modelled: demoting a
/// voter to stand-by and promoting it back are the one-voter-at-a-time changes of §4.1 of the
/// dissertation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seat {
    Voter,
    Standby,
}

/// The roles of servers 1, 2 and 3, in that order.
pub type Roles = [Seat; SERVERS as usize];

pub fn voter_count(roles: &Roles) -> usize {
    roles.iter().filter(|s| **s == Seat::Voter).count()
}

pub fn configuration(roles: &Roles) -> Configuration {
    let mut conf = Configuration::new();
    for (i, seat) in roles.iter().enumerate() {
        let role = match seat {
            Seat::Voter => Role::Voter,
            Seat::Standby => Role::Standby,
        };
        let id = i as u64 + 1;
        conf.add(id, &address(id), role).expect("distinct ids and addresses");
    }
    conf
}

/// The roles of a configuration of servers 1..=3, or None if it names anything else.
fn roles_of(conf: &Configuration) -> Option<Roles> {
    if conf.len() != SERVERS as usize {
        return None;
    }
    let mut roles = [Seat::Standby; SERVERS as usize];
    for server in &conf.servers {
        let slot = roles.get_mut(server.id.checked_sub(1)? as usize)?;
        *slot = match server.role {
            Role::Voter => Seat::Voter,
            Role::Standby => Seat::Standby,
            Role::Spare => return None,
        };
    }
    Some(roles)
}

pub fn address(id: u64) -> String {
    format!("node-{id}")
}

/// What an entry carries, compactly (payload bytes are made when the core borrows them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Data {
    /// The n-th command submitted in the run: unique, so that two entries never look alike.
    Command(u8),
    Barrier,
    Change(Roles),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    pub term: u64,
    pub data: Data,
}

impl Entry {
    fn kind(&self) -> EntryType {
        match self.data {
            Data::Command(_) => EntryType::Command,
            Data::Barrier => EntryType::Barrier,
            Data::Change(_) => EntryType::Change,
        }
    }

    fn payload(&self) -> Vec<u8> {
        match self.data {
            Data::Command(n) => vec![n, 0, 0, 0, 0, 0, 0, 0],
            Data::Barrier => vec![0; 8],
            Data::Change(roles) => codec::encode(&configuration(&roles)),
        }
    }
}

/// Entries lent to one step: owns the payloads that the views borrow.
struct Lent {
    payloads: Vec<Vec<u8>>,
    kinds: Vec<(u64, EntryType)>,
}

impl Lent {
    fn new(entries: &[Entry]) -> Lent {
        Lent {
            payloads: entries.iter().map(Entry::payload).collect(),
            kinds: entries.iter().map(|e| (e.term, e.kind())).collect(),
        }
    }

    fn views(&self) -> Vec<EntryView<'_>> {
        self.kinds
            .iter()
            .zip(&self.payloads)
            .map(|(&(term, kind), payload)| EntryView { term, kind, payload })
            .collect()
    }
}

/// A message body in flight, owning its entries (the host attached them when sending).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Body {
    RequestVote { term: u64, last_index: u64, last_term: u64, disrupt: bool, pre_vote: bool },
    VoteResult { term: u64, granted: bool, pre_vote: bool, features: u16, capacity: u16 },
    Append { term: u64, prev_index: u64, prev_term: u64, commit: u64, entries: Vec<Entry> },
    AppendResult { term: u64, rejected: u64, last_index: u64, features: u16, capacity: u16 },
    TimeoutNow { term: u64, last_index: u64, last_term: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    pub from: u64,
    pub to: u64,
    pub body: Body,
}

/// Everything the servers ever sent and nobody received or dropped yet, with multiplicity: the
/// network loses, duplicates and reorders freely.
pub type Network = SortedMap<Packet, u8>;

pub fn in_flight(net: &Network) -> usize {
    net.values().map(|n| usize::from(*n)).sum()
}

/// A map kept as a sorted vector. A state holds a handful of keys, and a B-tree node for each
/// map of each state cost more memory than the rest of the state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SortedMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn new() -> Self {
        SortedMap::default()
    }

    fn position(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    /// The value of `key`, inserting `value` first if the key is absent.
    pub fn or_insert(&mut self, key: K, value: V) -> &mut V {
        let i = match self.position(&key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, value));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One event a server accepted, enough to step it again on replay.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    Timeout,
    Receive(Packet),
    Persisted(u64),
    Configuration(u64, Roles),
    Submit(Vec<Entry>),
}

/// The inputs a server accepted since START, newest first, as a persistent list: a state
/// shares all but its newest input with the state it came from (copying them made up most of
/// the memory of a search). Hashing uses a digest kept per node; equality compares inputs.
#[derive(Clone, Default)]
pub struct Inputs {
    last: Option<Arc<Node>>,
}

struct Node {
    input: Input,
    previous: Option<Arc<Node>>,
    len: usize,
    /// Hash of the previous digest and this input, with a fixed-key hasher (fingerprints must
    /// agree across threads and runs for traces to be rebuilt).
    digest: u64,
}

impl Inputs {
    pub fn push(&mut self, input: Input) {
        let mut hasher = std::hash::DefaultHasher::new();
        (self.digest(), &input).hash(&mut hasher);
        let node = Node { input, previous: self.last.take(), len: self.len() + 1, digest: 0 };
        self.last = Some(Arc::new(Node { digest: hasher.finish(), ..node }));
    }

    pub fn len(&self) -> usize {
        self.last.as_ref().map_or(0, |n| n.len)
    }

    fn digest(&self) -> u64 {
        self.last.as_ref().map_or(0, |n| n.digest)
    }

    /// Oldest first.
    pub fn in_order(&self) -> Vec<&Input> {
        let mut out = Vec::with_capacity(self.len());
        let mut node = self.last.as_deref();
        while let Some(n) = node {
            out.push(&n.input);
            node = n.previous.as_deref();
        }
        out.reverse();
        out
    }
}

impl Hash for Inputs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.len(), self.digest()).hash(state);
    }
}

impl PartialEq for Inputs {
    fn eq(&self, other: &Inputs) -> bool {
        let same_node = match (&self.last, &other.last) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        let alike = self.len() == other.len() && self.digest() == other.digest();
        same_node || (alike && self.in_order() == other.in_order())
    }
}

impl Eq for Inputs {}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.in_order()).finish()
    }
}

/// What survives a crash: term, vote and the entries written so far (always from index 1: no
/// snapshots are taken in this model).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Disk {
    pub term: u64,
    pub vote: u64,
    pub log: Vec<Entry>,
}

/// Entries handed to the host for writing, not yet durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Write {
    pub first: u64,
    pub entries: Vec<Entry>,
    /// Last index of this write that no later truncation replaced.
    pub valid_end: u64,
}

/// The server as the properties see it after its last step (from the core's accessors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Observed {
    pub state: StateTag,
    pub term: u64,
    pub commit: u64,
    /// The configuration in effect (None: one this model never makes).
    pub roles: Option<Roles>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateTag {
    Follower,
    Candidate,
    Leader,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server {
    pub id: u64,
    /// What the last RAFT_START loaded; with `inputs`, this is the `Raft` (see the module doc).
    pub boot: Disk,
    pub inputs: Inputs,
    pub disk: Disk,
    /// The host's in-memory log (index 1 first): what AppendEntries are filled from.
    pub log: Vec<Entry>,
    pub writes: Vec<Write>,
    /// Entries applied to the state machine since the last start (index 1 first).
    pub applied: Vec<Entry>,
    pub observed: Observed,
}

/// Facts about the whole run that the properties need beyond the current state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    /// (term, id) of every server that was ever leader.
    pub leaders: SortedMap<(u64, u64), ()>,
    /// Every committed index: the entry, and the lowest term in which a server knew it
    /// committed (leaders of later terms must hold it: leader completeness).
    pub committed: SortedMap<u64, (u64, Entry)>,
    /// Honest events the core refused, core panics, and host contract breaches.
    pub faults: Vec<String>,
    pub commands: u8,
    pub changes: u8,
    pub crashes: u8,
}

impl History {
    fn record_commit(&mut self, term: u64, index: u64, entry: Entry) {
        let slot = self.committed.or_insert(index, (term, entry));
        if slot.1 == entry {
            slot.0 = slot.0.min(term);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cluster {
    /// Shared between states until changed: a step copies only the servers it touches.
    pub servers: Vec<Arc<Server>>,
    pub net: Network,
    pub history: History,
    /// Whether every server runs the pre-vote phase (dissertation §9.6) before an election.
    pub pre_vote: bool,
}

/// The clock value at which a Timeout is stepped: late enough that the election timer of a
/// follower or candidate has expired, and for a leader a whole election timeout later, so
/// that check-quorum decides whether it stays (and it sends its heartbeats).
fn timeout_time(raft: &Raft, now: u64) -> u64 {
    if raft.state() == State::Leader {
        now + ELECTION_TIMEOUT
    } else {
        now.max(raft.timeout())
    }
}

fn new_raft(id: u64, pre_vote: bool) -> Raft {
    let mut raft = Raft::new(id, &address(id), &raft::codec::configuration::CRAFT);
    // A fixed seed: replaying the same inputs must give the same server.
    raft.seed(id as u32);
    raft.set_election_timeout(ELECTION_TIMEOUT as u32, None);
    raft.set_heartbeat_timeout(100);
    raft.set_pre_vote(pre_vote);
    raft
}

/// The message as the receiving core borrows it, with the entries of an AppendEntries.
fn incoming<'a>(packet: &Packet, entries: &'a [EntryView<'a>]) -> Incoming<'a> {
    match packet.body {
        Body::RequestVote { term, last_index, last_term, disrupt, pre_vote } => {
            Incoming::RequestVote(RequestVote {
                term,
                candidate_id: packet.from,
                last_log_index: last_index,
                last_log_term: last_term,
                disrupt_leader: disrupt,
                pre_vote,
            })
        }
        Body::VoteResult { term, granted, pre_vote, features, capacity } => {
            Incoming::RequestVoteResult(RequestVoteResult {
                term,
                vote_granted: granted,
                pre_vote,
                features,
                capacity,
            })
        }
        Body::Append { term, prev_index, prev_term, commit, .. } => Incoming::AppendEntries {
            term,
            prev_log_index: prev_index,
            prev_log_term: prev_term,
            leader_commit: commit,
            entries,
        },
        Body::AppendResult { term, rejected, last_index, features, capacity } => {
            Incoming::AppendEntriesResult(AppendEntriesResult {
                term,
                rejected,
                last_log_index: last_index,
                features,
                capacity,
            })
        }
        Body::TimeoutNow { term, last_index, last_term } => Incoming::TimeoutNow(TimeoutNow {
            term,
            last_log_index: last_index,
            last_log_term: last_term,
        }),
    }
}

/// Steps one input on `raft` at `now`, lending the payloads it needs.
fn step_input(raft: &mut Raft, now: u64, input: &Input) -> Result<Changes, Error> {
    let update = match input {
        Input::Timeout => raft.step(now, CAPACITY, Event::Timeout, None),
        Input::Persisted(index) => {
            raft.step(now, CAPACITY, Event::PersistedEntries { index: *index }, None)
        }
        Input::Configuration(index, _) => {
            raft.step(now, CAPACITY, Event::Configuration { index: *index }, None)
        }
        Input::Submit(entries) => {
            let lent = Lent::new(entries);
            raft.step(now, CAPACITY, Event::Submit { entries: &lent.views() }, None)
        }
        Input::Receive(packet) => {
            let lent = match &packet.body {
                Body::Append { entries, .. } => Lent::new(entries),
                _ => Lent::new(&[]),
            };
            let views = lent.views();
            let from_address = address(packet.from);
            let body = incoming(packet, &views);
            let received =
                Received { from: packet.from, from_address: &from_address, body, read_context: 0 };
            raft.step(now, CAPACITY, Event::Receive(received), None)
        }
    };
    update.map(Changes::of)
}

/// What the host must do after a step, copied out of the core's update.
struct Changes {
    term_or_vote: bool,
    entries: Option<(u64, EntrySource)>,
    messages: Vec<(u64, Outgoing)>,
    snapshot: bool,
    commit: bool,
}

impl Changes {
    fn of(u: &raft::core::Update) -> Changes {
        Changes {
            term_or_vote: u.term_changed || u.vote_changed,
            entries: u.entries.map(|e| (e.index, e.source)),
            messages: u.messages.iter().map(|m| (m.to, m.body.clone())).collect(),
            snapshot: u.snapshot.is_some(),
            commit: u.commit_index_changed,
        }
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

impl Server {
    /// A server that has just loaded `disk` (not yet started).
    fn loaded(id: u64, disk: Disk) -> Server {
        Server {
            id,
            boot: disk.clone(),
            inputs: Inputs::default(),
            log: disk.log.clone(),
            disk,
            writes: Vec::new(),
            applied: Vec::new(),
            observed: Observed { state: StateTag::Follower, term: 0, commit: 0, roles: None },
        }
    }

    fn start_event_entries(&self) -> Lent {
        Lent::new(&self.boot.log)
    }

    /// Rebuilds this server's `Raft` by stepping RAFT_START and every accepted input again;
    /// returns it with its clock.
    fn revive(&self, pre_vote: bool) -> Result<(Raft, u64), String> {
        let mut raft = new_raft(self.id, pre_vote);
        let lent = self.start_event_entries();
        let views = lent.views();
        let start = Event::Start {
            term: self.boot.term,
            voted_for: self.boot.vote,
            snapshot: None,
            start_index: 1,
            entries: &views,
        };
        raft.step(0, CAPACITY, start, None).map_err(|e| format!("replayed start: {e}"))?;
        let mut now = 0;
        for input in self.inputs.in_order() {
            if *input == Input::Timeout {
                now = timeout_time(&raft, now);
            }
            step_input(&mut raft, now, input).map_err(|e| format!("replaying {input:?}: {e}"))?;
        }
        Ok((raft, now))
    }

    fn observe(&mut self, raft: &Raft) {
        let state = match raft.state() {
            State::Follower => StateTag::Follower,
            State::Candidate => StateTag::Candidate,
            State::Leader => StateTag::Leader,
        };
        self.observed = Observed {
            state,
            term: raft.current_term(),
            commit: raft.commit_index(),
            roles: roles_of(raft.configuration()),
        };
    }
}

/// How an action on a server ended.
pub enum Outcome {
    Done,
    /// The core refused the event: nothing changed, the action does not apply.
    Refused(Error),
}

impl Cluster {
    /// Three servers bootstrapped with the same configuration entry, each stepped through
    /// RAFT_START (a lone voter leads at once).
    pub fn bootstrap(roles: &Roles, pre_vote: bool) -> Cluster {
        let first = Entry { term: 1, data: Data::Change(*roles) };
        let disk = Disk { term: 1, vote: 0, log: vec![first] };
        let servers = (1..=SERVERS).map(|id| Arc::new(Server::loaded(id, disk.clone()))).collect();
        let history = History::default();
        let mut cluster = Cluster { servers, net: Network::new(), history, pre_vote };
        for id in 1..=SERVERS {
            cluster.start(id);
        }
        cluster
    }

    pub fn server(&self, id: u64) -> &Server {
        &self.servers[(id - 1) as usize]
    }

    /// The server, to change: copied first if another state shares it.
    pub fn server_mut(&mut self, id: u64) -> &mut Server {
        Arc::make_mut(&mut self.servers[(id - 1) as usize])
    }

    fn fault(&mut self, id: u64, what: String) {
        self.history.faults.push(format!("server {id}: {what}"));
    }

    /// Crash and restart: unpersisted writes are lost, RAFT_START loads the disk.
    pub fn restart(&mut self, id: u64) {
        let disk = self.server(id).disk.clone();
        self.servers[(id - 1) as usize] = Arc::new(Server::loaded(id, disk));
        self.history.crashes += 1;
        self.start(id);
    }

    fn start(&mut self, id: u64) {
        let server = self.server(id).clone();
        let lent = server.start_event_entries();
        let mut raft = new_raft(id, self.pre_vote);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let views = lent.views();
            let start = Event::Start {
                term: server.boot.term,
                voted_for: server.boot.vote,
                snapshot: None,
                start_index: 1,
                entries: &views,
            };
            raft.step(0, CAPACITY, start, None).map(Changes::of)
        }));
        match result {
            Ok(Ok(changes)) => {
                let mut raft = raft;
                self.process(id, &mut raft, 0, None, changes);
            }
            Ok(Err(e)) => self.fault(id, format!("RAFT_START refused the durable state: {e}")),
            Err(p) => self.fault(id, format!("RAFT_START panicked: {}", panic_text(p))),
        }
    }

    /// Steps `input` on server `id` and carries out its update as a host would.
    pub fn step(&mut self, id: u64, input: Input) -> Outcome {
        let revived = self.server(id).revive(self.pre_vote);
        let (mut raft, mut now) = match revived {
            Ok(r) => r,
            Err(e) => {
                self.fault(id, e);
                return Outcome::Done;
            }
        };
        self.step_on(id, &mut raft, &mut now, input)
    }

    fn step_on(&mut self, id: u64, raft: &mut Raft, now: &mut u64, input: Input) -> Outcome {
        if input == Input::Timeout {
            *now = timeout_time(raft, *now);
        }
        let at = *now;
        let result = catch_unwind(AssertUnwindSafe(|| step_input(raft, at, &input)));
        let changes = match result {
            Ok(Ok(changes)) => changes,
            Ok(Err(e)) => return Outcome::Refused(e),
            Err(p) => {
                self.fault(id, format!("{input:?} panicked: {}", panic_text(p)));
                return Outcome::Done;
            }
        };
        let lent_entries = match &input {
            Input::Submit(entries) => Some(entries.clone()),
            Input::Receive(Packet { body: Body::Append { entries, .. }, .. }) => {
                Some(entries.clone())
            }
            _ => None,
        };
        self.server_mut(id).inputs.push(input);
        self.process(id, raft, at, lent_entries, changes);
        Outcome::Done
    }

    /// Carries out an update: term and vote are durable at once (before anything is sent),
    /// new entries go to the in-memory log and the write queue, messages to the network,
    /// newly committed entries are applied and committed configurations reported.
    fn process(
        &mut self,
        id: u64,
        raft: &mut Raft,
        now: u64,
        lent: Option<Vec<Entry>>,
        changes: Changes,
    ) {
        if changes.term_or_vote {
            self.server_mut(id).disk.term = raft.current_term();
            self.server_mut(id).disk.vote = raft.voted_for();
        }
        if changes.snapshot {
            self.fault(id, "asked to store a snapshot nobody sent".into());
        }
        if let Some((index, source)) = changes.entries {
            self.store_entries(id, index, source, lent.as_deref());
        }
        for (to, body) in changes.messages {
            match self.attach(id, body) {
                Ok(body) => *self.net.or_insert(Packet { from: id, to, body }, 0) += 1,
                Err(e) => self.fault(id, e),
            }
        }
        self.server_mut(id).observe(raft);
        let observed = self.server_mut(id).observed;
        if observed.state == StateTag::Leader {
            self.history.leaders.or_insert((observed.term, id), ());
        }
        if changes.commit {
            let configurations = self.apply(id, raft.commit_index(), observed.term);
            let mut now = now;
            for (index, roles) in configurations {
                match self.step_on(id, raft, &mut now, Input::Configuration(index, roles)) {
                    Outcome::Done => {}
                    Outcome::Refused(e) => self.fault(id, format!("configuration {index}: {e}")),
                }
            }
        }
    }

    fn store_entries(&mut self, id: u64, index: u64, source: EntrySource, lent: Option<&[Entry]>) {
        let entries: Vec<Entry> = match (source, lent) {
            (EntrySource::Event { skip }, Some(es)) if skip <= es.len() => es[skip..].to_vec(),
            (EntrySource::Barrier { term }, _) => vec![Entry { term, data: Data::Barrier }],
            (source, _) => {
                return self.fault(id, format!("entries from {source:?} without such entries"))
            }
        };
        let server = self.server_mut(id);
        if index == 0 || index > server.log.len() as u64 + 1 {
            let last = server.log.len();
            return self.fault(id, format!("entries at {index} leave a gap after {last}"));
        }
        server.log.truncate((index - 1) as usize);
        server.log.extend(entries.iter().copied());
        for w in &mut server.writes {
            w.valid_end = w.valid_end.min(index - 1);
        }
        let valid_end = index + entries.len() as u64 - 1;
        server.writes.push(Write { first: index, entries, valid_end });
    }

    /// Turns an outgoing message into a packet body, attaching entries from the host's log.
    fn attach(&self, id: u64, body: Outgoing) -> Result<Body, String> {
        Ok(match body {
            Outgoing::RequestVote(rv) => Body::RequestVote {
                term: rv.term,
                last_index: rv.last_log_index,
                last_term: rv.last_log_term,
                disrupt: rv.disrupt_leader,
                pre_vote: rv.pre_vote,
            },
            Outgoing::RequestVoteResult(r) => Body::VoteResult {
                term: r.term,
                granted: r.vote_granted,
                pre_vote: r.pre_vote,
                features: r.features,
                capacity: r.capacity,
            },
            Outgoing::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                n_entries,
            } => {
                let log = &self.server(id).log;
                let from = prev_log_index as usize;
                let to = from.checked_add(n_entries as usize).filter(|&to| to <= log.len());
                let Some(to) = to else {
                    return Err(format!(
                        "AppendEntries of {n_entries} entries after {prev_log_index} beyond \
                         the log's {} entries",
                        log.len()
                    ));
                };
                Body::Append {
                    term,
                    prev_index: prev_log_index,
                    prev_term: prev_log_term,
                    commit: leader_commit,
                    entries: log[from..to].to_vec(),
                }
            }
            Outgoing::AppendEntriesResult(r) => Body::AppendResult {
                term: r.term,
                rejected: r.rejected,
                last_index: r.last_log_index,
                features: r.features,
                capacity: r.capacity,
            },
            Outgoing::InstallSnapshot { last_index, last_term, .. }
            | Outgoing::InstallSnapshotChunk { last_index, last_term, .. } => {
                return Err(format!(
                    "InstallSnapshot of {last_index}/{last_term} although no snapshot exists"
                ));
            }
            Outgoing::SnapshotChunkResult(r) => {
                return Err(format!("snapshot chunk result {r:?} although no snapshot exists"));
            }
            Outgoing::ReadIndex(_) | Outgoing::ReadIndexResult(_) => {
                return Err("a read forwarded although the model asks for none".into());
            }
            Outgoing::TimeoutNow(t) => Body::TimeoutNow {
                term: t.term,
                last_index: t.last_log_index,
                last_term: t.last_log_term,
            },
        })
    }

    /// Applies the entries up to `commit`; returns the committed configurations to report.
    fn apply(&mut self, id: u64, commit: u64, term: u64) -> Vec<(u64, Roles)> {
        let mut configurations = Vec::new();
        while (self.server(id).applied.len() as u64) < commit {
            let index = self.server(id).applied.len() as u64 + 1;
            let Some(&entry) = self.server(id).log.get((index - 1) as usize) else {
                self.fault(id, format!("committed entry {index} is not in the log"));
                break;
            };
            self.server_mut(id).applied.push(entry);
            self.history.record_commit(term, index, entry);
            if let Data::Change(roles) = entry.data {
                configurations.push((index, roles));
            }
        }
        configurations
    }

    /// Completes the `n` oldest pending writes, in order, telling the core after each what it
    /// may now count on.
    pub fn persist(&mut self, id: u64, n: usize) {
        let n = n.min(self.server(id).writes.len());
        if n == 0 {
            return;
        }
        let (mut raft, mut now) = match self.server(id).revive(self.pre_vote) {
            Ok(r) => r,
            Err(e) => return self.fault(id, e),
        };
        for _ in 0..n {
            let w = self.server_mut(id).writes.remove(0);
            let disk = &mut self.server_mut(id).disk;
            if w.first == 0 || w.first > disk.log.len() as u64 + 1 {
                return self.fault(id, format!("write at {} leaves a gap", w.first));
            }
            disk.log.truncate((w.first - 1) as usize);
            disk.log.extend(w.entries.iter().copied());
            // Entries that a later truncation replaced are durable but no longer the log's.
            let end = w.valid_end.min(w.first + w.entries.len() as u64 - 1);
            if end < w.first || end <= raft.persisted_index() {
                continue;
            }
            let persisted = Input::Persisted(end);
            if let Outcome::Refused(e) = self.step_on(id, &mut raft, &mut now, persisted) {
                self.fault(id, format!("persisted entries up to {end}: {e}"));
            }
        }
    }
}
