//! Log replication: what a leader sends to each follower, how a follower checks and stores
//! AppendEntries, and how the leader reads the results.

use super::configuration::Configuration;
use super::error::Error;
use super::event::{EntrySource, NewEntries};
use super::message::{AppendEntriesResult, EntryView, Outgoing, FEATURE_SNAPSHOT_CHUNKS};
use super::progress::Mode;
use super::raft::{Ctx, Follower, Raft, Status};
use super::trace::LEVEL_INFO;
use super::types::{CatchUpStatus, EntryType, Id, Index, Role, Term};
use crate::raft_trace;

/// A received AppendEntries, as decided during validation.
#[derive(Debug)]
pub(super) enum AppendPlan {
    /// A received snapshot is being stored: drop without reply.
    Drop,
    /// Our log does not hold `prev_log_index` with `prev_log_term`.
    Mismatch { hint: Index },
    /// Entries from position `skip` on are new, after dropping our entries from `truncate`.
    Accept { skip: usize, truncate: Option<Index>, changes: Vec<(Index, Configuration)> },
}

/// The fields of a received AppendEntries.
pub(super) struct AppendEntries<'a> {
    pub term: Term,
    pub prev_log_index: Index,
    pub prev_log_term: Term,
    pub leader_commit: Index,
    pub entries: &'a [EntryView<'a>],
}

fn malformed(why: &str) -> Error {
    Error::Malformed(format!("AppendEntries: {why}"))
}

/// What is wrong with the form of an AppendEntries, whatever our state: checked before its term.
pub(super) fn check_append_entries_form(ae: &AppendEntries<'_>) -> Result<(), Error> {
    if ae.term == 0 {
        return Err(malformed("term 0"));
    }
    if (ae.prev_log_index == 0) != (ae.prev_log_term == 0) {
        return Err(malformed("previous index and term must be both zero or both non-zero"));
    }
    // Non-decreasing from a first term of at least max(previous term, 1) to a last term of at
    // most the message's: then every term is non-zero and within bounds, at one comparison
    // per entry.
    let within = match (ae.entries.first(), ae.entries.last()) {
        (Some(first), Some(last)) => first.term >= ae.prev_log_term.max(1) && last.term <= ae.term,
        _ => true,
    };
    if !within || !ae.entries.windows(2).all(|pair| pair[0].term <= pair[1].term) {
        return Err(malformed("entry terms must be non-zero, non-decreasing, at most term"));
    }
    Ok(())
}

impl Raft {
    // ---- follower side ----

    /// What to do with an AppendEntries that is not stale (the term check of `receive.rs`
    /// decided that; a newer term is adopted before the plan is carried out).
    pub(super) fn check_append_entries(&self, ae: &AppendEntries<'_>) -> Result<AppendPlan, Error> {
        if ae.term == self.term && matches!(self.status, Status::Leader(_)) {
            return Err(malformed("another leader in our term"));
        }
        if self.installing.is_some() {
            return Ok(AppendPlan::Drop);
        }
        let prev = ae.prev_log_index;
        if !self.matches_previous(prev, ae.prev_log_term) {
            return Ok(AppendPlan::Mismatch {
                hint: self.log.conflict_hint(prev, ae.prev_log_term),
            });
        }
        let mut skip = ae.entries.len();
        let mut truncate = None;
        for (i, entry) in ae.entries.iter().enumerate() {
            let index = prev + 1 + i as u64;
            match self.log.term_of(index) {
                // Compacted into the snapshot, which is committed and so matches any leader.
                None if self.log.is_compacted(index) => continue,
                Some(term) if term == entry.term => continue,
                Some(_) if index <= self.commit || index <= self.log.snapshot_index() => {
                    return Err(Error::Shutdown(format!(
                        "entry {index} conflicts with a committed entry"
                    )));
                }
                Some(_) => truncate = Some(index),
                None => {}
            }
            skip = i;
            break;
        }
        let mut changes = Vec::new();
        for (i, entry) in ae.entries.iter().enumerate().skip(skip) {
            if entry.kind == EntryType::Change {
                changes.push((prev + 1 + i as u64, self.decode_change(entry.payload)?));
            }
        }
        Ok(AppendPlan::Accept { skip, truncate, changes })
    }

    /// Log matching at the anchor of an AppendEntries (Raft §5.3): we hold `prev` with
    /// `prev_term`, or `prev` lies in the snapshot where its term is no longer known (committed
    /// entries match any leader's). Where the term is known, at the snapshot's own index or a
    /// trailing entry, it is checked like any other: entries following it must not fall below
    /// the snapshot's term.
    fn matches_previous(&self, prev: Index, prev_term: Term) -> bool {
        match self.log.term_of(prev) {
            Some(term) => term == prev_term,
            None => self.log.is_compacted(prev),
        }
    }

    pub(super) fn on_append_entries(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Id,
        from_address: &str,
        ae: AppendEntries<'_>,
        plan: AppendPlan,
        read_round: u32,
    ) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> append entries from {from}: term {}, prev {}/{}, {} entries, commit {}",
            ae.term,
            ae.prev_log_index,
            ae.prev_log_term,
            ae.entries.len(),
            ae.leader_commit
        );
        let prev = ae.prev_log_index;
        self.follow(cx, from, from_address);
        self.note_read_round(from, read_round);
        match plan {
            AppendPlan::Drop => {
                raft_trace!(cx.tracer, LEVEL_INFO, "  installing a snapshot: dropped");
            }
            AppendPlan::Mismatch { hint } => {
                raft_trace!(
                    cx.tracer,
                    LEVEL_INFO,
                    "  no entry {prev} of term {}: reject",
                    ae.prev_log_term
                );
                self.reply_append(cx, from, from_address, prev, hint);
            }
            AppendPlan::Accept { skip, truncate, changes } => {
                if let Some(index) = truncate {
                    raft_trace!(cx.tracer, LEVEL_INFO, "  drop conflicting entries from {index}");
                    self.log.truncate(index);
                    self.durable = self.durable.min(index - 1);
                    self.membership.roll_back_from(index);
                }
                let new = &ae.entries[skip..];
                let first_new = prev + 1 + skip as u64;
                for entry in new {
                    self.log.append(entry.term, 1);
                }
                self.append_changes(cx, changes);
                let received_up_to = prev + ae.entries.len() as u64;
                self.follow_leader_commit(cx, ae.leader_commit, received_up_to);
                if !new.is_empty() {
                    raft_trace!(
                        cx.tracer,
                        LEVEL_INFO,
                        "  persist {} entries from {first_new}",
                        new.len()
                    );
                    let source = EntrySource::Event { skip };
                    cx.update.entries = Some(NewEntries { index: first_new, source });
                } else {
                    let acknowledged = self.durable.min(received_up_to);
                    self.reply_append(cx, from, from_address, 0, acknowledged);
                }
            }
        }
    }

    /// Records the configurations of the `Change` entries just appended, in log order. Nearly
    /// every AppendEntries carries none, so the common case costs one test.
    fn append_changes(&mut self, cx: &mut Ctx<'_>, changes: Vec<(Index, Configuration)>) {
        if changes.is_empty() {
            return;
        }
        for (index, conf) in changes {
            raft_trace!(cx.tracer, LEVEL_INFO, "  configuration change at {index}");
            self.membership.append_change(index, conf);
        }
    }

    /// Recognises `from` as the leader of our term (the term check at receive adopted it
    /// already) and restarts the election timer.
    pub(super) fn follow(&mut self, cx: &mut Ctx<'_>, from: Id, from_address: &str) {
        if !matches!(self.status, Status::Follower(_)) {
            raft_trace!(cx.tracer, LEVEL_INFO, "  leader exists in our term: step down");
            self.become_follower(cx);
        }
        let address = self.reply_address(from, from_address);
        if let Status::Follower(f) = &mut self.status {
            if !matches!(&f.leader, Some((id, _)) if *id == from) {
                raft_trace!(cx.tracer, LEVEL_INFO, "  leader is now {from}");
                *f = Follower { leader: Some((from, address)), verified: None, read_echo: 0 };
            }
        }
        self.restart_election_timer(cx, false);
    }

    /// Sends an AppendEntries result: success when `rejected` is 0, else a rejection with a hint.
    pub(super) fn reply_append(
        &mut self,
        cx: &mut Ctx<'_>,
        to: Id,
        to_address: &str,
        rejected: Index,
        last_log_index: Index,
    ) {
        let result = AppendEntriesResult {
            term: self.term,
            rejected,
            last_log_index,
            features: self.features(),
            capacity: self.capacity,
        };
        let address = self.reply_address(to, to_address);
        let echo = self.read_echo_for(to);
        cx.send_with_context(to, address, Outgoing::AppendEntriesResult(result), echo);
    }

    pub(super) fn check_persisted_entries(&self, index: Index) -> Result<(), Error> {
        if self.installing.is_some() {
            return Err(Error::Invalid("entries persisted while installing a snapshot".into()));
        }
        if index <= self.durable || index > self.log.last_index() {
            return Err(Error::Invalid(format!(
                "persisted index {index} not in ({}, {}]",
                self.durable,
                self.log.last_index()
            )));
        }
        Ok(())
    }

    /// RAFT_PERSISTED_ENTRIES: a leader counts its own copy; a follower acknowledges.
    pub(super) fn on_persisted_entries(&mut self, cx: &mut Ctx<'_>, index: Index) {
        raft_trace!(cx.tracer, LEVEL_INFO, "> persisted entries up to {index}");
        self.durable = index;
        match &self.status {
            Status::Leader(_) => self.maybe_commit(cx),
            Status::Follower(Follower {
                leader: Some((id, address)),
                verified: Some(verified),
                ..
            }) => {
                let (id, address, acknowledged) = (*id, address.clone(), index.min(*verified));
                let features = self.features();
                let result = AppendEntriesResult {
                    term: self.term,
                    rejected: 0,
                    last_log_index: acknowledged,
                    features,
                    capacity: self.capacity,
                };
                let echo = self.read_echo_for(id);
                cx.send_with_context(id, address, Outgoing::AppendEntriesResult(result), echo);
            }
            _ => {}
        }
    }

    // ---- leader side ----

    /// Whether the leader replicates to the server of `progress[i]` at all.
    pub(super) fn replicates_to(&self, i: usize) -> bool {
        let Status::Leader(leader) = &self.status else {
            return false;
        };
        let p = &leader.progress[i];
        if p.id == self.id {
            return false;
        }
        match self.membership.current.role_of(p.id) {
            Some(Role::Voter | Role::Standby) => true,
            Some(Role::Spare) => {
                matches!(p.catch_up.status, CatchUpStatus::Running | CatchUpStatus::Finished)
            }
            None => false,
        }
    }

    /// Sends to every follower that needs it now (`force`: to all, as a heartbeat round).
    pub(super) fn replicate_to_all(&mut self, cx: &mut Ctx<'_>, force: bool) {
        let n = match &self.status {
            Status::Leader(l) => l.progress.len(),
            _ => return,
        };
        for i in 0..n {
            if self.replicates_to(i) && (force || self.needs_send(cx, i)) {
                self.send_append_entries(cx, i);
            }
        }
    }

    /// Whether follower `i` is due a message: new entries within the in-flight window in
    /// pipeline mode, otherwise a heartbeat once per interval; a snapshot that went unanswered
    /// for too long is abandoned so that the follower is probed again.
    fn needs_send(&mut self, cx: &mut Ctx<'_>, i: usize) -> bool {
        let now = cx.now;
        let last = self.log.last_index();
        let (heartbeat, window) =
            (self.settings.heartbeat_timeout, u64::from(self.settings.max_inflight_entries.max(1)));
        let install_timeout = u64::from(self.settings.install_snapshot_timeout);
        let Status::Leader(leader) = &mut self.status else {
            return false;
        };
        let p = &mut leader.progress[i];
        match p.mode {
            Mode::Probe => p.heartbeat_due(now, heartbeat),
            Mode::Pipeline => {
                let has_new = p.next <= last && p.next <= p.matched + window;
                has_new || p.heartbeat_due(now, heartbeat)
            }
            Mode::Snapshot { sent_at, .. } => {
                if now.saturating_sub(sent_at) >= install_timeout {
                    raft_trace!(cx.tracer, LEVEL_INFO, "  snapshot to {} timed out", p.id);
                    p.abort_snapshot();
                    return true;
                }
                let due = p.heartbeat_due(now, heartbeat);
                self.rewind_stalled_stream(i, now) || due
            }
        }
    }

    /// Sends follower `i` the entries from its next index (or an empty heartbeat), or the
    /// snapshot when those entries were compacted away.
    pub(super) fn send_append_entries(&mut self, cx: &mut Ctx<'_>, i: usize) {
        let (term, commit, last) = (self.term, self.commit, self.log.last_index());
        let window = u64::from(self.settings.max_inflight_entries.max(1));
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &leader.progress[i];
        // Never anchor beyond our own log: there is no term to send for such an index.
        let mut prev = (p.next - 1).min(last);
        if let Mode::Snapshot { index, .. } = p.mode {
            // Keep the follower's timer quiet while it installs.
            prev =
                if self.log.term_of(index).is_some() { index } else { self.log.snapshot_index() };
        }
        let prev_term = match self.log.term_of(prev) {
            Some(term) if !self.log.is_compacted(prev + 1) => term,
            _ => {
                self.send_snapshot(cx, i);
                return;
            }
        };
        let available = last.saturating_sub(prev);
        let streaming = matches!(p.mode, Mode::Snapshot { stream: Some(_), .. });
        let n = match p.mode {
            Mode::Snapshot { .. } => 0,
            Mode::Probe => available.min(window),
            Mode::Pipeline => available.min((p.matched + window).saturating_sub(prev)),
        };
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        if p.mode == Mode::Pipeline {
            p.next = prev + n + 1;
        }
        p.last_send = Some(cx.now);
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "  send {n} entries after {prev}/{prev_term} to {}",
            p.id
        );
        let body = Outgoing::AppendEntries {
            term,
            prev_log_index: prev,
            prev_log_term: prev_term,
            leader_commit: commit,
            n_entries: n as u32,
        };
        let (to, address) = (p.id, p.address.clone());
        let round = self.current_read_round();
        cx.send_with_context(to, address, body, round);
        if streaming {
            self.send_chunks(cx, i);
        }
    }

    /// An AppendEntries result (also the answer to InstallSnapshot).
    pub(super) fn on_append_result(&mut self, cx: &mut Ctx<'_>, from: Id, r: AppendEntriesResult) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> append result from {from}: term {}, rejected {}, last {}",
            r.term,
            r.rejected,
            r.last_log_index
        );
        let Some(i) = self.progress_position(from) else {
            return;
        };
        let last = self.log.last_index();
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        p.recent_recv = true;
        p.takes_chunks = Some(r.features & FEATURE_SNAPSHOT_CHUNKS != 0);
        if r.rejected != 0 {
            let hint = r.last_log_index.min(r.rejected - 1);
            if p.reject(r.rejected, hint, last) {
                raft_trace!(cx.tracer, LEVEL_INFO, "  rejected: retry from {}", p.next);
                self.send_append_entries(cx, i);
            }
            return;
        }
        if r.last_log_index > last {
            return;
        }
        let moved = p.acknowledge(r.last_log_index);
        match p.mode {
            Mode::Snapshot { index, .. } if r.last_log_index < index => {}
            _ => p.mode = Mode::Pipeline,
        }
        if moved {
            self.maybe_commit(cx);
            self.advance_catch_up(cx, i);
            self.maybe_send_timeout_now(cx, i);
        }
        if self.replicates_to(i) && self.needs_send(cx, i) {
            self.send_append_entries(cx, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::Error;
    use crate::core::event::{EntrySource, Event, NewEntries};
    use crate::core::message::{EntryView, Outgoing};
    use crate::core::raft::Raft;
    use crate::core::testing::*;
    use crate::core::types::{EntryType, State};

    fn result(out: &Out) -> (u64, u64) {
        match out.to(1).first() {
            Some(Outgoing::AppendEntriesResult(r)) => (r.rejected, r.last_log_index),
            other => panic!("expected a result, got {other:?}"),
        }
    }

    #[test]
    fn follower_acknowledges_only_persisted_entries() {
        let mut r = started(2, &[1, 2, 3]);
        let entries = [entry(2), entry(2)];
        let out = receive(&mut r, 10, 1, ae(2, 1, 1, 1, &entries)).unwrap();
        assert_eq!(
            out.entries,
            Some(NewEntries { index: 2, source: EntrySource::Event { skip: 0 } })
        );
        assert!(out.messages.is_empty(), "no acknowledgement before the entries are durable");
        assert_eq!(r.last_index(), 3);
        let out = step(&mut r, 11, Event::PersistedEntries { index: 2 }).unwrap();
        assert_eq!(result(&out), (0, 2));
        let out = step(&mut r, 12, Event::PersistedEntries { index: 3 }).unwrap();
        assert_eq!(result(&out), (0, 3));
    }

    #[test]
    fn duplicate_append_entries_are_acknowledged_at_once() {
        let mut r = follower(&[entry(2), entry(2)]);
        let entries = [entry(2)];
        let out = receive(&mut r, 20, 1, ae(2, 1, 1, 1, &entries)).unwrap();
        assert!(out.entries.is_none());
        assert_eq!(result(&out), (0, 2), "acknowledges what this message vouched for");
    }

    #[test]
    fn rejects_append_entries_with_mismatched_previous_entry() {
        let mut r = follower(&[entry(2), entry(2)]);
        let out = receive(&mut r, 20, 1, ae(2, 7, 2, 1, &[])).unwrap();
        assert_eq!(result(&out), (7, 3), "hint is our last index");
        let out = receive(&mut r, 20, 1, ae(3, 3, 1, 1, &[])).unwrap();
        assert_eq!(result(&out), (3, 1), "hint skips the whole conflicting term");
    }

    #[test]
    fn truncates_conflicting_suffix() {
        let mut r = follower(&[entry(2), entry(2), entry(2)]);
        let entries = [entry(2), entry(3)];
        let out = receive(&mut r, 20, 1, ae(3, 1, 1, 1, &entries)).unwrap();
        assert_eq!(
            out.entries,
            Some(NewEntries { index: 3, source: EntrySource::Event { skip: 1 } })
        );
        assert_eq!(r.last_index(), 3);
        assert_eq!(r.term_of(3), Some(3));
        assert_eq!(r.persisted_index(), 2, "the replaced entries no longer count as durable");
    }

    #[test]
    fn conflict_with_committed_entry_is_shutdown() {
        let mut r = follower(&[entry(2), entry(2)]);
        receive(&mut r, 20, 1, ae(2, 3, 2, 3, &[])).unwrap();
        assert_eq!(r.commit_index(), 3);
        let entries = [entry(3)];
        let err = receive(&mut r, 21, 1, ae(3, 1, 1, 3, &entries)).unwrap_err();
        assert!(matches!(err, Error::Shutdown(_)));
        assert_eq!(r.current_term(), 2, "nothing changed");
        assert_eq!(r.last_index(), 3);
    }

    #[test]
    fn follower_commit_never_decreases() {
        let mut r = follower(&[entry(2), entry(2), entry(2)]);
        receive(&mut r, 20, 1, ae(2, 4, 2, 4, &[])).unwrap();
        assert_eq!(r.commit_index(), 4);
        let out = receive(&mut r, 21, 1, ae(2, 2, 2, 6, &[])).unwrap();
        assert_eq!(r.commit_index(), 4);
        assert!(!out.commit_index_changed);
    }

    #[test]
    fn follower_commit_stops_at_what_the_leader_vouched_for() {
        let mut r = follower(&[entry(2), entry(2), entry(2)]);
        receive(&mut r, 20, 1, ae(2, 2, 2, 9, &[])).unwrap();
        assert_eq!(r.commit_index(), 2);
    }

    #[test]
    fn malformed_append_entries_change_nothing() {
        let mut r = started(2, &[1, 2, 3]);
        let err = receive(&mut r, 5, 1, ae(7, 1, 0, 0, &[])).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        let bad = [entry(2), entry(1)];
        let err = receive(&mut r, 5, 1, ae(7, 1, 1, 0, &bad)).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        let err = receive(&mut r, 5, 0, ae(7, 1, 1, 0, &[])).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        assert_eq!(r.current_term(), 1, "term not adopted");
        assert_eq!(r.leader(), None);
    }

    #[test]
    fn append_entries_of_our_term_reaching_a_leader_is_malformed() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let err = receive(&mut r, now, 2, ae(2, 1, 1, 1, &[])).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        assert_eq!(r.state(), State::Leader);
    }

    #[test]
    fn persisted_entries_must_advance_within_the_log() {
        let mut r = follower(&[entry(2)]);
        let err = step(&mut r, 20, Event::PersistedEntries { index: 2 }).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "not above the durable index");
        let err = step(&mut r, 20, Event::PersistedEntries { index: 5 }).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "beyond the log");
    }

    #[test]
    fn leader_backs_off_to_follower_hint_and_retries_at_once() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let entries = [entry(2), entry(2), entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        let out = receive(&mut r, now, 2, append_result(2, 1, 0)).unwrap();
        match out.to(2)[0] {
            Outgoing::AppendEntries { prev_log_index, n_entries, .. } => {
                assert_eq!((*prev_log_index, *n_entries), (0, 5), "bootstrap, barrier, 3 entries");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stale_results_are_ignored() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let entries = [entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        receive(&mut r, now, 2, append_result(2, 0, 2)).unwrap();
        assert_eq!(r.match_index(2), Ok(2));
        let out = receive(&mut r, now, 2, append_result(2, 1, 0)).unwrap();
        assert!(out.messages.is_empty(), "a late rejection below the match index");
        let out = receive(&mut r, now, 2, append_result(1, 0, 1)).unwrap();
        assert!(out.messages.is_empty());
        assert_eq!(r.match_index(2), Ok(2));
    }

    #[test]
    fn pipeline_respects_max_inflight_entries() {
        let (mut r, now) = leader(&[1, 2, 3]);
        r.set_max_inflight_entries(2);
        receive(&mut r, now, 2, append_result(2, 0, 1)).unwrap();
        let entries = [entry(2), entry(2), entry(2), entry(2)];
        let out = step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        match out.to(2)[0] {
            Outgoing::AppendEntries { prev_log_index, n_entries, .. } => {
                assert_eq!((*prev_log_index, *n_entries), (2, 1), "the barrier is in flight");
            }
            other => panic!("{other:?}"),
        }
        let out = receive(&mut r, now, 2, append_result(2, 0, 3)).unwrap();
        assert!(matches!(
            out.to(2)[0],
            Outgoing::AppendEntries { prev_log_index: 3, n_entries: 2, .. }
        ));
    }

    /// Raft §5.3: the leader appends a command "as a new entry" whatever it holds; the 8-byte
    /// rule of C-Raft's wire and disk formats belongs to those encoders, not to the protocol.
    #[test]
    fn commands_of_any_length_are_submitted_replicated_committed_and_restarted() {
        let payloads = odd_payloads();
        let (mut leader, now) = leader(&[1, 2, 3]);
        let submitted = commands(2, &payloads);
        step(&mut leader, now, Event::Submit { entries: &submitted }).unwrap();
        assert_eq!(leader.last_index(), 2 + submitted.len() as u64, "after the barrier");
        let last = leader.last_index();
        step(&mut leader, now, Event::PersistedEntries { index: last }).unwrap();

        let barrier = EntryView { term: 2, kind: EntryType::Barrier, payload: &[0; 8] };
        let mut received = vec![barrier];
        received.extend(submitted.iter().copied());
        let mut follower = follower(&received);
        assert_eq!(follower.last_index(), last, "received AppendEntries of any length");
        receive(&mut leader, now, 2, append_result(2, 0, last)).unwrap();
        assert_eq!(leader.commit_index(), last, "committed by a majority");
        receive(&mut follower, now, 1, ae(2, last, 2, last, &[])).unwrap();
        assert_eq!(follower.commit_index(), last);

        // Restart from the persisted log: bootstrap configuration, then the commands.
        let bootstrap = encode(&conf(&[1, 2, 3]));
        let mut log = vec![EntryView { term: 1, kind: EntryType::Change, payload: &bootstrap }];
        log.extend(received);
        let mut restarted = Raft::new(2, &address(2), &TEST_FORMAT);
        let event =
            Event::Start { term: 2, voted_for: 1, snapshot: None, start_index: 1, entries: &log };
        step(&mut restarted, 0, event).unwrap();
        assert_eq!(restarted.last_index(), last);
        assert_eq!(restarted.term_of(last), Some(2));
    }
}
