//! Membership: the configuration in effect, the last committed one, and the rules for changing
//! them (one change at a time, effective when appended, rolled back when truncated). Bringing
//! a server up to date before it is promoted is `catch_up.rs`.

use super::configuration::Configuration;
use super::raft::{Ctx, Raft};
use super::trace::LEVEL_INFO;
use super::types::{Index, State};
use crate::raft_trace;

/// The configurations a server knows about.
///
/// A `Change` entry takes effect as soon as it is in the log. A leader appends one only after
/// the previous one committed, so when a newer change arrives the older one is known committed:
/// at most one configuration is ever uncommitted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Membership {
    pub current: Configuration,
    pub committed: Configuration,
    pub committed_index: Index,
    /// Index of the `Change` entry of `current` while it is uncommitted, else 0.
    pub uncommitted_index: Index,
    /// Counts changes to any of the above, so that a host mirroring them (the C boundary
    /// publishes them in `struct raft`) copies them only when they changed.
    pub generation: u64,
}

impl Membership {
    /// Adopts a configuration that is known committed (bootstrap entry, snapshot).
    pub fn restore(&mut self, conf: Configuration, index: Index) {
        self.generation += 1;
        self.committed = conf.clone();
        self.current = conf;
        self.committed_index = index;
        self.uncommitted_index = 0;
    }

    /// A `Change` entry at `index` was appended to the log.
    pub fn append_change(&mut self, index: Index, conf: Configuration) {
        self.generation += 1;
        if self.uncommitted_index != 0 {
            self.committed = std::mem::replace(&mut self.current, conf);
            self.committed_index = self.uncommitted_index;
        } else {
            self.current = conf;
        }
        self.uncommitted_index = index;
    }

    /// Entries from `index` on were dropped: forget the uncommitted configuration if it was
    /// among them. Returns whether the configuration changed.
    pub fn roll_back_from(&mut self, index: Index) -> bool {
        if self.uncommitted_index != 0 && self.uncommitted_index >= index {
            self.generation += 1;
            self.current = self.committed.clone();
            self.uncommitted_index = 0;
            return true;
        }
        false
    }

    /// The `Change` entry at `index` committed. Returns whether it was the pending one.
    pub fn mark_committed(&mut self, index: Index) -> bool {
        if index != 0 && self.uncommitted_index == index {
            self.generation += 1;
            self.committed = self.current.clone();
            self.committed_index = index;
            self.uncommitted_index = 0;
            return true;
        }
        false
    }

    /// A snapshot covering the configuration of entry `index` was taken or installed.
    pub fn snapshot_taken(&mut self, conf: &Configuration, index: Index) {
        if index <= self.committed_index {
            return;
        }
        self.generation += 1;
        if self.uncommitted_index != 0 && self.uncommitted_index <= index {
            self.current = conf.clone();
            self.uncommitted_index = 0;
        }
        self.committed = conf.clone();
        self.committed_index = index;
    }

    /// The configuration in effect at log index `index` and the index of the entry that holds
    /// it: what a snapshot up to `index` must record. None when neither known configuration is
    /// old enough (`index` precedes the committed one).
    pub fn as_of(&self, index: Index) -> Option<(&Configuration, Index)> {
        if self.uncommitted_index != 0 && self.uncommitted_index <= index {
            return Some((&self.current, self.uncommitted_index));
        }
        if self.committed_index <= index {
            return Some((&self.committed, self.committed_index));
        }
        None
    }

    pub fn has_pending_change(&self) -> bool {
        self.uncommitted_index != 0
    }
}

impl Raft {
    /// RAFT_CONFIGURATION: the host applied the committed `Change` entry at `index`.
    pub(super) fn on_configuration(&mut self, cx: &mut Ctx<'_>, index: Index) {
        if !self.membership.mark_committed(index) {
            raft_trace!(
                cx.tracer,
                LEVEL_INFO,
                "  configuration at {index} is not pending: ignored"
            );
            return;
        }
        raft_trace!(cx.tracer, LEVEL_INFO, "  configuration at {index} committed");
        if self.state() == State::Leader && !self.membership.current.is_voter(self.id) {
            raft_trace!(cx.tracer, LEVEL_INFO, "  no longer a voter: step down");
            self.become_follower(cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::Role;

    fn conf(ids: &[u64]) -> Configuration {
        let mut c = Configuration::new();
        for &id in ids {
            c.add(id, &id.to_string(), Role::Voter).unwrap();
        }
        c
    }

    /// A snapshot records the configuration of the latest `Change` entry it covers, committed
    /// or not yet known committed (dissertation §5.1: "the latest configuration as of the last
    /// included index").
    #[test]
    fn configuration_as_of_an_index_is_the_latest_change_at_or_before_it() {
        let mut m = Membership::default();
        m.restore(conf(&[1]), 1);
        m.append_change(5, conf(&[1, 2]));
        assert_eq!(m.as_of(4), Some((&conf(&[1]), 1)));
        assert_eq!(m.as_of(5), Some((&conf(&[1, 2]), 5)));
        assert_eq!(m.as_of(9), Some((&conf(&[1, 2]), 5)));
        assert_eq!(m.as_of(0), None);
    }

    #[test]
    fn change_takes_effect_when_appended_and_rolls_back_when_truncated() {
        let mut m = Membership::default();
        m.restore(conf(&[1]), 1);
        m.append_change(5, conf(&[1, 2]));
        assert_eq!(m.current, conf(&[1, 2]));
        assert!(m.has_pending_change());
        assert!(!m.roll_back_from(6));
        assert!(m.roll_back_from(5));
        assert_eq!(m.current, conf(&[1]));
        assert!(!m.has_pending_change());
    }

    #[test]
    fn newer_change_implies_older_one_committed() {
        let mut m = Membership::default();
        m.restore(conf(&[1]), 1);
        m.append_change(3, conf(&[1, 2]));
        m.append_change(7, conf(&[1, 2, 3]));
        assert_eq!(m.committed, conf(&[1, 2]));
        assert_eq!(m.committed_index, 3);
        assert!(m.roll_back_from(7));
        assert_eq!(m.current, conf(&[1, 2]));
    }

    #[test]
    fn commit_marks_the_entry_own_index_only() {
        let mut m = Membership::default();
        m.restore(conf(&[1]), 1);
        m.append_change(3, conf(&[1, 2]));
        assert!(!m.mark_committed(2));
        assert!(m.has_pending_change());
        assert!(m.mark_committed(3));
        assert_eq!(m.committed_index, 3);
        assert!(!m.has_pending_change());
    }
}

#[cfg(test)]
mod raft_tests {
    use crate::core::event::Event;
    use crate::core::message::{EntryView, Incoming};
    use crate::core::testing::{self, append_result, encode, leader, receive, step};
    use crate::core::types::{EntryType, State};

    #[test]
    fn leader_removed_steps_down_once_committed() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let c = testing::conf(&[2, 3]);
        let payload = encode(&c);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
        assert_eq!(r.role(), None);
        assert_eq!(r.state(), State::Leader, "keeps leading until the change commits");
        step(&mut r, now, Event::PersistedEntries { index: 3 }).unwrap();
        receive(&mut r, now, 2, append_result(2, 0, 3)).unwrap();
        assert_eq!(r.commit_index(), 2, "the leader is not a voter of the new configuration");
        receive(&mut r, now, 3, append_result(2, 0, 3)).unwrap();
        assert_eq!(r.commit_index(), 3);
        let out = step(&mut r, now, Event::Configuration { index: 3 }).unwrap();
        assert!(out.state_changed);
        assert_eq!(r.state(), State::Follower);
    }

    #[test]
    fn follower_records_change_at_its_own_index_and_rolls_back() {
        let mut r = testing::started(2, &[1, 2, 3]);
        let c = testing::conf(&[1, 2]);
        let payload = encode(&c);
        let entries =
            [testing::entry(2), EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        let ae = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 1,
            prev_log_term: 1,
            leader_commit: 1,
            entries: &entries,
        };
        receive(&mut r, 10, 1, ae).unwrap();
        assert_eq!(r.configuration(), &c);
        // The configuration event for the entry's own index commits it (C-Raft records every
        // change of a batch at the batch's first new index).
        step(&mut r, 11, Event::Configuration { index: 2 }).unwrap();
        assert!(r.membership.has_pending_change(), "index 2 is a command, not the change");
        // A new leader overwrites the uncommitted change: roll back.
        let other = [testing::entry(3)];
        let ae = Incoming::AppendEntries {
            term: 3,
            prev_log_index: 2,
            prev_log_term: 2,
            leader_commit: 1,
            entries: &other,
        };
        receive(&mut r, 12, 3, ae).unwrap();
        assert_eq!(r.configuration(), &testing::conf(&[1, 2, 3]));
    }
}
