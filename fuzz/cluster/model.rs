//! What the simulated hosts and the two kinds of node (core API, C ABI) exchange: owned events,
//! owned updates and an observation of everything a host can read from a node. Owned, so that
//! one cluster driver serves both targets and a forged event is built like an honest one.

use raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult, TimeoutNow};
use raft::core::{Configuration, EntryType, Outgoing, SnapshotMetadata};

/// A log entry as a host stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub kind: EntryType,
    pub payload: Vec<u8>,
}

/// A message on the wire, with everything the receiver borrows during its step.
#[derive(Clone, Debug)]
pub enum Msg {
    RequestVote(RequestVote),
    RequestVoteResult(RequestVoteResult),
    AppendEntries { term: u64, prev_index: u64, prev_term: u64, commit: u64, entries: Vec<Entry> },
    AppendEntriesResult(AppendEntriesResult),
    InstallSnapshot { term: u64, meta: SnapshotMetadata, data: Vec<u8> },
    TimeoutNow(TimeoutNow),
}

/// One event of `Raft::step` / `raft_step`, owning what it points to.
#[derive(Clone, Debug)]
pub enum Ev {
    Start {
        term: u64,
        vote: u64,
        snapshot: Option<SnapshotMetadata>,
        start_index: u64,
        entries: Vec<Entry>,
    },
    Receive {
        from: u64,
        from_address: String,
        msg: Msg,
    },
    PersistedEntries(u64),
    PersistedSnapshot(SnapshotMetadata),
    Configuration(u64, Configuration),
    Snapshot(SnapshotMetadata, u32),
    Timeout,
    Submit(Vec<Entry>),
    CatchUp(u64),
    Transfer(u64),
}

impl Ev {
    pub fn is_start(&self) -> bool {
        matches!(self, Ev::Start { .. })
    }
}

/// A message a node asks to send. AppendEntries and InstallSnapshot name what the host
/// attaches from its own storage, as in the core's [`Outgoing`].
#[derive(Clone, Debug)]
pub struct Send {
    pub to: u64,
    pub address: String,
    pub body: Outgoing,
}

/// What a successful step asks of the host, with payloads copied out.
#[derive(Debug, Default)]
pub struct Out {
    pub term_changed: bool,
    pub vote_changed: bool,
    /// The received snapshot to store (its data is the event's).
    pub snapshot: Option<SnapshotMetadata>,
    /// Entries to store from this index on.
    pub entries: Option<(u64, Vec<Entry>)>,
    pub messages: Vec<Send>,
    pub state_changed: bool,
    pub commit_changed: bool,
}

/// Everything a host can read from a node between steps. On a refused step it must not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
    /// 1 follower, 2 candidate, 3 leader (C-Raft's numbers).
    pub state: u8,
    /// The role code, or -1 outside the configuration.
    pub role: i32,
    pub last_index: u64,
    pub leader: (u64, Option<String>),
    pub timeout: u64,
    pub transferee: u64,
    /// What else the API shows: per server of the cluster the match index and catch-up status
    /// (C ABI), or the durable and snapshot indexes and the configuration (core).
    pub detail: Vec<String>,
}

pub const FOLLOWER: u8 = 1;
pub const LEADER: u8 = 3;

/// A server implementation under test: the core API or the C ABI.
pub trait Node: Sized {
    /// A new instance of server `id` at `address`, seeded and configured, not started.
    fn new(id: u64, address: &str, seed: u32, settings: &Settings) -> Self;
    /// Steps `ev`. `Err` carries the `RAFT_*` code.
    fn step(&mut self, now: u64, capacity: u16, ev: &Ev) -> Result<Out, i32>;
    fn observe(&self) -> Observed;
    /// A misuse of the API (NULLs, unknown codes, calls out of order) that must be refused
    /// with an error code; returns that code, or `None` when this node has no such misuse.
    fn misuse(&mut self, now: u64, how: u8) -> Option<i32>;
    /// Makes the `nth` allocation of the following steps fail (`None`: none fails), where the
    /// node can (the C ABI's raft heap).
    fn starve(&mut self, nth: Option<u32>);
}

/// Settings applied to every node of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub election_timeout: u32,
    pub heartbeat_timeout: u32,
    pub install_snapshot_timeout: u32,
    pub pre_vote: bool,
    pub max_inflight_entries: u32,
    pub max_catch_up_rounds: u32,
    pub max_catch_up_round_duration: u32,
    pub capacity_threshold: u16,
}

impl Settings {
    /// C-Raft's defaults, for instances made outside a cluster.
    pub fn default_for_misuse() -> Settings {
        Settings {
            election_timeout: 1000,
            heartbeat_timeout: 100,
            install_snapshot_timeout: 30_000,
            pre_vote: false,
            max_inflight_entries: 32,
            max_catch_up_rounds: 10,
            max_catch_up_round_duration: 5000,
            capacity_threshold: 0,
        }
    }
}

/// The error codes `raft_step` documents (include/raft.h), and the three configuration codes
/// it returns for a bad configuration in an event (not in the header's list: reported).
pub const STEP_CODES: [i32; 13] = [
    1,  // RAFT_NOMEM
    2,  // RAFT_BADID
    3,  // RAFT_DUPLICATEID
    4,  // RAFT_DUPLICATEADDRESS
    5,  // RAFT_BADROLE
    6,  // RAFT_MALFORMED
    7,  // RAFT_NOTLEADER
    9,  // RAFT_SHUTDOWN
    11, // RAFT_CANTCHANGE
    17, // RAFT_BUSY
    19, // RAFT_NOTFOUND
    20, // RAFT_INVALID
    22, // RAFT_NOSPACE
];

pub const RAFT_NOMEM: i32 = 1;
pub const RAFT_SHUTDOWN: i32 = 9;
