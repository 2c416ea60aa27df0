//! Linearizable reads without writing to the log (Raft dissertation §6.4).
//!
//! ReadIndex: a read asked of the leader takes the commit index as its read index, once the
//! leader has committed an entry of its own term (until then its commit index may lag what
//! earlier leaders committed). The leader then proves it still led when it took that index:
//! it starts a *read round* after taking it, and a majority of voters must answer a message
//! sent after the round started. Many reads share one round. The host serves each confirmed
//! read once its state machine has applied up to the read index.
//!
//! Rounds travel in C-Raft's messages without changing them for C-Raft: every AppendEntries
//! carries the leader's latest round (the reserved trailing word on the wire); a follower
//! remembers the last round it received from its leader and echoes it in every result (bytes
//! 28..31), setting [`FEATURE_READ`]. An echo of round r was written after the follower
//! received a message sent after round r began, so a majority echoing r proves that no other
//! leader had been elected when round r began. Results without the feature (C-Raft peers) are
//! not counted. Where the voters that echo are no majority (a cluster mixed with C-Raft), a round
//! is instead confirmed by a barrier entry appended when it starts: its commit in this term also
//! proves that no other leader had been elected when the round began. Only then do reads write
//! to the log.
//!
//! Lease (opt-in, `Settings::read_lease`): followers refuse to vote for an election timeout
//! after hearing from their leader (§4.2.3), so once a majority echoed round r, no other
//! leader can exist before round r's start plus an election timeout, less the clock drift the
//! host allows. Within that time the leader answers reads at once. A server that restarts has
//! forgotten the leader it promised, so with leases on it refuses votes for an election timeout
//! after starting. Assumptions, documented in docs/reads.md: bounded clock drift, equal
//! election timeouts, leases on in every server. A transfer ends the lease for the rest of the
//! term, since TimeoutNow lets the target be elected at once.

use std::collections::VecDeque;
use std::sync::Arc;

use super::error::Error;
use super::event::{EntrySource, NewEntries, ReadOutcome, ReadResult};
use super::log::fits_below_max_index;
use super::message::{AppendEntriesResult, Outgoing, ReadIndex, ReadIndexResult, FEATURE_READ};
use super::raft::{Ctx, Raft, Status};
use super::trace::LEVEL_INFO;
use super::types::{Id, Index, Term, Time};
use crate::raft_trace;

/// How many unconfirmed rounds keep their start time (for the lease). Older ones are forgotten,
/// which only ever shortens the lease.
const ROUND_HISTORY: usize = 64;

/// Who asked for a read: this server's host, or a follower on behalf of its host.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    Local(u64),
    Remote { from: Id, address: Arc<str>, id: u64 },
}

/// A read whose index is known, waiting for a round started after that index was taken.
#[derive(Clone, Debug)]
pub(crate) struct PendingRead {
    origin: Origin,
    index: Index,
    round: u64,
}

/// A read this follower forwarded to its leader (`ReadIndex`), waiting for the answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForwardedRead {
    id: u64,
    leader: Id,
    term: Term,
    sent: Time,
}

/// The leader's reads in its term.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Rounds started in this term; the latest is `started`.
    started: u64,
    /// The highest round a majority of voters echoed.
    confirmed: u64,
    /// Start times of the rounds after `confirmed`, oldest first.
    start_times: VecDeque<(u64, Time)>,
    /// Reads asked before this leader committed an entry of its term.
    waiting_for_commit: Vec<Origin>,
    /// Reads with their index, in round order.
    pending: VecDeque<PendingRead>,
    /// Reads are answered at once until then (lease mode only).
    lease_until: Time,
    /// A transfer began in this term: no lease until the term ends.
    lease_forfeited: bool,
    /// Barriers standing in for echoes (index, round), in log order.
    barriers: VecDeque<(Index, u64)>,
}

impl Reads {
    /// A new leader's reads: round 1 starts with its term, so that the first messages carry a
    /// round and followers have echoed by the time reads may take their index.
    pub(crate) fn for_new_term(now: Time) -> Reads {
        Reads { started: 1, start_times: VecDeque::from([(1, now)]), ..Reads::default() }
    }

    /// The round this leader started last.
    pub(crate) fn latest_round(&self) -> u64 {
        self.started
    }
}

/// The full round number of an echo: rounds travel as their low 32 bits, and an echo is never
/// of a round the leader has not started, nor 2^31 rounds behind (anything else is ignored).
fn widen(echo: u32, started: u64) -> Option<u64> {
    let behind = u64::from((started as u32).wrapping_sub(echo));
    (echo != 0 && behind < 1 << 31 && behind < started).then(|| started - behind)
}

/// The low 32 bits of a round, as messages carry it. Round numbers whose low bits are 0 are
/// never started (0 means "no round").
fn narrow(round: u64) -> u32 {
    round as u32
}

impl Raft {
    /// Validates RAFT_READ: a leader that is not handing over answers reads, and a follower
    /// forwards them to a leader known to answer them (its AppendEntries carry read rounds).
    pub(super) fn check_read(&self) -> Result<(), Error> {
        match &self.status {
            Status::Leader(leader) if leader.transfer.is_none() => Ok(()),
            Status::Follower(f) if f.leader.is_some() && f.read_echo != 0 => Ok(()),
            _ => Err(Error::NotLeader),
        }
    }

    /// RAFT_READ.
    pub(super) fn on_read(&mut self, cx: &mut Ctx<'_>, id: u64) {
        raft_trace!(cx.tracer, LEVEL_INFO, "> read {id}");
        if let Status::Follower(f) = &self.status {
            if let Some((leader, address)) = f.leader.clone() {
                self.forward_read(cx, id, leader, address);
            }
            return;
        }
        self.lead_read(cx, Origin::Local(id));
    }

    /// A leader's read, its host's or a follower's.
    fn lead_read(&mut self, cx: &mut Ctx<'_>, origin: Origin) {
        if !self.committed_an_entry_of_its_term() {
            let term = self.term;
            raft_trace!(cx.tracer, LEVEL_INFO, "  waits for an entry of term {term} to commit");
            if let Status::Leader(leader) = &mut self.status {
                leader.reads.waiting_for_commit.push(origin);
            }
            return;
        }
        self.take_read_index(cx, origin);
    }

    /// Gives a read the commit index as its read index, and answers it at once when this
    /// leader is the only voter or holds a lease; otherwise it waits for the next round.
    fn take_read_index(&mut self, cx: &mut Ctx<'_>, origin: Origin) {
        let index = self.commit;
        if self.is_sole_voter() || self.holds_lease(cx.now) {
            self.answer_read(cx, origin, Some(index));
            return;
        }
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let round = leader.reads.started + 1;
        leader.reads.pending.push_back(PendingRead { origin, index, round });
        self.start_wanted_round(cx);
    }

    /// Answers a read: with its index once confirmed, or None when it failed. A follower's read
    /// is answered with ReadIndexResult (index 0: failed).
    fn answer_read(&mut self, cx: &mut Ctx<'_>, origin: Origin, index: Option<Index>) {
        match origin {
            Origin::Local(id) => {
                raft_trace!(cx.tracer, LEVEL_INFO, "  read {id}: {index:?}");
                let outcome = match index {
                    Some(index) => ReadOutcome::Ready { index },
                    None => ReadOutcome::LeadershipLost,
                };
                cx.update.reads.push(ReadResult { id, outcome });
            }
            Origin::Remote { from, address, id } => {
                let index = index.unwrap_or(0);
                raft_trace!(cx.tracer, LEVEL_INFO, "  read {id} of {from}: index {index}");
                let result = ReadIndexResult { term: self.term, id, index };
                cx.send(from, address, Outgoing::ReadIndexResult(result));
            }
        }
    }

    /// Follower: forwards read `id` to its leader.
    fn forward_read(&mut self, cx: &mut Ctx<'_>, id: u64, leader: Id, address: Arc<str>) {
        raft_trace!(cx.tracer, LEVEL_INFO, "  forward read {id} to {leader}");
        let term = self.term;
        self.forwarded_reads.push(ForwardedRead { id, leader, term, sent: cx.now });
        cx.send(leader, address, Outgoing::ReadIndex(ReadIndex { term, id }));
    }

    /// Leader: a follower's read (ReadIndex of our term). Refused (index 0) by a server that
    /// no longer leads or is handing over.
    pub(super) fn on_read_index(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Id,
        address: &str,
        r: ReadIndex,
    ) {
        raft_trace!(cx.tracer, LEVEL_INFO, "> read index {} from {from}", r.id);
        let address = self.reply_address(from, address);
        let origin = Origin::Remote { from, address, id: r.id };
        let leads = matches!(&self.status, Status::Leader(l) if l.transfer.is_none());
        if !leads {
            self.answer_read(cx, origin, None);
            return;
        }
        self.lead_read(cx, origin);
    }

    /// Follower: the leader's answer to a read it forwarded.
    pub(super) fn on_read_index_result(&mut self, cx: &mut Ctx<'_>, from: Id, r: ReadIndexResult) {
        let answered = |f: &ForwardedRead| f.id == r.id && f.leader == from && f.term == r.term;
        let Some(k) = self.forwarded_reads.iter().position(answered) else {
            return;
        };
        self.forwarded_reads.swap_remove(k);
        let outcome = match r.index {
            0 => ReadOutcome::LeadershipLost,
            index => ReadOutcome::Ready { index },
        };
        raft_trace!(cx.tracer, LEVEL_INFO, "> read {} answered by {from}: {outcome:?}", r.id);
        cx.update.reads.push(ReadResult { id: r.id, outcome });
    }

    /// After every step: a forwarded read fails once its leader is no longer ours (another
    /// leader, another term, no longer following), or after an election timeout without an
    /// answer (a lost message), so that the host's client asks again.
    pub(super) fn expire_forwarded_reads(&mut self, cx: &mut Ctx<'_>) {
        if self.forwarded_reads.is_empty() {
            return;
        }
        let leader = match &self.status {
            Status::Follower(f) => f.leader.as_ref().map(|(id, _)| *id),
            _ => None,
        };
        let patience = u64::from(self.settings.election_timeout);
        let (term, now) = (self.term, cx.now);
        let mut k = 0;
        while k < self.forwarded_reads.len() {
            let f = self.forwarded_reads[k];
            let lost = Some(f.leader) != leader || f.term != term;
            if lost || now.saturating_sub(f.sent) >= patience {
                self.forwarded_reads.swap_remove(k);
                raft_trace!(cx.tracer, LEVEL_INFO, "  forwarded read {} fails", f.id);
                let outcome = ReadOutcome::LeadershipLost;
                cx.update.reads.push(ReadResult { id: f.id, outcome });
            } else {
                k += 1;
            }
        }
    }

    /// Whether the lease lets this leader answer reads without a round at `now`.
    fn holds_lease(&self, now: Time) -> bool {
        match &self.status {
            Status::Leader(leader) => {
                self.settings.read_lease
                    && !leader.reads.lease_forfeited
                    && now < leader.reads.lease_until
            }
            _ => false,
        }
    }

    /// Starts a round for the reads that need one, unless one is already out: reads asked
    /// meanwhile share the next round, so a burst of reads costs one round trip or two.
    fn start_wanted_round(&mut self, cx: &mut Ctx<'_>) {
        let Status::Leader(leader) = &self.status else {
            return;
        };
        let r = &leader.reads;
        let wanted = r.pending.back().is_some_and(|p| p.round > r.started);
        if wanted && r.confirmed == r.started {
            self.start_read_round(cx, true);
        }
    }

    /// Starts a new round; with `broadcast`, sends every other voter a message carrying it at
    /// once (otherwise the next messages carry it).
    pub(super) fn start_read_round(&mut self, cx: &mut Ctx<'_>, broadcast: bool) {
        let echoes_can_confirm = self.echoes_can_confirm();
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let r = &mut leader.reads;
        r.started += 1;
        if narrow(r.started) == 0 {
            r.started += 1;
        }
        if r.start_times.len() == ROUND_HISTORY {
            r.start_times.pop_front();
        }
        r.start_times.push_back((r.started, cx.now));
        let round = r.started;
        if !echoes_can_confirm {
            // Only reads asked since the last barrier need a new one.
            let covered = r.barriers.back().map_or(0, |&(_, round)| round);
            if r.pending.back().is_some_and(|p| p.round > covered) {
                self.append_read_barrier(cx, round);
            }
            return;
        }
        if !broadcast {
            return;
        }
        raft_trace!(cx.tracer, LEVEL_INFO, "  read round {round}");
        let n = leader.progress.len();
        for i in 0..n {
            let voter = match &self.status {
                Status::Leader(l) => self.membership.current.is_voter(l.progress[i].id),
                _ => false,
            };
            if voter && self.replicates_to(i) {
                self.send_append_entries(cx, i);
            }
        }
    }

    /// Confirms round `round` by a barrier instead of echoes: a leader whose entry of this term
    /// commits was leader when it appended it. Skipped when this step already hands out entries
    /// (an update has one batch); the next heartbeat's round tries again.
    fn append_read_barrier(&mut self, cx: &mut Ctx<'_>, round: u64) {
        let index = self.log.last_index() + 1;
        if cx.update.entries.is_some() || !fits_below_max_index(index, 1) {
            return;
        }
        raft_trace!(cx.tracer, LEVEL_INFO, "  read round {round}: barrier at {index}");
        self.log.append(self.term, 1);
        let source = EntrySource::Barrier { term: self.term };
        cx.update.entries = Some(NewEntries { index, source });
        if let Status::Leader(leader) = &mut self.status {
            leader.reads.barriers.push_back((index, round));
        }
        self.replicate_to_all(cx, false);
    }

    /// The round an AppendEntries to a follower carries.
    pub(super) fn current_read_round(&self) -> u32 {
        match &self.status {
            Status::Leader(leader) => narrow(leader.reads.started),
            _ => 0,
        }
    }

    /// Follower: remembers the round of an AppendEntries from its leader of this term.
    pub(super) fn note_read_round(&mut self, from: Id, round: u32) {
        if let Status::Follower(f) = &mut self.status {
            if f.leader.as_ref().is_some_and(|(id, _)| *id == from) && round != 0 {
                f.read_echo = round;
            }
        }
    }

    /// What our results to `to` echo: the last round received from it as our leader.
    pub(super) fn read_echo_for(&self, to: Id) -> u32 {
        match &self.status {
            Status::Follower(f) if f.leader.as_ref().is_some_and(|(id, _)| *id == to) => {
                f.read_echo
            }
            _ => 0,
        }
    }

    /// Leader: what a result of this term from `from` says about reads, noted before its
    /// acknowledgement is handled (which may commit and start a round, depending on who
    /// echoes). The follower echoes when it sets the feature bit and echoes a round this leader
    /// started: a host that carries the bit but not the echo (its own codec or `raft_io`) is
    /// not counted on, and reads go through barriers rather than wait for echoes that never
    /// come. Returns whether its echo moved on, so that [`Raft::confirm_reads`] should run
    /// once the result is handled.
    pub(super) fn note_read_echo(&mut self, from: Id, r: &AppendEntriesResult, echo: u32) -> bool {
        if r.term != self.term {
            return false;
        }
        let Status::Leader(leader) = &mut self.status else {
            return false;
        };
        let Some(p) = leader.progress.iter_mut().find(|p| p.id == from) else {
            return false;
        };
        let round = widen(echo, leader.reads.started).filter(|_| r.features & FEATURE_READ != 0);
        p.echoes_reads = round.is_some();
        match round {
            Some(round) if round > p.read_echo => {
                p.read_echo = round;
                true
            }
            _ => false,
        }
    }

    /// Confirms the rounds a majority of voters echoed: their reads are ready, the lease is
    /// extended from the start of the latest, and the next round starts if reads wait for it.
    pub(super) fn confirm_reads(&mut self, cx: &mut Ctx<'_>) {
        let round = self.quorum_read_round();
        self.confirm_round(cx, round);
    }

    /// Rounds up to `round` are confirmed.
    fn confirm_round(&mut self, cx: &mut Ctx<'_>, round: u64) {
        let lease =
            u64::from(self.settings.election_timeout.saturating_sub(self.settings.max_clock_drift));
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let r = &mut leader.reads;
        if round <= r.confirmed {
            return;
        }
        r.confirmed = round;
        let mut start = None;
        while let Some(&(n, time)) = r.start_times.front() {
            if n > round {
                break;
            }
            start = Some(time);
            r.start_times.pop_front();
        }
        if let Some(start) = start {
            r.lease_until = r.lease_until.max(start.saturating_add(lease));
        }
        let mut confirmed = Vec::new();
        while r.pending.front().is_some_and(|read| read.round <= round) {
            confirmed.extend(r.pending.pop_front());
        }
        for read in confirmed {
            self.answer_read(cx, read.origin, Some(read.index));
        }
        self.start_wanted_round(cx);
    }

    /// Leader: the commit index moved. Reads that waited for an entry of this term take their
    /// index now.
    pub(super) fn on_commit_for_reads(&mut self, cx: &mut Ctx<'_>) {
        if !self.committed_an_entry_of_its_term() {
            return;
        }
        let mut by_barrier = 0;
        if let Status::Leader(leader) = &mut self.status {
            while let Some(&(index, round)) = leader.reads.barriers.front() {
                if index > self.commit {
                    break;
                }
                by_barrier = round;
                leader.reads.barriers.pop_front();
            }
        }
        if by_barrier > 0 {
            self.confirm_round(cx, by_barrier);
        }
        let waiting = match &mut self.status {
            Status::Leader(leader) if !leader.reads.waiting_for_commit.is_empty() => {
                std::mem::take(&mut leader.reads.waiting_for_commit)
            }
            _ => return,
        };
        for origin in waiting {
            self.take_read_index(cx, origin);
        }
    }

    /// Leader: a heartbeat interval passed. A new round keeps the lease fresh and restarts
    /// reads whose round was lost.
    pub(super) fn read_heartbeat(&mut self, cx: &mut Ctx<'_>) {
        let Status::Leader(leader) = &self.status else {
            return;
        };
        let r = &leader.reads;
        let reads_stuck = r.pending.back().is_some_and(|p| p.round > r.started);
        if self.settings.read_lease || reads_stuck || !r.pending.is_empty() {
            self.start_read_round(cx, false);
        }
    }

    /// A server that restarts forgets the leader it heard from, whose lease may still run on
    /// its promise not to vote for another for an election timeout. With leases on, it keeps
    /// that promise blindly for one election timeout after starting.
    pub(super) fn guard_leases_after_start(&mut self, now: Time) {
        if self.settings.read_lease {
            self.vote_guard_until = now.saturating_add(u64::from(self.settings.election_timeout));
        }
    }

    /// Whether this server still refuses votes at `now` to guard a lease it may have
    /// forgotten.
    pub(super) fn guards_a_forgotten_lease(&self, now: Time) -> bool {
        self.settings.read_lease && now < self.vote_guard_until
    }

    /// Leader handing over: the target may be elected at once, so the lease ends now.
    pub(super) fn forfeit_lease(&mut self) {
        if let Status::Leader(leader) = &mut self.status {
            leader.reads.lease_forfeited = true;
            leader.reads.lease_until = 0;
        }
    }

    /// Leaving the lead: every read not yet confirmed fails.
    pub(super) fn fail_reads(&mut self, cx: &mut Ctx<'_>) {
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let r = std::mem::take(&mut leader.reads);
        let pending = r.pending.into_iter().map(|p| p.origin);
        for origin in r.waiting_for_commit.into_iter().chain(pending) {
            self.answer_read(cx, origin, None);
        }
    }

    /// How many reads this leader holds, waiting for a commit or a round.
    pub fn pending_reads(&self) -> usize {
        match &self.status {
            Status::Leader(l) => l.reads.waiting_for_commit.len() + l.reads.pending.len(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::widen;

    #[test]
    fn echoes_widen_to_rounds_started_within_2_pow_31() {
        assert_eq!(widen(5, 7), Some(5));
        assert_eq!(widen(7, 7), Some(7));
        assert_eq!(widen(8, 7), None, "a round not started yet");
        assert_eq!(widen(0, 7), None);
        let started = (1u64 << 32) + 3;
        assert_eq!(widen(u32::MAX, started), Some((1 << 32) - 1), "across the wrap");
        assert_eq!(widen(3, started), Some(started));
    }
}

/// The rules of reads, as dissertation §6.4 states them.
#[cfg(test)]
mod rules {
    use crate::core::error::Error;
    use crate::core::event::{Event, ReadOutcome, ReadResult};
    use crate::core::message::{
        AppendEntriesResult, Incoming, Outgoing, FEATURES, FEATURE_CAPACITY,
    };
    use crate::core::raft::Raft;
    use crate::core::testing::*;
    use crate::core::types::{State, Time};

    fn ready(id: u64, index: u64) -> ReadResult {
        ReadResult { id, outcome: ReadOutcome::Ready { index } }
    }

    fn read(r: &mut Raft, now: Time, id: u64) -> Out {
        step(r, now, Event::Read { id }).unwrap()
    }

    /// A success from `from` that echoes round `echo`, as a libraft-rs follower sends it.
    fn echo(r: &mut Raft, now: Time, from: u64, echo: u32) -> Out {
        let result = AppendEntriesResult {
            term: r.current_term(),
            rejected: 0,
            last_log_index: r.last_index(),
            features: FEATURES,
            capacity: 100,
        };
        receive_with_context(r, now, from, Incoming::AppendEntriesResult(result), echo).unwrap()
    }

    /// The read round each message of `out` to `to` carries.
    fn rounds_to(out: &Out, to: u64) -> Vec<u32> {
        out.messages.iter().filter(|m| m.to == to).map(|m| m.read_context).collect()
    }

    #[test]
    fn a_read_is_ready_once_a_majority_echoes_a_round_started_after_it() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let out = read(&mut r, now, 7);
        assert!(out.reads.is_empty(), "not before a round");
        assert_eq!(rounds_to(&out, 2), [2], "round 2 goes out at once (1 began with the term)");
        assert_eq!(rounds_to(&out, 3), [2]);
        assert!(echo(&mut r, now, 3, 1).reads.is_empty(), "round 1 began before the read");
        assert_eq!(echo(&mut r, now, 3, 2).reads, [ready(7, 2)], "self and 3 are a majority");
        assert_eq!(r.pending_reads(), 0);
    }

    #[test]
    fn an_echo_of_a_round_started_before_the_read_does_not_confirm_it() {
        let (mut r, now) = leader(&[1, 2, 3]);
        read(&mut r, now, 1);
        let out = read(&mut r, now, 2);
        assert!(out.messages.is_empty(), "round 2 is out: read 2 waits for the next one");
        let out = echo(&mut r, now, 2, 2);
        assert_eq!(out.reads, [ready(1, 2)], "round 2 confirms read 1 only");
        assert_eq!(rounds_to(&out, 2), [3], "and round 3 starts for read 2");
        assert!(echo(&mut r, now, 3, 2).reads.is_empty());
        assert_eq!(echo(&mut r, now, 3, 3).reads, [ready(2, 2)]);
    }

    #[test]
    fn many_reads_share_one_round() {
        let (mut r, now) = leader(&[1, 2, 3]);
        read(&mut r, now, 1);
        for id in 2..10 {
            read(&mut r, now, id);
        }
        echo(&mut r, now, 2, 2);
        let out = echo(&mut r, now, 2, 3);
        assert_eq!(out.reads.len(), 8, "reads 2..9 all confirmed by round 3");
    }

    /// A result as C-Raft sends it: no read feature, whatever bytes 28..31 hold.
    fn craft_result(r: &Raft) -> Incoming<'static> {
        craft_ack(r.current_term(), r.last_index())
    }

    fn craft_ack(term: u64, last: u64) -> Incoming<'static> {
        Incoming::AppendEntriesResult(AppendEntriesResult {
            term,
            rejected: 0,
            last_log_index: last,
            features: FEATURE_CAPACITY,
            capacity: 100,
        })
    }

    #[test]
    fn echoes_without_the_read_feature_do_not_count() {
        let (mut r, now) = leader(&[1, 2, 3, 4, 5]);
        read(&mut r, now, 1);
        echo(&mut r, now, 2, 2);
        let c_raft = craft_result(&r);
        let out = receive_with_context(&mut r, now, 3, c_raft, 2).unwrap();
        assert!(out.reads.is_empty(), "a C-Raft follower never echoes: its bytes mean nothing");
        assert_eq!(echo(&mut r, now, 4, 2).reads, [ready(1, 2)]);
    }

    /// In a cluster whose echoing voters are no majority (mixed with C-Raft), a round is
    /// confirmed by committing a barrier appended when it starts.
    #[test]
    fn without_a_majority_that_echoes_a_barrier_confirms_the_round() {
        let (mut r, now) = leader(&[1, 2, 3]);
        for id in [2, 3] {
            let c_raft = craft_result(&r);
            receive(&mut r, now, id, c_raft).unwrap();
        }
        let before = r.last_index();
        let out = read(&mut r, now, 1);
        let barrier = out.entries.expect("a barrier");
        assert_eq!(barrier.index, before + 1);
        assert!(out.reads.is_empty());
        read(&mut r, now, 2);
        assert_eq!(r.last_index(), before + 1, "read 2 waits for the next round");
        step(&mut r, now, Event::PersistedEntries { index: before + 1 }).unwrap();
        let out = receive(&mut r, now, 2, craft_ack(2, before + 1)).unwrap();
        assert_eq!(out.reads, [ready(1, before)], "the read index is the commit at the read");
        assert_eq!(out.entries.map(|e| e.index), Some(before + 2), "round 2's barrier");
    }

    /// A host that carries the feature bit but not the echo (its own codec) is not counted on:
    /// reads go through barriers instead of waiting for echoes that never come.
    #[test]
    fn followers_that_set_the_feature_but_never_echo_get_barriers() {
        let (mut r, now) = leader(&[1, 2, 3]);
        for id in [2, 3] {
            let last = r.last_index();
            receive(&mut r, now, id, append_result(2, 0, last)).unwrap();
        }
        assert!(read(&mut r, now, 1).entries.is_some(), "a barrier");
    }

    #[test]
    fn echoes_of_rounds_never_started_do_not_count() {
        let (mut r, now) = leader(&[1, 2, 3]);
        read(&mut r, now, 1);
        assert!(echo(&mut r, now, 2, 3).reads.is_empty());
        assert!(echo(&mut r, now, 2, u32::MAX).reads.is_empty());
    }

    #[test]
    fn only_a_leader_that_is_not_handing_over_answers_reads() {
        let mut r = follower(&[]);
        assert_eq!(step(&mut r, 20, Event::Read { id: 1 }).unwrap_err(), Error::NotLeader);
        let (mut r, now) = leader(&[1, 2, 3]);
        step(&mut r, now, Event::Transfer { server_id: 2 }).unwrap();
        assert_eq!(step(&mut r, now, Event::Read { id: 1 }).unwrap_err(), Error::NotLeader);
    }

    /// §6.4 step 1: a new leader's commit index may lag what earlier leaders committed until an
    /// entry of its own term commits.
    #[test]
    fn a_new_leader_takes_read_indexes_only_after_committing_an_entry_of_its_term() {
        let mut r = started(1, &[1, 2, 3]);
        let now = r.timeout();
        step(&mut r, now, Event::Timeout).unwrap();
        receive(&mut r, now, 2, vote_granted(2)).unwrap();
        assert_eq!(r.state(), State::Leader);
        let out = read(&mut r, now, 5);
        assert!(out.reads.is_empty() && out.messages.is_empty(), "waits for the barrier");
        step(&mut r, now, Event::PersistedEntries { index: 2 }).unwrap();
        let out = receive_with_context(&mut r, now, 3, append_result(2, 0, 2), 1).unwrap();
        assert_eq!(r.commit_index(), 2);
        let round = rounds_to(&out, 2).last().copied().unwrap();
        assert_eq!(echo(&mut r, now, 2, round).reads, [ready(5, 2)], "read index 2");
    }

    #[test]
    fn a_sole_voter_answers_reads_at_once() {
        let (mut r, now) = leader(&[1]);
        assert_eq!(read(&mut r, now, 3).reads, [ready(3, r.commit_index())]);
    }

    #[test]
    fn a_deposed_leader_fails_its_pending_reads() {
        let (mut r, now) = leader(&[1, 2, 3]);
        read(&mut r, now, 1);
        read(&mut r, now, 2);
        let out = receive(&mut r, now, 2, ae(3, 2, 2, 2, &[])).unwrap();
        assert_eq!(r.state(), State::Follower);
        let lost = ReadOutcome::LeadershipLost;
        assert_eq!(
            out.reads,
            [ReadResult { id: 1, outcome: lost }, ReadResult { id: 2, outcome: lost }]
        );
        assert_eq!(r.pending_reads(), 0);
    }

    #[test]
    fn a_follower_echoes_the_last_round_of_its_leader() {
        let mut r = follower(&[]);
        let out = receive_with_context(&mut r, 20, 1, ae(2, 1, 1, 1, &[]), 9).unwrap();
        let m = &out.messages[0];
        assert!(matches!(m.body, Outgoing::AppendEntriesResult(res) if res.features & 2 != 0));
        assert_eq!(m.read_context, 9);
        let out = receive(&mut r, 30, 1, ae(2, 1, 1, 1, &[])).unwrap();
        assert_eq!(out.messages[0].read_context, 9, "a message without a round keeps the echo");
    }

    /// Lease: with a majority's echo of a round started at `t`, no other leader can be elected
    /// before `t` + election timeout (followers refuse votes that long, §4.2.3), less the drift.
    #[test]
    fn a_lease_answers_reads_at_once_until_it_runs_out() {
        let (mut r, now) = leader(&[1, 2, 3]);
        r.set_read_lease(true, 100);
        let t = r.timeout();
        let out = step(&mut r, t, Event::Timeout).unwrap();
        let round = rounds_to(&out, 2)[0];
        echo(&mut r, t + 5, 2, round);
        let out = read(&mut r, t + 10, 1);
        assert_eq!(out.reads, [ready(1, 2)], "no round needed");
        assert!(out.messages.is_empty());
        let expired = t + 1000 - 100;
        let out = read(&mut r, expired, 2);
        assert!(out.reads.is_empty(), "the lease ended: a round is needed");
        assert!(now < t);
    }

    #[test]
    fn a_transfer_ends_the_lease_for_the_rest_of_the_term() {
        let (mut r, _) = leader(&[1, 2, 3]);
        r.set_read_lease(true, 100);
        let t = r.timeout();
        let out = step(&mut r, t, Event::Timeout).unwrap();
        echo(&mut r, t, 2, rounds_to(&out, 2)[0]);
        step(&mut r, t + 1, Event::Transfer { server_id: 3 }).unwrap();
        let abandoned = t + 1 + 1000;
        let out = step(&mut r, abandoned, Event::Timeout).unwrap();
        assert_eq!(r.state(), State::Leader, "the transfer was abandoned");
        echo(&mut r, abandoned, 2, rounds_to(&out, 2)[0]);
        assert!(read(&mut r, abandoned + 1, 1).reads.is_empty(), "no lease after a transfer");
    }
}

#[cfg(test)]
mod restart {
    use crate::core::event::Event;
    use crate::core::message::{Incoming, Outgoing, RequestVote};
    use crate::core::raft::Raft;
    use crate::core::testing::*;

    fn vote_request(term: u64) -> Incoming<'static> {
        Incoming::RequestVote(RequestVote {
            term,
            candidate_id: 3,
            last_log_index: 9,
            last_log_term: 1,
            disrupt_leader: false,
            pre_vote: false,
        })
    }

    /// Whether a vote for the next term is granted, in that term (never in ours).
    fn granted(r: &mut Raft, now: u64) -> bool {
        let term = r.current_term() + 1;
        let out = receive(r, now, 3, vote_request(term)).unwrap();
        let Outgoing::RequestVoteResult(v) = out.messages[0].body else { panic!("no answer") };
        assert_eq!(v.vote_granted, r.voted_for() == 3);
        assert!(!v.vote_granted || (v.term == term && r.current_term() == term));
        v.vote_granted
    }

    fn restarted(lease: bool, at: u64) -> Raft {
        let payload = encode(&conf(&[1, 2, 3]));
        let entries = [crate::core::message::EntryView {
            term: 1,
            kind: crate::core::types::EntryType::Change,
            payload: &payload,
        }];
        let mut r = Raft::new(2, &address(2), &TEST_FORMAT);
        r.set_read_lease(lease, 100);
        let start = Event::Start {
            term: 1,
            voted_for: 0,
            snapshot: None,
            start_index: 1,
            entries: &entries,
        };
        step(&mut r, at, start).unwrap();
        r
    }

    /// A restarted server forgot the leader whose lease it helped grant: with leases on, it
    /// votes for nobody during an election timeout after starting.
    #[test]
    fn with_leases_a_restarted_server_votes_only_after_an_election_timeout() {
        let mut r = restarted(true, 5000);
        assert!(!granted(&mut r, 5000 + 999));
        assert!(granted(&mut r, 5000 + 1000));
        let mut r = restarted(false, 5000);
        assert!(granted(&mut r, 5000), "without leases, at once (as C-Raft)");
    }
}
