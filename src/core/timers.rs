//! RAFT_TIMEOUT, dispatched per state from here, and the timers behind it: the election timer
//! of followers and candidates (randomized in [T, 2T], Raft §5.2) and the deadlines a leader
//! keeps (heartbeats, check-quorum). What each state does when its time comes lives with that
//! state's rules (`election.rs`, `leader.rs`).

use super::raft::{Ctx, Raft, Status};
use super::random;
use super::trace::LEVEL_INFO;
use super::types::Time;
use crate::raft_trace;

impl Raft {
    /// RAFT_TIMEOUT: a leader always has work on its timer; a follower or candidate acts only
    /// once its election timer expired.
    pub(super) fn on_timeout(&mut self, cx: &mut Ctx<'_>) {
        raft_trace!(cx.tracer, LEVEL_INFO, "> timeout in term {} as {:?}", self.term, self.state());
        let expired = self.election_timer_expired(cx.now);
        match &self.status {
            Status::Leader(_) => self.leader_timeout(cx),
            Status::Candidate(c) if expired => {
                let pre_vote = c.pre_vote;
                self.candidate_timeout(cx, pre_vote);
            }
            Status::Follower(_) if expired => self.follower_timeout(cx),
            Status::Candidate(_) | Status::Follower(_) => {}
        }
    }

    /// Absolute time of the next RAFT_TIMEOUT (docs/contract.md#accessors), 0 before `Start` (nothing is due).
    /// Deadlines saturate at the end of time rather than wrap: a host whose clock is near 2^64
    /// must not see a deadline in the past and fire at once.
    pub fn timeout(&self) -> Time {
        if !self.started {
            return 0;
        }
        match &self.status {
            Status::Leader(leader) => {
                let quorum =
                    leader.quorum_start.saturating_add(u64::from(self.settings.election_timeout));
                let heartbeat = u64::from(self.settings.heartbeat_timeout);
                leader
                    .progress
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| self.replicates_to(*i))
                    .filter_map(|(_, p)| p.last_send)
                    .map(|t| t.saturating_add(heartbeat))
                    .fold(quorum, Time::min)
            }
            _ => self.election_deadline(),
        }
    }

    pub(crate) fn draw_timer_length(&mut self) {
        let t = self.settings.election_timeout;
        self.timer_length = random::random(&mut self.random, t, t.saturating_mul(2));
    }

    /// Restarts the election timer; `redraw` picks a new randomized length.
    pub(crate) fn restart_election_timer(&mut self, cx: &mut Ctx<'_>, redraw: bool) {
        if redraw {
            self.draw_timer_length();
        }
        self.timer_start = cx.now;
        cx.update.timeout_changed = true;
    }

    fn election_deadline(&self) -> Time {
        self.timer_start.saturating_add(u64::from(self.timer_length))
    }

    pub(crate) fn election_timer_expired(&self, now: Time) -> bool {
        now >= self.election_deadline()
    }
}
