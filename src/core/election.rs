//! Elections: when a follower stands, how votes (and pre-votes) are granted and counted, and
//! how a candidate becomes leader.

use super::event::{EntrySource, NewEntries};
use super::message::{Outgoing, RequestVote, RequestVoteResult, TimeoutNow, FEATURE_CAPACITY};
use super::progress::Progress;
use super::raft::{Candidate, Ctx, Follower, Leader, Raft, Status};
use super::reads::Reads;
use super::trace::LEVEL_INFO;
use super::types::{Id, Term, Time};
use crate::raft_trace;

impl Raft {
    /// Whether a candidate whose last entry is (`index`, `term`) has a log at least as
    /// up-to-date as ours (compared with everything we hold, durable or not).
    pub(super) fn is_up_to_date(&self, index: u64, term: Term) -> bool {
        let (our_index, our_term) = (self.log.last_index(), self.log.last_term());
        term > our_term || (term == our_term && index >= our_index)
    }

    /// Whether a follower whose election timer expired may stand: it must be a voter, not be
    /// installing a snapshot, and have persisted its whole log (RequestVote advertises it).
    fn may_stand(&self) -> bool {
        self.has_a_counted_vote()
            && self.installing.is_none()
            && self.durable == self.log.last_index()
    }

    /// Whether some server may need our vote to elect a leader: we are a voter in our latest
    /// configuration, or in the committed one before it while the latest is uncommitted.
    ///
    /// Raft dissertation §4.2.2: a server that is not part of its own latest configuration
    /// still stands while that configuration is uncommitted, since servers that never received
    /// the change still count on its vote; it does not count its own vote then. Without this,
    /// a leader that demotes itself and crashes before the change spreads leaves a server
    /// with the longest log that never stands and refuses every candidate behind it (seed
    /// 29695 of the randomized C runs: no leader, ever). Safety does not depend on who
    /// stands, only on whose votes are counted, which stays the candidate's latest
    /// configuration.
    fn has_a_counted_vote(&self) -> bool {
        let m = &self.membership;
        m.current.is_voter(self.id) || (m.has_pending_change() && m.committed.is_voter(self.id))
    }

    /// Our own vote, counted only when our latest configuration makes us a voter.
    fn own_votes(&self) -> Vec<Id> {
        if self.membership.current.is_voter(self.id) {
            vec![self.id]
        } else {
            Vec::new()
        }
    }

    /// RAFT_TIMEOUT on a candidate whose election timer expired: the round failed (split
    /// votes, lost messages), so it starts another of the same kind (Raft §5.2).
    pub(super) fn candidate_timeout(&mut self, cx: &mut Ctx<'_>, pre_vote: bool) {
        raft_trace!(cx.tracer, LEVEL_INFO, "  election timed out: new round");
        self.start_election(cx, pre_vote, false);
    }

    /// RAFT_TIMEOUT on a follower whose election timer expired: it heard from no leader, so
    /// it stands if it may (Raft §5.2).
    pub(super) fn follower_timeout(&mut self, cx: &mut Ctx<'_>) {
        if !self.may_stand() {
            raft_trace!(cx.tracer, LEVEL_INFO, "  election timer expired, cannot stand");
            // Nothing heard from the leader for an election timeout: stop protecting it
            // from candidates, or a non-voter could refuse votes forever. A snapshot
            // being installed still needs its leader for the acknowledgement.
            if let (Status::Follower(f), None) = (&mut self.status, &self.installing) {
                *f = Follower::default();
            }
            self.restart_election_timer(cx, true);
            return;
        }
        raft_trace!(cx.tracer, LEVEL_INFO, "  election timer expired: stand");
        self.start_election(cx, self.settings.pre_vote, false);
    }

    /// Starts a pre-vote round (no term change) or an election (term + 1, vote for self).
    /// This is the only way to leadership, even for a sole voter (Raft §5.2): every leader
    /// holds a term that it alone was granted, durably recorded before anything is sent.
    pub(super) fn start_election(&mut self, cx: &mut Ctx<'_>, pre_vote: bool, disrupt: bool) {
        if !self.can_start_new_term() {
            raft_trace!(cx.tracer, LEVEL_INFO, "  term or log at its limit: cannot stand");
            self.restart_election_timer(cx, true);
            return;
        }
        if !pre_vote {
            self.term += 1;
            self.voted_for = self.id;
            cx.update.term_changed = true;
            cx.update.vote_changed = true;
        }
        if !matches!(self.status, Status::Candidate(_)) {
            cx.update.state_changed = true;
        }
        let votes = self.own_votes();
        let counted = votes.len();
        self.status = Status::Candidate(Candidate { pre_vote, votes });
        self.restart_election_timer(cx, true);
        let phase = if pre_vote { "pre-vote" } else { "election" };
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "  start {phase} for term {}",
            self.term + pre_vote as u64
        );
        if self.has_majority(counted) {
            self.win_round(cx, pre_vote);
            return;
        }
        let request = RequestVote {
            term: self.term + u64::from(pre_vote),
            candidate_id: self.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            disrupt_leader: disrupt,
            pre_vote,
        };
        for server in self.membership.current.voters() {
            if server.id != self.id {
                cx.send(server.id, server.address.clone(), Outgoing::RequestVote(request));
            }
        }
    }

    /// A majority granted: a pre-vote leads to the real election, an election to leadership.
    fn win_round(&mut self, cx: &mut Ctx<'_>, pre_vote: bool) {
        if pre_vote {
            self.start_election(cx, false, false);
        } else {
            raft_trace!(cx.tracer, LEVEL_INFO, "  won election for term {}", self.term);
            self.become_leader(cx);
        }
    }

    /// Takes the lead and appends a barrier of this term (Raft §8: a new leader commits a blank
    /// entry at the start of its term). It commits the entries of earlier terms beyond the commit
    /// index, which are only committed through an entry of the current term (§5.4.2), and it is
    /// what lets this leader change the configuration soon (see `committed_an_entry_of_its_term`).
    fn become_leader(&mut self, cx: &mut Ctx<'_>) {
        let last = self.log.last_index();
        let progress = self
            .membership
            .current
            .servers
            .iter()
            .map(|s| Progress::new(s.id, s.address.clone(), last))
            .collect();
        self.status = Status::Leader(Leader {
            progress,
            quorum_start: cx.now,
            transfer: None,
            scratch: Vec::new(),
            reads: Reads::for_new_term(cx.now),
        });
        cx.update.state_changed = true;
        cx.update.timeout_changed = true;
        self.log.append(self.term, 1);
        let source = EntrySource::Barrier { term: self.term };
        cx.update.entries = Some(NewEntries { index: last + 1, source });
        raft_trace!(cx.tracer, LEVEL_INFO, "  append barrier at {}", last + 1);
        self.replicate_to_all(cx, true);
        self.maybe_commit(cx);
    }

    /// RequestVote: grant when we have no leader to protect (or the candidate was told to
    /// disrupt it), the term is current, we vote, have not voted for another, and the
    /// candidate's log is at least as up-to-date as ours.
    pub(super) fn on_request_vote(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Id,
        from_address: &str,
        rv: RequestVote,
    ) {
        let kind = if rv.pre_vote { "pre-vote" } else { "vote" };
        raft_trace!(cx.tracer, LEVEL_INFO, "> {kind} request from {from} for term {}", rv.term);
        let granted = self.decide_vote(cx, &rv);
        if granted && !rv.pre_vote {
            self.voted_for = rv.candidate_id;
            cx.update.term_changed = true;
            cx.update.vote_changed = true;
            self.restart_election_timer(cx, false);
        }
        self.reply_vote(cx, from, from_address, &rv, granted);
    }

    /// Answers a vote request. A granted pre-vote carries the term it was asked for (the
    /// candidate counts it for that term); anything else carries ours.
    pub(super) fn reply_vote(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Id,
        from_address: &str,
        rv: &RequestVote,
        granted: bool,
    ) {
        let kind = if rv.pre_vote { "pre-vote" } else { "vote" };
        let term = if rv.pre_vote && granted { rv.term } else { self.term };
        raft_trace!(cx.tracer, LEVEL_INFO, "  {} {kind}", if granted { "grant" } else { "deny" });
        let result = RequestVoteResult {
            term,
            vote_granted: granted,
            pre_vote: rv.pre_vote,
            features: FEATURE_CAPACITY,
            capacity: self.capacity,
        };
        let address = self.reply_address(from, from_address);
        cx.send(from, address, Outgoing::RequestVoteResult(result));
    }

    /// Whether a vote request is refused to protect the leader we know (ourselves included):
    /// a server that hears from a leader does not help depose it (dissertation §4.2.3), unless
    /// that leader handed over with TimeoutNow (the request's disrupt flag).
    pub(super) fn protects_leader_from(&self, rv: &RequestVote, now: Time) -> bool {
        let has_leader = match &self.status {
            Status::Leader(_) => true,
            Status::Follower(f) => f.leader.is_some() || self.guards_a_forgotten_lease(now),
            Status::Candidate(_) => false,
        };
        has_leader && !rv.disrupt_leader
    }

    fn decide_vote(&self, cx: &mut Ctx<'_>, rv: &RequestVote) -> bool {
        if self.protects_leader_from(rv, cx.now) {
            raft_trace!(cx.tracer, LEVEL_INFO, "  we have a leader");
            return false;
        }
        // Unlike C-Raft, a server votes even when its own (possibly stale) configuration does
        // not list it as a voter: only the candidate's configuration decides whose votes
        // count, and refusing can deadlock a cluster whose newest voter has not yet received
        // the change that promoted it.
        if self.installing.is_some() {
            return false;
        }
        if !rv.pre_vote && self.voted_for != 0 && self.voted_for != rv.candidate_id {
            raft_trace!(cx.tracer, LEVEL_INFO, "  already voted for {}", self.voted_for);
            return false;
        }
        if !self.is_up_to_date(rv.last_log_index, rv.last_log_term) {
            raft_trace!(cx.tracer, LEVEL_INFO, "  candidate log is behind ours");
            return false;
        }
        true
    }

    /// RequestVote result: count it if it answers our current round.
    pub(super) fn on_vote_result(&mut self, cx: &mut Ctx<'_>, from: Id, r: RequestVoteResult) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> vote result from {from}: term {}, granted {}, pre-vote {}",
            r.term,
            r.vote_granted,
            r.pre_vote
        );
        let pre_vote_grant = r.vote_granted && r.term == self.term + 1;
        let Status::Candidate(c) = &mut self.status else {
            return;
        };
        let counts = if c.pre_vote {
            pre_vote_grant
        } else {
            r.vote_granted && r.term == self.term && !r.pre_vote
        };
        if !counts || !self.membership.current.is_voter(from) || c.votes.contains(&from) {
            return;
        }
        c.votes.push(from);
        let (votes, pre_vote) = (c.votes.len(), c.pre_vote);
        if self.has_majority(votes) {
            self.win_round(cx, pre_vote);
        }
    }

    /// TimeoutNow: our leader hands over; stand at once if we are as up to date as it is.
    pub(super) fn on_timeout_now(&mut self, cx: &mut Ctx<'_>, from: Id, t: TimeoutNow) {
        raft_trace!(cx.tracer, LEVEL_INFO, "> timeout now from {from} in term {}", t.term);
        // A TimeoutNow of a newer term comes from a leader we did not know (the term check
        // adopted its term and left us without a leader): we cannot vouch for its log.
        let from_leader = matches!(&self.status,
            Status::Follower(f) if f.leader.as_ref().is_some_and(|(id, _)| *id == from));
        let ready = t.term == self.term
            && from_leader
            && self.may_stand()
            && t.last_log_index == self.log.last_index()
            && t.last_log_term == self.log.last_term();
        if !ready {
            raft_trace!(cx.tracer, LEVEL_INFO, "  not ready to take over: ignored");
            return;
        }
        self.start_election(cx, false, true);
    }
}

#[cfg(test)]
mod tests {
    use crate::core::event::Event;
    use crate::core::message::{EntryView, Incoming, Outgoing, RequestVote};
    use crate::core::testing::*;
    use crate::core::types::{EntryType, Role, State};

    fn request(term: u64, last_index: u64, last_term: u64) -> Incoming<'static> {
        Incoming::RequestVote(RequestVote {
            term,
            candidate_id: 3,
            last_log_index: last_index,
            last_log_term: last_term,
            disrupt_leader: false,
            pre_vote: false,
        })
    }

    fn granted(out: &Out) -> bool {
        match out.messages[0].body {
            Outgoing::RequestVoteResult(r) => r.vote_granted,
            _ => panic!("no vote result"),
        }
    }

    #[test]
    fn follower_stands_when_election_timer_expires() {
        let mut r = started(1, &[1, 2, 3]);
        let deadline = r.timeout();
        assert!((1000..=2000).contains(&deadline));
        let out = step(&mut r, deadline - 1, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Follower, "not before the deadline");
        assert!(out.messages.is_empty());
        let out = step(&mut r, deadline, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Candidate);
        assert_eq!((r.current_term(), r.voted_for()), (2, 1));
        assert!(out.term_changed && out.vote_changed && out.state_changed);
        assert_eq!(out.messages.len(), 2);
        assert!(matches!(out.to(2)[0], Outgoing::RequestVote(rv) if rv.term == 2 && !rv.pre_vote));
    }

    #[test]
    fn pre_vote_does_not_change_term() {
        let mut r = started(1, &[1, 2, 3]);
        r.set_pre_vote(true);
        let deadline = r.timeout();
        let out = step(&mut r, deadline, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Candidate);
        assert_eq!((r.current_term(), r.voted_for()), (1, 0));
        assert!(!out.term_changed);
        assert!(matches!(out.to(2)[0], Outgoing::RequestVote(rv) if rv.term == 2 && rv.pre_vote));
    }

    #[test]
    fn pre_vote_majority_starts_real_election() {
        let mut r = started(1, &[1, 2, 3]);
        r.set_pre_vote(true);
        let now = r.timeout();
        step(&mut r, now, Event::Timeout).unwrap();
        let grant = Incoming::RequestVoteResult(crate::core::message::RequestVoteResult {
            term: 2,
            vote_granted: true,
            pre_vote: true,
            features: 0,
            capacity: 0,
        });
        let out = receive(&mut r, now, 2, grant).unwrap();
        assert_eq!((r.current_term(), r.voted_for()), (2, 1));
        assert!(out.term_changed);
        assert!(matches!(out.to(3)[0], Outgoing::RequestVote(rv) if !rv.pre_vote));
    }

    #[test]
    fn rejects_vote_for_stale_log() {
        let mut r = follower(&[entry(2), entry(2)]);
        // Forget the leader so that only the log comparison decides.
        let now = r.timeout();
        step(&mut r, now, Event::Timeout).unwrap();
        let mut r2 = follower(&[entry(2), entry(2)]);
        let out = receive(&mut r2, 20, 3, request(3, 2, 2)).unwrap();
        assert!(!granted(&out), "a follower with a leader ignores the request");
        let mut r = started(2, &[1, 2, 3]);
        let out = receive(&mut r, 20, 3, request(2, 0, 0)).unwrap();
        assert!(!granted(&out), "candidate log shorter than ours");
        let out = receive(&mut r, 20, 3, request(2, 1, 1)).unwrap();
        assert!(granted(&out));
    }

    #[test]
    fn grants_one_vote_per_term() {
        let mut r = started(2, &[1, 2, 3]);
        let out = receive(&mut r, 5, 3, request(2, 1, 1)).unwrap();
        assert!(granted(&out) && out.term_changed && out.vote_changed);
        assert_eq!(r.voted_for(), 3);
        let mut other = request(2, 5, 1);
        if let Incoming::RequestVote(rv) = &mut other {
            rv.candidate_id = 1;
        }
        let out = receive(&mut r, 6, 1, other).unwrap();
        assert!(!granted(&out));
        assert_eq!(r.voted_for(), 3);
    }

    #[test]
    fn leader_ignores_vote_request_unless_disrupting() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let out = receive(&mut r, now, 3, request(5, 9, 2)).unwrap();
        assert!(!granted(&out));
        assert_eq!((r.state(), r.current_term()), (State::Leader, 2));
        let mut disrupt = request(5, 9, 2);
        if let Incoming::RequestVote(rv) = &mut disrupt {
            rv.disrupt_leader = true;
        }
        let out = receive(&mut r, now, 3, disrupt).unwrap();
        assert!(granted(&out));
        assert_eq!((r.state(), r.current_term()), (State::Follower, 5));
    }

    #[test]
    fn majority_of_votes_makes_leader_and_heartbeats() {
        let mut r = started(1, &[1, 2, 3]);
        let now = r.timeout();
        step(&mut r, now, Event::Timeout).unwrap();
        let out = receive(&mut r, now, 2, vote_granted(2)).unwrap();
        assert_eq!(r.state(), State::Leader);
        assert!(out.state_changed);
        let barrier = out.entries.expect("a new leader appends a barrier (Raft §8)");
        assert_eq!(barrier.index, 2);
        assert!(matches!(out.to(3)[0], Outgoing::AppendEntries { prev_log_index: 1, .. }));
    }

    #[test]
    fn new_leader_appends_barrier_for_uncommitted_entries() {
        let mut r = follower(&[entry(2)]);
        let now = r.timeout() + 1;
        step(&mut r, now, Event::Timeout).unwrap();
        let out = receive(&mut r, now, 1, vote_granted(3)).unwrap();
        assert_eq!(r.state(), State::Leader);
        let new = out.entries.expect("barrier");
        assert_eq!(new.index, 3);
        assert_eq!(new.source, crate::core::event::EntrySource::Barrier { term: 3 });
    }

    #[test]
    fn single_voter_becomes_leader_at_start_in_a_term_of_its_own() {
        let r = started(1, &[1]);
        assert_eq!(r.state(), State::Leader);
        assert_eq!((r.current_term(), r.voted_for()), (2, 1), "Raft §5.2: a new term");
        assert_eq!(r.commit_index(), 1);
    }

    #[test]
    fn non_voter_does_not_stand() {
        let mut r = started(4, &[1, 2, 3]);
        let deadline = r.timeout();
        let out = step(&mut r, deadline, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Follower);
        assert!(out.messages.is_empty());
        assert_eq!(r.current_term(), 1);
    }

    #[test]
    fn follower_with_unpersisted_entries_does_not_stand() {
        let mut r = started(2, &[1, 2, 3]);
        let entries = [entry(2)];
        let ae = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 1,
            prev_log_term: 1,
            leader_commit: 1,
            entries: &entries,
        };
        receive(&mut r, 10, 1, ae).unwrap();
        let deadline = r.timeout();
        step(&mut r, deadline, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Follower);
    }

    /// Server 2 of {1,2,3} holding leader 1's uncommitted change that gives 2 `role` (§4.2.2).
    fn demoted_by_uncommitted_change(role: Role) -> crate::core::raft::Raft {
        let mut c = conf(&[1, 3]);
        c.add(2, &address(2), role).unwrap();
        let payload = encode(&c);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        let r = follower(&change);
        assert_eq!(r.role(), Some(role));
        r
    }

    #[test]
    fn server_demoted_by_an_uncommitted_change_still_stands_without_its_own_vote() {
        // §4.2.2: servers without the change may need our vote; we must stand until it commits.
        let mut r = demoted_by_uncommitted_change(Role::Standby);
        let deadline = r.timeout();
        let out = step(&mut r, deadline, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Candidate);
        assert_eq!((r.current_term(), r.voted_for()), (3, 2));
        assert!(matches!(out.to(1)[0], Outgoing::RequestVote(rv) if rv.last_log_index == 2));
        assert!(matches!(out.to(3)[0], Outgoing::RequestVote(_)));
        // Its own vote does not count in its latest configuration: one grant of {1, 3} is not
        // a majority, both are.
        receive(&mut r, deadline, 1, vote_granted(3)).unwrap();
        assert_eq!(r.state(), State::Candidate, "one vote of two voters");
        receive(&mut r, deadline, 3, vote_granted(3)).unwrap();
        assert_eq!(r.state(), State::Leader);
    }

    #[test]
    fn demoted_leader_steps_down_once_its_demotion_commits() {
        let mut r = demoted_by_uncommitted_change(Role::Spare);
        let now = r.timeout();
        step(&mut r, now, Event::Timeout).unwrap();
        receive(&mut r, now, 1, vote_granted(3)).unwrap();
        let out = receive(&mut r, now, 3, vote_granted(3)).unwrap();
        assert_eq!(r.state(), State::Leader);
        let barrier = out.entries.expect("barrier for the uncommitted change").index;
        step(&mut r, now, Event::PersistedEntries { index: barrier }).unwrap();
        receive(&mut r, now, 1, append_result(3, 0, barrier)).unwrap();
        assert_eq!(r.commit_index(), 1, "its own copy does not count");
        receive(&mut r, now, 3, append_result(3, 0, barrier)).unwrap();
        assert_eq!(r.commit_index(), barrier);
        step(&mut r, now, Event::Configuration { index: 2 }).unwrap();
        assert_eq!(r.state(), State::Follower);
    }

    #[test]
    fn non_voter_of_committed_and_latest_configuration_does_not_stand() {
        // A stand-by in both the committed configuration and an uncommitted one (which adds a
        // spare): no configuration counts its vote, so it stays quiet.
        let mut c = conf(&[1, 2, 3]);
        c.add(4, &address(4), Role::Standby).unwrap();
        let payload = encode(&c);
        let mut r = crate::core::raft::Raft::new(4, &address(4), &TEST_FORMAT);
        let entries = [EntryView { term: 1, kind: EntryType::Change, payload: &payload }];
        let start = Event::Start {
            term: 1,
            voted_for: 0,
            snapshot: None,
            start_index: 1,
            entries: &entries,
        };
        step(&mut r, 0, start).unwrap();
        let mut next = c.clone();
        next.add(5, &address(5), Role::Spare).unwrap();
        let payload = encode(&next);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        let ae = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 1,
            prev_log_term: 1,
            leader_commit: 1,
            entries: &change,
        };
        receive(&mut r, 10, 1, ae).unwrap();
        step(&mut r, 10, Event::PersistedEntries { index: 2 }).unwrap();
        let deadline = r.timeout();
        let out = step(&mut r, deadline, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Follower);
        assert!(out.messages.is_empty());
    }
}
