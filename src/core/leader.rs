//! What only a leader does: accept submissions (capacity threshold, one configuration change at
//! a time), keep followers fed on its timer, and step down when it lost touch with a majority
//! (check-quorum).

use super::configuration::Configuration;
use super::error::Error;
use super::event::{EntrySource, NewEntries};
use super::log::fits_below_max_index;
use super::message::EntryView;
use super::progress::Progress;
use super::raft::{Ctx, Leader, Raft, Status};
use super::trace::LEVEL_INFO;
use super::types::{CatchUpStatus, EntryType};
use crate::raft_trace;

impl Raft {
    /// RAFT_TIMEOUT on a leader: check-quorum first (a leader that steps down does nothing
    /// more), then the transfer and catch-up deadlines, then heartbeats and pending entries.
    pub(super) fn leader_timeout(&mut self, cx: &mut Ctx<'_>) {
        if !self.check_quorum(cx) {
            return;
        }
        self.abandon_stale_transfer(cx);
        self.abort_slow_catch_ups(cx);
        self.read_heartbeat(cx);
        self.replicate_to_all(cx, false);
    }

    /// Check-quorum: a leader that has not heard from a majority of voters within an election
    /// timeout may be partitioned away, so it steps down rather than hold clients hostage.
    /// Returns whether it is still leader.
    fn check_quorum(&mut self, cx: &mut Ctx<'_>) -> bool {
        let now = cx.now;
        let election_timeout = u64::from(self.settings.election_timeout);
        let heard = self.heard_from_majority();
        let Status::Leader(leader) = &mut self.status else {
            return false;
        };
        if heard {
            leader.quorum_start = now;
            leader.progress.iter_mut().for_each(|p| p.recent_recv = false);
            cx.update.timeout_changed = true;
            return true;
        }
        if now.saturating_sub(leader.quorum_start) >= election_timeout {
            raft_trace!(cx.tracer, LEVEL_INFO, "  lost contact with a majority: step down");
            self.become_follower(cx);
            return false;
        }
        true
    }

    /// Validates RAFT_SUBMIT; returns the decoded configurations of its `Change` entries.
    /// Command payloads are opaque, of any length: alignment is a rule of C-Raft's wire and disk
    /// formats, which their encoders enforce, not of the protocol.
    pub(super) fn check_submit(
        &self,
        entries: &[EntryView<'_>],
    ) -> Result<Vec<(usize, Configuration)>, Error> {
        if entries.is_empty() {
            return Err(Error::Invalid("no entries to submit".into()));
        }
        let Status::Leader(leader) = &self.status else {
            return Err(Error::NotLeader);
        };
        if leader.transfer.is_some() {
            return Err(Error::NotLeader);
        }
        for entry in entries {
            if entry.term != self.term {
                return Err(Error::Invalid(format!(
                    "entry term {} is not the current term {}",
                    entry.term, self.term
                )));
            }
        }
        if !fits_below_max_index(self.log.last_index().saturating_add(1), entries.len()) {
            return Err(Error::Invalid("the log would pass index 2^63 - 1".into()));
        }
        if self.lacks_capacity() {
            return Err(Error::NoSpace);
        }
        let mut changes = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if entry.kind != EntryType::Change {
                continue;
            }
            let catching_up =
                leader.progress.iter().any(|p| p.catch_up.status == CatchUpStatus::Running);
            if self.membership.has_pending_change() || catching_up || !changes.is_empty() {
                return Err(Error::CantChange);
            }
            if !self.committed_an_entry_of_its_term() {
                return Err(Error::CantChange);
            }
            changes.push((i, self.decode_change(entry.payload)?));
        }
        Ok(changes)
    }

    /// Whether this leader has committed an entry of its own term. Until it has, it may not
    /// append a configuration change: a change it appends could then share its predecessor with
    /// a change that an earlier leader appended at the same index and that a majority of the
    /// old configuration may still hold, and the two changes' majorities need not overlap (the
    /// flaw of single-server changes found after the dissertation, fixed this way by Ongaro on
    /// raft-dev in 2015). Committing an entry of its term settles what the old configuration
    /// holds. A leader that finds uncommitted entries appends a barrier at once, so the wait is
    /// one round trip; a leader that finds none waits for its first committed entry.
    pub(super) fn committed_an_entry_of_its_term(&self) -> bool {
        self.log.term_of(self.commit) == Some(self.term)
    }

    pub(super) fn on_submit(
        &mut self,
        cx: &mut Ctx<'_>,
        entries: &[EntryView<'_>],
        changes: Vec<(usize, Configuration)>,
    ) {
        let first = self.log.last_index() + 1;
        raft_trace!(cx.tracer, LEVEL_INFO, "> submit {} entries at {first}", entries.len());
        for entry in entries {
            self.log.append(entry.term, 1);
        }
        cx.update.entries =
            Some(NewEntries { index: first, source: EntrySource::Event { skip: 0 } });
        for (i, conf) in changes {
            raft_trace!(cx.tracer, LEVEL_INFO, "  configuration change at {}", first + i as u64);
            self.membership.append_change(first + i as u64, conf);
            self.rebuild_progress();
        }
        self.replicate_to_all(cx, false);
    }

    /// Follows a configuration change: one progress per server, in configuration order,
    /// keeping what we knew about servers that stay.
    pub(super) fn rebuild_progress(&mut self) {
        let last = self.log.last_index();
        let Status::Leader(Leader { progress, .. }) = &mut self.status else {
            return;
        };
        let mut old = std::mem::take(progress);
        for server in &self.membership.current.servers {
            let kept = old.iter().position(|p| p.id == server.id).map(|i| old.swap_remove(i));
            let mut p =
                kept.unwrap_or_else(|| Progress::new(server.id, server.address.clone(), last));
            p.address = server.address.clone();
            progress.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::Error;
    use crate::core::event::Event;
    use crate::core::message::EntryView;
    use crate::core::testing::*;
    use crate::core::types::{EntryType, State};

    #[test]
    fn commits_only_current_term_entries_acknowledged_by_a_majority() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let entries = [entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        let out = receive(&mut r, now, 2, append_result(2, 0, 3)).unwrap();
        assert!(!out.commit_index_changed, "the leader's own copy is not durable yet");
        let out = step(&mut r, now, Event::PersistedEntries { index: 3 }).unwrap();
        assert!(out.commit_index_changed);
        assert_eq!(r.commit_index(), 3);
    }

    #[test]
    fn does_not_commit_earlier_term_entries_by_counting() {
        let mut r = follower(&[entry(2)]);
        let now = r.timeout() + 1;
        step(&mut r, now, Event::Timeout).unwrap();
        receive(&mut r, now, 1, vote_granted(3)).unwrap();
        assert_eq!(r.state(), State::Leader);
        step(&mut r, now, Event::PersistedEntries { index: 3 }).unwrap();
        receive(&mut r, now, 1, append_result(3, 0, 2)).unwrap();
        assert_eq!(r.commit_index(), 1, "entry 2 is of term 2: a majority is not enough");
        receive(&mut r, now, 1, append_result(3, 0, 3)).unwrap();
        assert_eq!(r.commit_index(), 3, "the barrier commits it");
    }

    #[test]
    fn submit_requires_leadership_and_current_term() {
        let mut r = started(2, &[1, 2, 3]);
        let entries = [entry(1)];
        let err = step(&mut r, 1, Event::Submit { entries: &entries }).unwrap_err();
        assert_eq!(err, Error::NotLeader);
        let (mut r, now) = leader(&[1, 2, 3]);
        let err = step(&mut r, now, Event::Submit { entries: &entries }).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)));
        let err = step(&mut r, now, Event::Submit { entries: &[] }).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)));
        assert_eq!(r.last_index(), 2, "the bootstrap entry and the leader's barrier");
    }

    #[test]
    fn one_configuration_change_at_a_time() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let payload = encode(&conf(&[1, 2, 3, 4]));
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
        assert_eq!(r.configuration().len(), 4, "takes effect when appended");
        let err = step(&mut r, now, Event::Submit { entries: &change }).unwrap_err();
        assert_eq!(err, Error::CantChange);
        step(&mut r, now, Event::Configuration { index: 3 }).unwrap();
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
    }

    /// Single-server changes are safe only if a leader appends none before an entry of its term
    /// is committed (the fix Ongaro gave on raft-dev in 2015 for the flaw in dissertation §4.1):
    /// otherwise its change and an uncommitted change of an earlier leader at the same index can
    /// have majorities that do not overlap. Found by the randomized runs (seed 76266).
    #[test]
    fn new_leader_changes_the_configuration_only_after_committing_an_entry_of_its_term() {
        let mut r = started(1, &[1, 2, 3]);
        let now = r.timeout();
        step(&mut r, now, Event::Timeout).unwrap();
        let out = receive(&mut r, now, 2, vote_granted(2)).unwrap();
        let barrier = out.entries.expect("a new leader appends a barrier (Raft §8)");
        assert_eq!(barrier.index, 2);
        let payload = encode(&conf(&[1, 2, 3, 4]));
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        let err = step(&mut r, now, Event::Submit { entries: &change }).unwrap_err();
        assert_eq!(err, Error::CantChange, "the barrier is not committed yet");
        step(&mut r, now, Event::PersistedEntries { index: 2 }).unwrap();
        let err = step(&mut r, now, Event::Submit { entries: &change }).unwrap_err();
        assert_eq!(err, Error::CantChange, "durable here only: not committed");
        receive(&mut r, now, 3, append_result(2, 0, 2)).unwrap();
        assert_eq!(r.commit_index(), 2);
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
        assert_eq!(r.configuration().len(), 4);
    }

    #[test]
    fn undecodable_change_is_malformed() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &[9; 8] }];
        let err = step(&mut r, now, Event::Submit { entries: &change }).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
    }

    #[test]
    fn capacity_threshold_blocks_submissions() {
        let (mut r, now) = leader(&[1, 2, 3]);
        r.set_capacity_threshold(500);
        let entries = [entry(2)];
        // Our own capacity (100) and both peers' (100, from their votes and results).
        receive(&mut r, now, 2, append_result(2, 0, 1)).unwrap();
        receive(&mut r, now, 3, append_result(2, 0, 1)).unwrap();
        let err = step(&mut r, now, Event::Submit { entries: &entries }).unwrap_err();
        assert_eq!(err, Error::NoSpace);
        r.set_capacity_threshold(50);
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
    }

    #[test]
    fn leader_steps_down_without_hearing_from_a_majority() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let mut t = now;
        while r.state() == State::Leader {
            t = r.timeout();
            step(&mut r, t, Event::Timeout).unwrap();
            assert!(t <= now + 2000, "stepped down late");
        }
        // The barrier's acknowledgements at `now` count for the check-quorum period in which
        // they arrived, so the leader steps down at the end of the next one.
        assert!(t > now + 1000, "stepped down early");
    }

    #[test]
    fn leader_stays_while_a_majority_answers() {
        let (mut r, now) = leader(&[1, 2, 3]);
        for _ in 0..50 {
            let t = r.timeout();
            step(&mut r, t, Event::Timeout).unwrap();
            receive(&mut r, t, 2, append_result(2, 0, 1)).unwrap();
        }
        assert_eq!(r.state(), State::Leader);
        assert!(r.timeout() > now + 1000);
    }

    #[test]
    fn leader_timeout_is_next_heartbeat() {
        let (r, now) = leader(&[1, 2, 3]);
        assert_eq!(r.timeout(), now + 100);
    }
}
