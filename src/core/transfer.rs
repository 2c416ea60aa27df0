//! Leadership transfer: the leader brings a chosen voter up to date, then tells it to stand at
//! once with TimeoutNow; the transfer is abandoned after an election timeout.

use super::error::Error;
use super::message::{Outgoing, TimeoutNow};
use super::raft::{Ctx, Raft, Status, Transfer};
use super::trace::LEVEL_INFO;
use super::types::Id;
use crate::raft_trace;

impl Raft {
    /// Validates RAFT_TRANSFER and returns the target (choosing one for `server_id` 0).
    pub(super) fn check_transfer(&self, server_id: Id) -> Result<Id, Error> {
        let Status::Leader(leader) = &self.status else {
            return Err(Error::NotLeader);
        };
        if leader.transfer.is_some() {
            return Err(Error::NotLeader);
        }
        if server_id == 0 {
            return self.choose_transferee();
        }
        let voter = self.membership.current.is_voter(server_id);
        if server_id == self.id || !voter {
            return Err(Error::BadId(format!("server {server_id} is not another voter")));
        }
        Ok(server_id)
    }

    /// The first other voter whose log matches ours, or else the last other voter.
    fn choose_transferee(&self) -> Result<Id, Error> {
        let Status::Leader(leader) = &self.status else {
            return Err(Error::NotLeader);
        };
        let last = self.log.last_index();
        let mut fallback = None;
        for server in self.membership.current.voters().filter(|s| s.id != self.id) {
            let matched = leader.progress.iter().find(|p| p.id == server.id).map(|p| p.matched);
            if matched == Some(last) {
                return Ok(server.id);
            }
            fallback = Some(server.id);
        }
        fallback.ok_or_else(|| Error::NotFound("there's no other voting server".into()))
    }

    pub(super) fn on_transfer(&mut self, cx: &mut Ctx<'_>, target: Id) {
        raft_trace!(cx.tracer, LEVEL_INFO, "> transfer leadership to {target}");
        let now = cx.now;
        let Some(i) = self.progress_position(target) else {
            return;
        };
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        leader.transfer = Some(Transfer { target, start: now });
        leader.progress[i].timeout_now_sent = false;
        self.forfeit_lease();
        self.maybe_send_timeout_now(cx, i);
    }

    /// Sends TimeoutNow to the transfer target once its log matches ours.
    pub(super) fn maybe_send_timeout_now(&mut self, cx: &mut Ctx<'_>, i: usize) {
        let (term, last, last_term) = (self.term, self.log.last_index(), self.log.last_term());
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let Some(transfer) = &leader.transfer else {
            return;
        };
        let p = &mut leader.progress[i];
        if p.id != transfer.target || p.matched != last || p.timeout_now_sent {
            return;
        }
        p.timeout_now_sent = true;
        raft_trace!(cx.tracer, LEVEL_INFO, "  {} is up to date: send timeout now", p.id);
        let body = Outgoing::TimeoutNow(TimeoutNow {
            term,
            last_log_index: last,
            last_log_term: last_term,
        });
        cx.send(p.id, p.address.clone(), body);
    }

    /// On a leader's timeout: gives up a transfer that did not complete in an election timeout.
    pub(super) fn abandon_stale_transfer(&mut self, cx: &mut Ctx<'_>) {
        let election_timeout = u64::from(self.settings.election_timeout);
        let now = cx.now;
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        if leader.transfer.as_ref().is_some_and(|t| now.saturating_sub(t.start) >= election_timeout)
        {
            raft_trace!(cx.tracer, LEVEL_INFO, "  leadership transfer abandoned");
            leader.transfer = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::Error;
    use crate::core::event::Event;
    use crate::core::message::{Incoming, Outgoing, TimeoutNow};
    use crate::core::testing::*;
    use crate::core::types::State;

    #[test]
    fn transfer_to_up_to_date_voter_sends_timeout_now() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let out = step(&mut r, now, Event::Transfer { server_id: 0 }).unwrap();
        assert_eq!(r.transferee(), 3, "3 has the whole log");
        assert_eq!(r.leader(), None);
        assert!(
            matches!(out.to(3)[0], Outgoing::TimeoutNow(t) if t.term == 2 && t.last_log_index == 2)
        );
        let entries = [entry(2)];
        assert_eq!(
            step(&mut r, now, Event::Submit { entries: &entries }).unwrap_err(),
            Error::NotLeader
        );
        assert_eq!(
            step(&mut r, now, Event::Transfer { server_id: 2 }).unwrap_err(),
            Error::NotLeader
        );
    }

    #[test]
    fn transfer_waits_for_target_to_catch_up_then_gives_up() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let out = step(&mut r, now, Event::Transfer { server_id: 2 }).unwrap();
        assert!(out.messages.is_empty());
        let out = receive(&mut r, now, 2, append_result(2, 0, 2)).unwrap();
        assert!(matches!(out.to(2)[0], Outgoing::TimeoutNow(_)));
        let mut t = now;
        while r.transferee() != 0 {
            t = r.timeout();
            step(&mut r, t, Event::Timeout).unwrap();
            receive(&mut r, t, 3, append_result(2, 0, 1)).unwrap();
        }
        assert!(t >= now + 1000);
        assert_eq!(r.state(), State::Leader);
    }

    #[test]
    fn transfer_target_must_be_another_voter() {
        let (mut r, now) = leader(&[1, 2, 3]);
        assert!(matches!(
            step(&mut r, now, Event::Transfer { server_id: 1 }),
            Err(Error::BadId(_))
        ));
        assert!(matches!(
            step(&mut r, now, Event::Transfer { server_id: 9 }),
            Err(Error::BadId(_))
        ));
        let (mut alone, now) = leader(&[1]);
        assert!(matches!(
            step(&mut alone, now, Event::Transfer { server_id: 0 }),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn timeout_now_starts_disruptive_election() {
        let mut r = follower(&[entry(2)]);
        let t = TimeoutNow { term: 2, last_log_index: 2, last_log_term: 2 };
        let out = receive(&mut r, 30, 1, Incoming::TimeoutNow(t)).unwrap();
        assert_eq!(r.state(), State::Candidate);
        assert_eq!(r.current_term(), 3);
        assert!(matches!(out.to(3)[0], Outgoing::RequestVote(rv) if rv.disrupt_leader));
    }

    #[test]
    fn timeout_now_from_lagging_leader_is_ignored() {
        let mut r = follower(&[entry(2)]);
        let t = TimeoutNow { term: 2, last_log_index: 5, last_log_term: 2 };
        receive(&mut r, 30, 1, Incoming::TimeoutNow(t)).unwrap();
        assert_eq!(r.state(), State::Follower);
    }
}
