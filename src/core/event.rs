//! Events the host feeds into [`super::Raft::step`] and the update that comes back.

use super::configuration::Configuration;
use super::message::{EntryView, Message, Received};
use super::types::{Id, Index, Term};

/// Metadata of a snapshot: the last entry it covers and the configuration as of that entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMetadata {
    pub index: Index,
    pub term: Term,
    pub configuration: Configuration,
    pub configuration_index: Index,
}

/// One event. Borrowed data lives only for the step.
#[derive(Debug)]
pub enum Event<'a> {
    /// The persisted state, loaded by the host. Must be the first event.
    Start {
        term: Term,
        voted_for: Id,
        snapshot: Option<SnapshotMetadata>,
        /// Index of `entries[0]`.
        start_index: Index,
        entries: &'a [EntryView<'a>],
    },
    Receive(Received<'a>),
    /// Every entry up to `index`, as last handed out, is durable.
    PersistedEntries {
        index: Index,
    },
    /// The snapshot handed out by `Update::snapshot` is durable: the whole snapshot, or the
    /// last chunk of a streamed one and so all of it.
    PersistedSnapshot {
        metadata: SnapshotMetadata,
    },
    /// A chunk of a streamed snapshot other than the last (`Update::snapshot_chunk`, named by
    /// its snapshot's index and term and its offset) is durable.
    PersistedSnapshotChunk {
        index: Index,
        term: Term,
        offset: u64,
    },
    /// The `Change` entry at `index` is committed. The core already holds that configuration
    /// (it took effect when the entry was appended), so the event only names the index.
    Configuration {
        index: Index,
    },
    /// The host stored a snapshot up to `metadata.index`; keep `trailing` entries before it.
    Snapshot {
        metadata: SnapshotMetadata,
        trailing: u32,
    },
    Timeout,
    Submit {
        entries: &'a [EntryView<'a>],
    },
    CatchUp {
        server_id: Id,
    },
    /// Transfer leadership to `server_id` (0: let the library choose).
    Transfer {
        server_id: Id,
    },
    /// A linearizable read, named by the host's `id` (dissertation §6.4): the leader finds the
    /// index the read must observe and reports it in [`Update::reads`] once confirmed.
    Read {
        id: u64,
    },
}

/// What became of a read (see [`Event::Read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Serve the read from the state machine once it has applied up to `index`.
    Ready { index: Index },
    /// This server stopped leading before the read was confirmed: ask the new leader.
    LeadershipLost,
}

/// A read the host asked for and its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadResult {
    pub id: u64,
    pub outcome: ReadOutcome,
}

/// Where the entries of [`NewEntries`] come from. The core never holds payloads, so it points
/// the host at entries it already has in hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntrySource {
    /// The entries of this step's event from position `skip` to the end (submitted entries, or
    /// the new suffix of a received AppendEntries).
    Event { skip: usize },
    /// One `Barrier` entry of this term, which the boundary allocates (8 zero bytes).
    Barrier { term: Term },
}

/// Entries the host must store at `index ..`, discarding anything it has from `index` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewEntries {
    pub index: Index,
    pub source: EntrySource,
}

/// A chunk of a streamed snapshot the host must store: the data of this step's
/// InstallSnapshotChunk, at `offset` of the snapshot at `index`/`term`. Chunks come in order,
/// from offset 0; a chunk at offset 0 starts a new snapshot (anything stored of another one is
/// dropped). The last chunk comes with `Update::snapshot` and completes the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkToStore {
    pub index: Index,
    pub term: Term,
    pub offset: u64,
    pub len: u64,
    pub last: bool,
}

/// What the host must do after a step, in the order of docs/contract.md#update-order.
#[derive(Debug, Default)]
pub struct Update {
    /// Persist `current_term` (and, always together, `voted_for`) before sending anything.
    pub term_changed: bool,
    pub vote_changed: bool,
    /// Store the snapshot received in this step's InstallSnapshot (its data is the event's).
    pub snapshot: Option<SnapshotMetadata>,
    /// Store this chunk of a streamed snapshot (its data is the event's); set with `snapshot`
    /// on the last chunk.
    pub snapshot_chunk: Option<ChunkToStore>,
    pub entries: Option<NewEntries>,
    pub messages: Vec<Message>,
    pub state_changed: bool,
    pub commit_index_changed: bool,
    pub timeout_changed: bool,
    /// Reads confirmed or failed in this step, in the order they were asked for (per outcome).
    pub reads: Vec<ReadResult>,
}

impl Update {
    /// Empties the update, keeping the message buffer's capacity for reuse.
    pub fn clear(&mut self) {
        self.term_changed = false;
        self.vote_changed = false;
        self.snapshot = None;
        self.snapshot_chunk = None;
        self.entries = None;
        self.messages.clear();
        self.state_changed = false;
        self.commit_index_changed = false;
        self.timeout_changed = false;
        self.reads.clear();
    }
}
