//! The Raft protocol as a deterministic state machine.
//!
//! [`Raft::step`] takes one [`Event`] and the current time and returns an [`Update`] telling the
//! host what to persist, send and apply. The core does no I/O, reads no clock, keeps no entry
//! payloads, and knows nothing of C.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod configuration;
pub mod error;
pub mod event;
pub mod message;
pub mod metrics;
mod metrics_json;
pub mod random;
pub mod settings;
pub mod trace;
pub mod types;

mod commit;
mod election;
mod leader;
#[cfg(test)]
mod limit_tests;
mod log;
mod membership;
mod progress;
mod raft;
mod receive;
mod replication;
#[cfg(test)]
mod safety_tests;
mod snapshot;
mod start;
#[cfg(test)]
mod testing;
mod transfer;

pub use bootstrap::Bootstrap;
pub use configuration::{Configuration, Server};
pub use error::Error;
pub use event::{EntrySource, Event, NewEntries, SnapshotMetadata, Update};
pub use message::{EntryView, Incoming, Message, Outgoing, Received};
pub use metrics::{MembershipConfig, Metrics, PeerProgress, ReplicationMode};
pub use raft::Raft;
pub use settings::Settings;
pub use trace::Tracer;
pub use types::{
    CatchUpStatus, EntryType, Id, Index, Role, State, Term, Time, MAX_INDEX, MAX_TERM,
};
