//! The six RPC messages, as the core receives and emits them. Payloads never enter the core:
//! incoming entries are described by [`EntryView`] (the payload is only read for `Change`
//! entries), and outgoing AppendEntries and InstallSnapshot name what the host must attach.

use std::sync::Arc;

use super::configuration::Configuration;
use super::types::{EntryType, Id, Index, Term};

/// A log entry lent to the core by the host for the duration of one step.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    pub term: Term,
    pub kind: EntryType,
    /// The payload; the core reads it only to decode `Change` entries.
    pub payload: &'a [u8],
}

/// Bit 0 of `features`: "this server reports its disk capacity".
pub const FEATURE_CAPACITY: u16 = 1;

/// Bit 1 of `features`: "this server echoes read rounds" (see [`Received::read_context`]). A
/// leader counts a follower's echo towards confirming reads only when the result that carries
/// it sets this bit; C-Raft never sets it and never reads the echo.
pub const FEATURE_READ: u16 = 2;

/// Bit 2 of `features`: "this server takes snapshots in chunks" (`snapshot_chunks.rs`). Set
/// only by a server whose host opted in to streamed snapshots; a leader streams its snapshot
/// only to a follower whose last result of the term set it. C-Raft never sets it.
pub const FEATURE_SNAPSHOT_CHUNKS: u16 = 4;

/// The features this core always advertises in its results.
pub const FEATURES: u16 = FEATURE_CAPACITY | FEATURE_READ;

/// A message received from `from`, lent to the core for one step.
#[derive(Debug)]
pub struct Received<'a> {
    pub from: Id,
    pub from_address: &'a str,
    pub body: Incoming<'a>,
    /// The read round (low 32 bits) an AppendEntries carries, or the last round a follower
    /// received from its leader, echoed in its AppendEntriesResult (linearizable reads,
    /// `reads.rs`); 0 for every other message and from hosts that do not carry it. On C-Raft's
    /// wire: the AppendEntries' reserved trailing word and bytes 28..31 of the result.
    pub read_context: u32,
}

/// The body of a received message.
#[derive(Debug)]
pub enum Incoming<'a> {
    RequestVote(RequestVote),
    RequestVoteResult(RequestVoteResult),
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        leader_commit: Index,
        entries: &'a [EntryView<'a>],
    },
    AppendEntriesResult(AppendEntriesResult),
    InstallSnapshot {
        term: Term,
        last_index: Index,
        last_term: Term,
        conf: Configuration,
        conf_index: Index,
    },
    TimeoutNow(TimeoutNow),
    ReadIndex(ReadIndex),
    ReadIndexResult(ReadIndexResult),
    InstallSnapshotChunk(SnapshotChunk),
    SnapshotChunkResult(SnapshotChunkResult),
}

/// One chunk of a streamed snapshot (libraft-rs; sent only to followers that advertise
/// [`FEATURE_SNAPSHOT_CHUNKS`]). Chunks are numbered from 0; all but the last hold the
/// leader's chunk size, and the last carries the snapshot's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotChunk {
    pub term: Term,
    pub last_index: Index,
    pub last_term: Term,
    /// The snapshot's configuration: meaningful on the last chunk only (empty on the others).
    pub conf: Configuration,
    pub conf_index: Index,
    pub chunk: u32,
    /// Bytes of snapshot data the chunk holds (the data itself stays with the host).
    pub len: u64,
    pub last: bool,
}

/// A follower's account of a streamed snapshot: it durably stored chunks `0 .. next_chunk` of
/// the snapshot at `last_index` (0: it holds none and the leader must start over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotChunkResult {
    pub term: Term,
    pub last_index: Index,
    pub next_chunk: u32,
    /// The chunk answered came after one the follower lacks (a gap: the missing chunk was lost
    /// or is late), rather than being one it holds already (a duplicate) or being stored.
    pub gap: bool,
}

/// A follower asks its leader to confirm a read (libraft-rs; sent only to a leader whose
/// AppendEntries carry read rounds, so C-Raft never receives one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadIndex {
    pub term: Term,
    /// The follower host's read ID, handed back in the result.
    pub id: u64,
}

/// The leader's answer to [`ReadIndex`]: the read index, or 0 when the read failed (the
/// leader stepped down or is handing over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadIndexResult {
    pub term: Term,
    pub id: u64,
    pub index: Index,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestVote {
    pub term: Term,
    pub candidate_id: Id,
    pub last_log_index: Index,
    pub last_log_term: Term,
    pub disrupt_leader: bool,
    pub pre_vote: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestVoteResult {
    pub term: Term,
    pub vote_granted: bool,
    /// Only meaningful when the sender's message version is above 1; a decoder delivering an
    /// older version must pass `false`.
    pub pre_vote: bool,
    pub features: u16,
    pub capacity: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendEntriesResult {
    pub term: Term,
    /// 0 on success, else the `prev_log_index` that failed the consistency check.
    pub rejected: Index,
    pub last_log_index: Index,
    pub features: u16,
    pub capacity: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutNow {
    pub term: Term,
    pub last_log_index: Index,
    pub last_log_term: Term,
}

/// A message the core wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub to: Id,
    pub address: Arc<str>,
    pub body: Outgoing,
    /// As [`Received::read_context`]: set on AppendEntries and AppendEntriesResult only.
    pub read_context: u32,
}

/// The body of a message to send. AppendEntries and InstallSnapshot name a range or a snapshot
/// that the host attaches from its own storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    RequestVote(RequestVote),
    RequestVoteResult(RequestVoteResult),
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        leader_commit: Index,
        /// The entries at `prev_log_index + 1 ..= prev_log_index + n_entries`.
        n_entries: u32,
    },
    AppendEntriesResult(AppendEntriesResult),
    /// The host attaches the configuration and data of its latest snapshot, whose position and
    /// configuration index are given here.
    InstallSnapshot {
        term: Term,
        last_index: Index,
        last_term: Term,
        conf_index: Index,
    },
    TimeoutNow(TimeoutNow),
    ReadIndex(ReadIndex),
    ReadIndexResult(ReadIndexResult),
    /// Chunk `chunk` of the snapshot at `last_index`: the host attaches bytes `offset ..
    /// offset + len` of that snapshot's data (`offset` is `chunk` times the chunk size), and on
    /// the `last` chunk the snapshot's configuration too.
    InstallSnapshotChunk {
        term: Term,
        last_index: Index,
        last_term: Term,
        conf_index: Index,
        chunk: u32,
        offset: u64,
        len: u64,
        last: bool,
    },
    SnapshotChunkResult(SnapshotChunkResult),
}
