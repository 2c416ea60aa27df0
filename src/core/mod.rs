//! The Raft protocol as a deterministic state machine.
//!
//! [`Raft::step`] takes one [`Event`] and the current time and returns an [`Update`] telling the
//! host what to persist, send and apply. The core does no I/O, reads no clock, keeps no entry
//! payloads, and knows nothing of C or of any byte format: the configurations of `Change`
//! entries are read through the [`ConfigurationFormat`] given to [`Raft::new`].
//!
//! Where each rule lives:
//! - `raft.rs`: the state, `step` (validate with `check_*`, then apply with `on_*`), accessors.
//! - `receive.rs`: validation of received messages and the term rule (Raft §5.1), once for all.
//! - `timers.rs`: RAFT_TIMEOUT dispatched per state, the election timer, the next deadline.
//! - `election.rs`: standing, pre-vote, granting and counting votes, becoming leader (§5.2, §5.4.1).
//! - `quorum.rs`: every majority question (votes, match index, check-quorum, capacity).
//! - `commit.rs`: the leader's and the follower's commit rules (§5.3, §5.4.2).
//! - `replication.rs`: AppendEntries on both sides; `progress.rs`: the leader's view of a peer.
//! - `leader.rs`: submissions, the leader's timeout, check-quorum.
//! - `reads.rs`: linearizable reads (ReadIndex and the leader lease, dissertation §6.4).
//! - `snapshot.rs`, `membership.rs`, `catch_up.rs`, `transfer.rs`, `start.rs`: as named.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod error;
pub mod event;
pub mod message;
pub mod metrics;
pub mod random;
pub mod settings;
pub mod trace;

// The shared vocabulary, under the paths the rules have always used (`super::types::Id`).
pub use crate::vocab::{configuration, types};

mod catch_up;
mod commit;
mod election;
mod leader;
#[cfg(test)]
mod limit_tests;
mod log;
mod membership;
mod progress;
mod quorum;
mod raft;
mod reads;
mod receive;
mod replication;
#[cfg(test)]
mod safety_tests;
mod snapshot;
mod snapshot_chunks;
mod start;
#[cfg(test)]
pub(crate) mod testing;
mod timers;
mod transfer;

pub use crate::vocab::{
    CatchUpStatus, EntryType, Id, Index, Role, State, Term, Time, MAX_INDEX, MAX_TERM,
};
pub use crate::vocab::{Configuration, ConfigurationError, ConfigurationFormat, Server};
pub use bootstrap::Bootstrap;
pub use error::Error;
pub use event::{
    ChunkToStore, EntrySource, Event, NewEntries, ReadOutcome, ReadResult, SnapshotMetadata, Update,
};
pub use message::{
    EntryView, Incoming, Message, Outgoing, Received, SnapshotChunk, SnapshotChunkResult,
};
pub use metrics::{MembershipConfig, Metrics, PeerProgress, ReplicationMode};
pub use raft::{MembershipView, Raft};
pub use settings::Settings;
pub use trace::Tracer;
