//! RAFT_START: loading the persisted term, vote, snapshot and log.

use super::configuration::Configuration;
use super::error::Error;
use super::event::SnapshotMetadata;
use super::message::EntryView;
use super::raft::{Ctx, Raft};
use super::trace::LEVEL_INFO;
use super::types::{EntryType, Id, Index, Term};
use crate::codec::configuration as codec;
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
        let snapshot_index = snapshot.map_or(0, |s| s.index);
        if let Some(s) = snapshot {
            if s.index == 0 || s.term == 0 {
                return Err(invalid("snapshot at index or term 0"));
            }
            if s.configuration_index == 0 || s.configuration_index > s.index {
                return Err(invalid("snapshot configuration index out of range"));
            }
            if s.configuration.is_empty() {
                return Err(invalid("snapshot without configuration"));
            }
            if s.term > term {
                return Err(invalid("snapshot term above the current term"));
            }
        }
        if start_index == 0 || start_index > snapshot_index + 1 {
            return Err(invalid("start index out of range"));
        }
        if snapshot.is_none() && !entries.is_empty() && entries[0].kind != EntryType::Change {
            return Err(invalid("log does not start with a configuration"));
        }
        let mut previous_term = 0;
        for entry in entries {
            if entry.term == 0 || entry.term < previous_term || entry.term > term {
                return Err(invalid(
                    "entry terms must be non-zero, non-decreasing, at most term",
                ));
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
                Some((index, e)) => Ok(Some((index, codec::decode(e.payload)?))),
                None => Ok(None),
            }
        };
        let last_change = decode(changes.next())?;
        let previous_change = decode(changes.next())?;
        Ok(StartPlan {
            last_change,
            previous_change,
        })
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
        if let Some(s) = snapshot {
            self.log.restore(s.index, s.term);
            self.snapshot_conf_index = s.configuration_index;
            self.membership
                .restore(s.configuration, s.configuration_index);
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
        let conf = &self.membership.current;
        if conf.voter_count() == 1 && conf.is_voter(self.id) {
            // A lone voter needs nobody's vote: lead at once, in the loaded term.
            raft_trace!(
                cx.tracer,
                LEVEL_INFO,
                "  only voter: become leader in term {term}"
            );
            self.become_leader(cx, false);
            let last = self.log.last_index();
            self.set_commit(cx, last);
        }
    }
}
