//! What the gRPC handlers ask of the node's driver thread, and what it answers.

use raft::codec::Entry;
use raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult};
use raft::core::{Id, Index, SnapshotChunk, SnapshotChunkResult, Term};
use tokio::sync::oneshot;

/// A message from a peer, owned, as decoded from a request or a response.
pub enum Inbound {
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        leader_commit: Index,
        entries: Vec<Entry>,
    },
    AppendEntriesResult(AppendEntriesResult),
    RequestVote(RequestVote),
    RequestVoteResult(RequestVoteResult),
    /// One chunk of a streamed snapshot, with its data (`snapshot_transfer.rs`).
    SnapshotChunk {
        chunk: SnapshotChunk,
        data: Vec<u8>,
    },
    SnapshotChunkResult(SnapshotChunkResult),
}

/// The core's reply to a request, for the handler that waits for it.
#[derive(Debug)]
pub enum Answer {
    /// Reply to AppendEntries or InstallSnapshot; `hint_term` is the term of this node's entry
    /// at `result.last_log_index` (the conflict hint of a rejection), 0 if unknown.
    Append {
        result: AppendEntriesResult,
        hint_term: Term,
    },
    Vote(RequestVoteResult),
    /// Reply to a chunk of a streamed snapshot other than an acknowledgement of the whole.
    Chunk(SnapshotChunkResult),
    /// The core produced no reply (the request was dropped); the text says why.
    Nothing(String),
}

impl Answer {
    /// Why this answer is not the one a request of another kind expected.
    pub fn explain(self) -> String {
        match self {
            Answer::Nothing(why) => why,
            other => format!("unexpected reply {other:?}"),
        }
    }
}

/// How a client write ended.
#[derive(Debug)]
pub enum PutOutcome {
    Applied(Index),
    NotLeader { leader: Option<(Id, String)> },
    Failed(String),
}

pub enum Command {
    /// A message from peer `from`; `answer` is the handler waiting for the reply, if any.
    Receive {
        from: Id,
        message: Inbound,
        answer: Option<oneshot::Sender<Answer>>,
    },
    /// Found a cluster of the first `voters` peers (by ID).
    Bootstrap {
        voters: u64,
        done: oneshot::Sender<Result<(), String>>,
    },
    Metrics {
        done: oneshot::Sender<String>,
    },
    Put {
        key: String,
        value: String,
        done: oneshot::Sender<PutOutcome>,
    },
    /// The value of `key` and the last applied index. On the leader the read is linearizable
    /// (RAFT_READ: answered once confirmed and applied up to its read index, docs/reads.md);
    /// elsewhere it is the local applied state, which `last_applied` dates. An error when the
    /// leader lost its leadership before confirming the read.
    Get {
        key: String,
        done: oneshot::Sender<Result<(Option<String>, Index), String>>,
    },
}
