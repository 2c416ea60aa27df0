//! A read-only picture of one server for monitoring: what it believes (term, leader,
//! configuration), how far its log, commit and snapshot are, and, on a leader, how far each
//! follower is. Built on demand by [`Raft::metrics`]; nothing here changes the server, so
//! reading metrics never affects determinism.

use std::sync::Arc;

use super::configuration::Configuration;
use super::progress::Mode;
use super::raft::{Raft, Status};
use super::types::{Id, Index, Role, State, Term};

/// How a leader is currently replicating to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationMode {
    /// Looking for the match point: one AppendEntries per heartbeat.
    Probe,
    /// Match point known: entries flow as they are appended.
    Pipeline,
    /// The follower needs compacted entries: a snapshot is being installed.
    Snapshot,
}

/// A leader's view of one other server of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerProgress {
    pub id: Id,
    pub address: Arc<str>,
    /// Highest index known stored by the follower and matching the leader's log.
    pub match_index: Index,
    /// Next index the leader will send.
    pub next_index: Index,
    pub mode: ReplicationMode,
}

/// The configuration in effect and the index of the entry (or snapshot) it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipConfig {
    pub index: Index,
    /// False while its `Change` entry is not yet known committed.
    pub committed: bool,
    pub configuration: Configuration,
}

/// Everything [`Raft::metrics`] reports. `last_applied` is the host's (the core never applies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    pub id: Id,
    pub address: Arc<str>,
    pub state: State,
    /// This server's role in the configuration in effect; None when it is not in it.
    pub role: Option<Role>,
    pub current_term: Term,
    pub voted_for: Id,
    pub last_log_index: Index,
    pub last_log_term: Term,
    pub commit_index: Index,
    pub last_applied: Index,
    pub snapshot_index: Index,
    pub snapshot_term: Term,
    pub current_leader: Option<(Id, Arc<str>)>,
    pub membership_config: MembershipConfig,
    /// One entry per other server on a leader; None on followers and candidates.
    pub replication: Option<Vec<PeerProgress>>,
}

impl Raft {
    /// The metrics of this server; `last_applied` is the host's last applied index.
    pub fn metrics(&self, last_applied: Index) -> Metrics {
        let last_log_index = self.last_index();
        Metrics {
            id: self.id,
            address: self.address.clone(),
            state: self.state(),
            role: self.role(),
            current_term: self.term,
            voted_for: self.voted_for,
            last_log_index,
            last_log_term: self.term_of(last_log_index).unwrap_or(0),
            commit_index: self.commit,
            last_applied,
            snapshot_index: self.log.snapshot_index(),
            snapshot_term: self.log.snapshot_term(),
            current_leader: self.leader().map(|(id, address)| (id, address.clone())),
            membership_config: self.membership_config(),
            replication: self.replication(),
        }
    }

    /// Term of the latest snapshot's last entry (0 if none).
    pub fn snapshot_term(&self) -> Term {
        self.log.snapshot_term()
    }

    /// The configuration in effect with the index it comes from.
    pub fn membership_config(&self) -> MembershipConfig {
        let m = &self.membership;
        let committed = m.uncommitted_index == 0;
        MembershipConfig {
            index: if committed { m.committed_index } else { m.uncommitted_index },
            committed,
            configuration: m.current.clone(),
        }
    }

    /// Leader only: the progress of every other server of the configuration, in its order.
    pub fn replication(&self) -> Option<Vec<PeerProgress>> {
        let Status::Leader(leader) = &self.status else {
            return None;
        };
        let peers = leader.progress.iter().filter(|p| p.id != self.id);
        Some(
            peers
                .map(|p| PeerProgress {
                    id: p.id,
                    address: p.address.clone(),
                    match_index: p.matched,
                    next_index: p.next,
                    mode: match p.mode {
                        Mode::Probe => ReplicationMode::Probe,
                        Mode::Pipeline => ReplicationMode::Pipeline,
                        Mode::Snapshot { .. } => ReplicationMode::Snapshot,
                    },
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::*;
    use crate::core::Event;

    #[test]
    fn follower_reports_its_log_and_no_replication() {
        let raft = started(2, &[1, 2, 3]);
        let m = raft.metrics(1);
        assert_eq!(m.state, State::Follower);
        assert_eq!((m.current_term, m.last_log_index, m.last_log_term), (1, 1, 1));
        assert_eq!((m.commit_index, m.last_applied), (1, 1));
        assert_eq!(m.role, Some(Role::Voter));
        assert!(m.replication.is_none());
        assert_eq!(m.current_leader, None);
        assert_eq!(m.membership_config.index, 1);
        assert!(m.membership_config.committed);
        assert_eq!(m.membership_config.configuration, conf(&[1, 2, 3]));
    }

    #[test]
    fn leader_reports_progress_of_every_other_server() {
        let (mut raft, now) = leader(&[1, 2, 3]);
        let last = raft.last_index();
        receive(&mut raft, now, 2, append_result(2, 0, last)).unwrap();
        let m = raft.metrics(0);
        assert_eq!(m.current_leader.as_ref().map(|l| l.0), Some(1));
        let peers = m.replication.expect("a leader reports replication");
        assert_eq!(peers.iter().map(|p| p.id).collect::<Vec<_>>(), [2, 3]);
        assert_eq!((peers[0].match_index, peers[0].next_index), (last, last + 1));
        assert_eq!(peers[0].mode, ReplicationMode::Pipeline);
        assert_eq!(peers[1].mode, ReplicationMode::Pipeline, "3 acknowledged the barrier");
    }

    #[test]
    fn snapshot_position_is_reported() {
        let (mut raft, now) = leader(&[1]);
        let last = raft.last_index();
        let metadata = crate::core::SnapshotMetadata {
            index: last,
            term: raft.current_term(),
            configuration: conf(&[1]),
            configuration_index: 1,
        };
        step(&mut raft, now, Event::Snapshot { metadata, trailing: 0 }).unwrap();
        let m = raft.metrics(last);
        assert_eq!((m.snapshot_index, m.snapshot_term), (last, raft.term_of(last).unwrap()));
        assert_eq!(m.replication, Some(Vec::new()));
    }
}
