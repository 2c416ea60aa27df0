//! The driver: one thread owns the `raft::core::Raft` instance, the storage and the state
//! machine, and turns everything into events (docs/contract.md#host-loop). Disk writes are
//! synchronous, so when a received AppendEntries has been stepped and its entries written,
//! the core's reply exists and goes straight back to the gRPC handler waiting for it.

mod apply;
pub mod command;
pub mod options;
mod update;

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use raft::codec::Entry;
use raft::core::{
    Bootstrap, Configuration, EntryType, EntryView, Event, Id, Incoming, Index, Raft, Received,
    Role, SnapshotMetadata, State, Term,
};
use tokio::sync::oneshot;

use self::command::{Answer, Command, Inbound, PutOutcome};
use self::options::Options;
use crate::kv::{self, Store};
use crate::log_cache::LogCache;
use crate::storage::{Loaded, Storage};
use crate::transport::Transport;

/// An event with everything it refers to owned, so that it can wait in a queue.
enum Pending {
    Start(Loaded),
    Receive(Id, Inbound),
    PersistedEntries(Index),
    PersistedSnapshot(SnapshotMetadata),
    PersistedSnapshotChunk { index: Index, term: Term, offset: u64 },
    Configuration(Index),
    Snapshot(SnapshotMetadata, u32),
    Timeout,
    Submit(Vec<Entry>),
    Read(u64),
}

/// Snapshot chunks in flight to one follower (see `Node::new`).
const SNAPSHOT_CHUNK_WINDOW: u32 = 1;

/// A Get waiting for its read: the key and the handler's reply.
pub(crate) type GetWaiter = (String, oneshot::Sender<Result<(Option<String>, Index), String>>);

pub struct Node {
    options: Options,
    raft: Raft,
    started: bool,
    clock: Instant,
    storage: Storage,
    log: LogCache,
    store: Store,
    last_applied: Index,
    /// The latest applied configuration and its index: what a snapshot taken now records.
    applied_conf: (Index, Configuration),
    /// Our latest snapshot's position (its data is on disk: chunks are read from there).
    snapshot: Option<SnapshotMetadata>,
    /// The data of a snapshot chunk received from the leader, while the step that hands it
    /// out to be stored runs.
    receiving_chunk: Option<Vec<u8>>,
    transport: Transport,
    /// Client writes waiting to be applied: log index → (term submitted, reply).
    waiters: BTreeMap<Index, (Term, oneshot::Sender<PutOutcome>)>,
    /// Linearizable reads asked of the core, by read ID, and those confirmed, waiting for the
    /// store to apply up to their read index.
    reads: BTreeMap<u64, GetWaiter>,
    ready_reads: Vec<(Index, GetWaiter)>,
    next_read: u64,
    /// The handler waiting for the reply to the request being stepped, and its sender.
    answer: Option<(Id, oneshot::Sender<Answer>)>,
    pending: VecDeque<Pending>,
}

impl Node {
    pub fn new(options: Options, storage: Storage, loaded: Loaded, transport: Transport) -> Node {
        let mut raft = Raft::new(options.id, options.address(), &raft::codec::configuration::CRAFT);
        raft.seed(options.id as u32 ^ std::process::id());
        raft.set_election_timeout(options.election_timeout, None);
        raft.set_heartbeat_timeout(options.heartbeat_timeout);
        raft.set_install_snapshot_timeout(options.install_snapshot_timeout);
        // The seed's Vote request has no pre_vote flag: pre-vote stays off (the default).
        raft.set_pre_vote(false);
        // Snapshots are streamed in chunks of the node's chunk size (every wolf node does, so
        // the transport advertises it for each peer). One chunk at a time: each is a unary
        // gRPC call in its own task, and concurrent calls may reach the follower in any order,
        // which it would refuse; with one in flight the next goes when the reply came back.
        raft.set_snapshot_chunks(options.chunk_size as u64, SNAPSHOT_CHUNK_WINDOW);
        let mut node = Node {
            options,
            raft,
            started: false,
            clock: Instant::now(),
            log: LogCache::new(1, Vec::new()),
            storage,
            store: Store::default(),
            last_applied: 0,
            applied_conf: (0, Configuration::new()),
            snapshot: None,
            receiving_chunk: None,
            transport,
            waiters: BTreeMap::new(),
            reads: BTreeMap::new(),
            ready_reads: Vec::new(),
            next_read: 0,
            answer: None,
            pending: VecDeque::new(),
        };
        if !node.storage.is_pristine() {
            node.start(loaded);
        }
        node
    }

    /// Serves commands until every sender is gone.
    pub fn run(mut self, commands: Receiver<Command>) {
        loop {
            let wait = self.until_timeout();
            if wait.is_zero() {
                if let Err(e) = self.run_event(Pending::Timeout) {
                    eprintln!("[{}] timeout failed: {e}", self.options.id);
                }
                continue;
            }
            match commands.recv_timeout(wait) {
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn until_timeout(&self) -> Duration {
        if !self.started {
            return Duration::from_secs(3600);
        }
        Duration::from_millis(self.raft.timeout().saturating_sub(self.now()))
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Receive { from, message, answer } => self.receive(from, message, answer),
            Command::Bootstrap { voters, done } => {
                let _ = done.send(self.bootstrap(voters));
            }
            Command::Metrics { done } => {
                let _ =
                    done.send(raft::present::metrics_json(&self.raft.metrics(self.last_applied)));
            }
            Command::Put { key, value, done } => self.put(&key, &value, done),
            Command::Get { key, done } => self.get(key, done),
        }
    }

    /// Get: linearizable on the leader, the local applied state elsewhere (see `Command::Get`).
    fn get(&mut self, key: String, done: oneshot::Sender<Result<(Option<String>, Index), String>>) {
        if !self.started || self.raft.state() != State::Leader {
            let _ = done.send(Ok((self.store.get(&key).cloned(), self.last_applied)));
            return;
        }
        self.next_read += 1;
        let id = self.next_read;
        self.reads.insert(id, (key, done));
        if let Err(e) = self.run_event(Pending::Read(id)) {
            if let Some((_, done)) = self.reads.remove(&id) {
                let _ = done.send(Err(format!("the read was refused: {e}")));
            }
        }
    }

    fn receive(&mut self, from: Id, message: Inbound, answer: Option<oneshot::Sender<Answer>>) {
        if !self.started {
            if let Some(answer) = answer {
                let _ = answer.send(Answer::Nothing("this node is not bootstrapped".into()));
            }
            return;
        }
        self.answer = answer.map(|a| (from, a));
        let result = self.run_event(Pending::Receive(from, message));
        if let Some((_, answer)) = self.answer.take() {
            let why = match result {
                Err(e) => format!("the request was refused: {e}"),
                Ok(()) => "the request was dropped (no reply is due)".to_string(),
            };
            let _ = answer.send(Answer::Nothing(why));
        }
    }

    /// Founds a cluster of the first `voters` known servers, this one among them.
    fn bootstrap(&mut self, voters: u64) -> Result<(), String> {
        if self.started || !self.storage.is_pristine() {
            return Err(
                "this node already has state: bootstrap only works on a pristine node".into()
            );
        }
        let n = self.options.peers.len();
        if voters == 0 || voters > n as u64 {
            return Err(format!("number_of_nodes must be between 1 and {n}, the servers known"));
        }
        let mut conf = Configuration::new();
        for (id, address) in self.options.peers.iter().take(voters as usize) {
            conf.add(*id, address, Role::Voter).map_err(|e| e.to_string())?;
        }
        if conf.get(self.options.id).is_none() {
            return Err(format!("this node is not among the first {voters} servers"));
        }
        let bootstrap =
            Bootstrap::new(&conf, &raft::codec::configuration::CRAFT).map_err(|e| e.to_string())?;
        self.storage.bootstrap(&bootstrap).map_err(|e| format!("cannot store: {e}"))?;
        let entry = Entry::new(bootstrap.term, EntryType::Change, bootstrap.payload.clone());
        let loaded = Loaded {
            term: bootstrap.term,
            voted_for: bootstrap.voted_for,
            snapshot: None,
            start_index: bootstrap.index,
            entries: vec![entry],
        };
        self.start(loaded);
        eprintln!("[{}] bootstrapped a cluster of {voters}", self.options.id);
        Ok(())
    }

    fn start(&mut self, loaded: Loaded) {
        self.log = LogCache::new(loaded.start_index, loaded.entries.clone());
        if let Some(metadata) = &loaded.snapshot {
            self.restore(metadata.clone());
        }
        if let Err(e) = self.run_event(Pending::Start(loaded)) {
            fatal(&format!("cannot start from the stored state: {e}"));
        }
        self.started = true;
    }

    /// Makes the state machine what the stored snapshot at `metadata` holds.
    fn restore(&mut self, metadata: SnapshotMetadata) {
        let restored =
            self.storage.open_snapshot_data().map_err(|e| e.to_string()).and_then(|file| {
                self.store.restore(file).map_err(|e| format!("not a key-value map: {e}"))
            });
        if let Err(e) = restored {
            fatal(&format!("cannot restore snapshot {}: {e}", metadata.index));
        }
        self.last_applied = metadata.index;
        self.applied_conf = (metadata.configuration_index, metadata.configuration.clone());
        self.snapshot = Some(metadata);
    }

    /// Tells the core the length of our latest snapshot, which it needs to stream it: after
    /// loading one at start and after taking one. (One received from the leader it knows.)
    fn note_snapshot_len(&mut self) {
        let noted = match self.storage.snapshot_len() {
            Ok(Some((index, len))) => self.raft.note_snapshot_len(index, len),
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = noted {
            // The core then sends nothing of that snapshot, and followers that need it wait
            // for the next one: worth a line, not a stop.
            eprintln!("[{}] cannot note the snapshot's length: {why}", self.options.id);
        }
    }

    fn put(&mut self, key: &str, value: &str, done: oneshot::Sender<PutOutcome>) {
        if !self.started || self.raft.state() != State::Leader {
            let _ = done.send(self.not_leader());
            return;
        }
        let term = self.raft.current_term();
        let index = self.raft.last_index() + 1;
        let entry = Entry::new(term, EntryType::Command, kv::encode_put(key, value));
        // Registered first: a single-voter cluster applies the entry within this very call.
        self.waiters.insert(index, (term, done));
        if let Err(e) = self.run_event(Pending::Submit(vec![entry])) {
            if let Some((_, done)) = self.waiters.remove(&index) {
                let _ = done.send(PutOutcome::Failed(e.to_string()));
            }
        }
    }

    fn not_leader(&self) -> PutOutcome {
        let leader = self.raft.leader().map(|(id, address)| (id, address.to_string()));
        PutOutcome::NotLeader { leader }
    }

    /// Steps `first`, then every event its updates queued (persistence completions,
    /// configurations, snapshots). Returns the result of `first`'s step.
    fn run_event(&mut self, first: Pending) -> Result<(), raft::core::Error> {
        let result = self.step(first);
        while let Some(next) = self.pending.pop_front() {
            if let Err(e) = self.step(next) {
                eprintln!("[{}] derived event failed: {e}", self.options.id);
            }
        }
        result
    }

    fn step(&mut self, pending: Pending) -> Result<(), raft::core::Error> {
        let now = self.now();
        let views: Vec<EntryView<'_>>;
        let entries: Vec<Entry>;
        let address: String;
        let our_snapshot_changes = matches!(pending, Pending::Start(_) | Pending::Snapshot(..));
        let event = match pending {
            Pending::Start(loaded) => {
                entries = loaded.entries;
                views = entries.iter().map(view).collect();
                Event::Start {
                    term: loaded.term,
                    voted_for: loaded.voted_for,
                    snapshot: loaded.snapshot,
                    start_index: loaded.start_index,
                    entries: &views,
                }
            }
            Pending::Receive(from, message) => {
                address = self.options.peers.get(&from).cloned().unwrap_or_default();
                let (header, received_entries) = self.split(message);
                entries = received_entries;
                views = entries.iter().map(view).collect();
                let body = match header {
                    Header::AppendEntries {
                        term,
                        prev_log_index,
                        prev_log_term,
                        leader_commit,
                    } => Incoming::AppendEntries {
                        term,
                        prev_log_index,
                        prev_log_term,
                        leader_commit,
                        entries: &views,
                    },
                    Header::Other(body) => body,
                };
                Event::Receive(Received { from, from_address: &address, body, read_context: 0 })
            }
            Pending::PersistedEntries(index) => {
                entries = Vec::new();
                Event::PersistedEntries { index }
            }
            Pending::PersistedSnapshot(metadata) => {
                entries = Vec::new();
                Event::PersistedSnapshot { metadata }
            }
            Pending::PersistedSnapshotChunk { index, term, offset } => {
                entries = Vec::new();
                Event::PersistedSnapshotChunk { index, term, offset }
            }
            Pending::Configuration(index) => {
                entries = Vec::new();
                Event::Configuration { index }
            }
            Pending::Snapshot(metadata, trailing) => {
                entries = Vec::new();
                Event::Snapshot { metadata, trailing }
            }
            Pending::Timeout => {
                entries = Vec::new();
                Event::Timeout
            }
            Pending::Submit(submitted) => {
                entries = submitted;
                views = entries.iter().map(view).collect();
                Event::Submit { entries: &views }
            }
            Pending::Read(id) => {
                entries = Vec::new();
                Event::Read { id }
            }
        };
        let stepped = self.raft.step(now, 0, event, None).map(update::Owned::of);
        // A received chunk is stored by this step's update or not at all.
        let chunk = self.receiving_chunk.take();
        let update = stepped?;
        if our_snapshot_changes {
            self.note_snapshot_len();
        }
        self.process(update, &entries, chunk);
        Ok(())
    }

    /// Splits a received message into the entries it carries and the rest of its core form.
    fn split(&mut self, message: Inbound) -> (Header, Vec<Entry>) {
        let body = match message {
            Inbound::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                entries,
            } => {
                let header =
                    Header::AppendEntries { term, prev_log_index, prev_log_term, leader_commit };
                return (header, entries);
            }
            Inbound::AppendEntriesResult(r) => Incoming::AppendEntriesResult(r),
            Inbound::RequestVote(r) => Incoming::RequestVote(r),
            Inbound::RequestVoteResult(r) => Incoming::RequestVoteResult(r),
            Inbound::SnapshotChunk { chunk, data } => {
                self.receiving_chunk = Some(data);
                Incoming::InstallSnapshotChunk(chunk)
            }
            Inbound::SnapshotChunkResult(r) => Incoming::SnapshotChunkResult(r),
        };
        (Header::Other(body), Vec::new())
    }
}

/// A received message without its entries.
enum Header {
    AppendEntries { term: Term, prev_log_index: Index, prev_log_term: Term, leader_commit: Index },
    Other(Incoming<'static>),
}

fn view(e: &Entry) -> EntryView<'_> {
    EntryView { term: e.term, kind: e.kind, payload: &e.payload }
}

/// A node that cannot persist or load its state must stop rather than lie to its peers.
fn fatal(why: &str) -> ! {
    eprintln!("fatal: {why}");
    std::process::exit(1)
}
