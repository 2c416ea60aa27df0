//! RAFT_START: loading the persisted term, vote, snapshot and log.

use super::configuration::Configuration;
use super::error::Error;
use super::event::SnapshotMetadata;
use super::log::fits_below_max_index;
use super::message::EntryView;
use super::raft::{Ctx, Raft};
use super::snapshot::metadata_problem;
use super::trace::LEVEL_INFO;
use super::types::{EntryType, Id, Index, Term, MAX_TERM};
use crate::raft_trace;

/// The configurations found in the loaded log, decoded during validation.
pub(super) struct StartPlan {
    /// The last `Change` entry newer than the snapshot's configuration, and the one before it.
    last_change: Option<(Index, Configuration)>,
    previous_change: Option<(Index, Configuration)>,
}

fn invalid(why: &str) -> Error {
    Error::Invalid(format!("inconsistent start state: {why}"))
}

impl Raft {
    pub(super) fn check_start(
        &self,
        term: Term,
        voted_for: Id,
        snapshot: Option<&SnapshotMetadata>,
        start_index: Index,
        entries: &[EntryView<'_>],
    ) -> Result<StartPlan, Error> {
        if term == 0 && (voted_for != 0 || snapshot.is_some() || !entries.is_empty()) {
            return Err(invalid("term 0 with a vote, a snapshot or entries"));
        }
        if term > MAX_TERM {
            return Err(invalid("term beyond 2^63 - 1"));
        }
        let snapshot_index = snapshot.map_or(0, |s| s.index);
        if let Some(s) = snapshot {
            if let Some(why) = metadata_problem(s) {
                return Err(invalid(why));
            }
            if s.term > term {
                return Err(invalid("snapshot term above the current term"));
            }
        }
        if start_index == 0 || start_index > snapshot_index + 1 {
            return Err(invalid("start index out of range"));
        }
        if !fits_below_max_index(start_index, entries.len()) {
            return Err(invalid("entries beyond index 2^63 - 1"));
        }
        if snapshot.is_none() && !entries.is_empty() && entries[0].kind != EntryType::Change {
            return Err(invalid("log does not start with a configuration"));
        }
        let mut previous_term = 0;
        for entry in entries {
            if entry.term == 0 || entry.term < previous_term || entry.term > term {
                return Err(invalid("entry terms must be non-zero, non-decreasing, at most term"));
            }
            previous_term = entry.term;
        }
        if let (Some(s), false) = (snapshot, entries.is_empty()) {
            let last = start_index + entries.len() as u64 - 1;
            if last < s.index {
                return Err(invalid("entries end before the snapshot"));
            }
            if start_index <= s.index && entries[(s.index - start_index) as usize].term != s.term {
                return Err(invalid("entry at the snapshot index has another term"));
            }
        }
        let newer_than = snapshot.map_or(0, |s| s.configuration_index);
        let mut changes = entries
            .iter()
            .enumerate()
            .rev()
            .map(|(i, e)| (start_index + i as u64, e))
            .filter(|(index, e)| e.kind == EntryType::Change && *index > newer_than);
        let decode = |found: Option<(Index, &EntryView<'_>)>| -> Result<_, Error> {
            match found {
                Some((index, e)) => Ok(Some((index, self.decode_change(e.payload)?))),
                None => Ok(None),
            }
        };
        let last_change = decode(changes.next())?;
        let previous_change = decode(changes.next())?;
        Ok(StartPlan { last_change, previous_change })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_start(
        &mut self,
        cx: &mut Ctx<'_>,
        term: Term,
        voted_for: Id,
        snapshot: Option<SnapshotMetadata>,
        start_index: Index,
        entries: &[EntryView<'_>],
        plan: StartPlan,
    ) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> start: term {term}, vote {voted_for}, snapshot {}, entries {start_index}+{}",
            snapshot.as_ref().map_or(0, |s| s.index),
            entries.len()
        );
        self.started = true;
        self.term = term;
        self.voted_for = voted_for;
        self.guard_leases_after_start(cx.now);
        if let Some(s) = snapshot {
            self.log.restore(s.index, s.term);
            self.snapshot_conf_index = s.configuration_index;
            self.membership.restore(s.configuration, s.configuration_index);
            self.set_commit(cx, s.index);
        }
        self.log.set_start(start_index);
        let mut run_term = 0;
        let mut run_len = 0;
        for entry in entries {
            if entry.term != run_term {
                self.log.append(run_term, run_len);
                run_term = entry.term;
                run_len = 0;
            }
            run_len += 1;
        }
        self.log.append(run_term, run_len);
        self.durable = self.log.last_index();
        if self.log.snapshot_index() == 0 && !entries.is_empty() {
            // The first entry is the bootstrap configuration, identical everywhere.
            self.set_commit(cx, 1);
        }
        match (plan.previous_change, plan.last_change) {
            (_, Some((1, conf))) => self.membership.restore(conf, 1),
            (previous, Some((index, conf))) => {
                if let Some((previous_index, previous)) = previous {
                    self.membership.restore(previous, previous_index);
                }
                self.membership.append_change(index, conf);
            }
            (_, None) => {}
        }
        self.restart_election_timer(cx, true);
        if self.is_sole_voter() {
            // A lone voter needs nobody's vote, but not its loaded term: another server may
            // have led that term with our vote (and made us the only voter), or we may have
            // led it and lost unpersisted entries that a stand-by holds. Reusing the term would
            // put two different entries at one index and term (Raft §5.2, §5.3).
            raft_trace!(cx.tracer, LEVEL_INFO, "  only voter: stand at once");
            self.start_election(cx, self.settings.pre_vote, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::Error;
    use crate::core::event::{Event, SnapshotMetadata};
    use crate::core::message::EntryView;
    use crate::core::raft::Raft;
    use crate::core::testing::*;
    use crate::core::types::{EntryType, Role, State};

    fn start(r: &mut Raft, term: u64, entries: &[EntryView<'_>]) -> Result<Out, Error> {
        let event = Event::Start { term, voted_for: 0, snapshot: None, start_index: 1, entries };
        step(r, 0, event)
    }

    #[test]
    fn events_before_start_are_invalid() {
        let mut r = Raft::new(1, "a", &TEST_FORMAT);
        assert!(matches!(step(&mut r, 0, Event::Timeout), Err(Error::Invalid(_))));
    }

    #[test]
    fn second_start_is_invalid() {
        let mut r = started(1, &[1, 2]);
        assert!(matches!(start(&mut r, 1, &[]), Err(Error::Invalid(_))));
    }

    #[test]
    fn time_going_backwards_is_invalid() {
        let mut r = started(1, &[1, 2]);
        step(&mut r, 50, Event::Timeout).unwrap();
        assert!(matches!(step(&mut r, 49, Event::Timeout), Err(Error::Invalid(_))));
    }

    #[test]
    fn log_must_start_with_a_configuration() {
        let mut r = Raft::new(1, "a", &TEST_FORMAT);
        assert!(matches!(start(&mut r, 1, &[entry(1)]), Err(Error::Invalid(_))));
        let bad = [EntryView { term: 1, kind: EntryType::Change, payload: &[7; 8] }];
        assert!(matches!(start(&mut r, 1, &bad), Err(Error::Malformed(_))));
        assert!(matches!(start(&mut r, 0, &bad), Err(Error::Invalid(_))));
    }

    #[test]
    fn fresh_server_has_no_configuration() {
        let mut r = Raft::new(4, "d", &TEST_FORMAT);
        start(&mut r, 0, &[]).unwrap();
        assert_eq!(r.role(), None);
        assert_eq!((r.commit_index(), r.last_index()), (0, 0));
        assert!(r.timeout() >= 1000);
    }

    #[test]
    fn restart_takes_last_configuration_as_uncommitted() {
        let one = encode(&conf(&[1, 2, 3]));
        let two = encode(&conf(&[1, 2]));
        let entries = [
            EntryView { term: 1, kind: EntryType::Change, payload: &one },
            entry(2),
            EntryView { term: 2, kind: EntryType::Change, payload: &two },
        ];
        let mut r = Raft::new(3, "node-3", &TEST_FORMAT);
        start(&mut r, 2, &entries).unwrap();
        assert_eq!(r.role(), None, "the change at 3 is in effect");
        assert_eq!(r.commit_index(), 1);
        assert_eq!(r.last_index(), 3);
    }

    #[test]
    fn starts_from_snapshot_with_trailing_entries() {
        let metadata = SnapshotMetadata {
            index: 5,
            term: 2,
            configuration: conf(&[1, 2]),
            configuration_index: 1,
        };
        let entries = [entry(2), entry(2), entry(3)];
        let event = Event::Start {
            term: 3,
            voted_for: 0,
            snapshot: Some(metadata),
            start_index: 4,
            entries: &entries,
        };
        let mut r = Raft::new(2, "node-2", &TEST_FORMAT);
        let out = step(&mut r, 0, event).unwrap();
        assert!(out.commit_index_changed);
        assert_eq!((r.commit_index(), r.last_index(), r.snapshot_index()), (5, 6, 5));
        assert_eq!(r.term_of(4), Some(2));
        assert_eq!(r.role(), Some(Role::Voter));
        assert_eq!(r.state(), State::Follower);
    }
}
