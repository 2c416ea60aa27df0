//! Catch-up (dissertation §4.2.1): before a server is promoted to voter, the leader brings its
//! log up to date in rounds, each towards the leader's last index when the round began. A
//! round that ends within an election timeout means the server keeps pace, and the catch-up
//! finishes; too many rounds, or one round too long, abort it.

use super::error::Error;
use super::progress::CatchUp;
use super::raft::{Ctx, Raft, Status};
use super::trace::LEVEL_INFO;
use super::types::{CatchUpStatus, Id, Role};
use crate::raft_trace;

impl Raft {
    /// Validates RAFT_CATCH_UP.
    pub(super) fn check_catch_up(&self, server_id: Id) -> Result<(), Error> {
        let Status::Leader(leader) = &self.status else {
            return Err(Error::NotLeader);
        };
        match self.membership.current.role_of(server_id) {
            None => {
                return Err(Error::BadId(format!("server {server_id} is not in the configuration")))
            }
            Some(Role::Voter) => {
                return Err(Error::BadId(format!("server {server_id} is already a voter")));
            }
            Some(_) => {}
        }
        if server_id == self.id {
            return Err(Error::BadId("cannot catch up with itself".into()));
        }
        let progress = leader.progress.iter().find(|p| p.id == server_id);
        if progress.is_some_and(|p| p.catch_up.status == CatchUpStatus::Running) {
            return Err(Error::Invalid(format!("server {server_id} is already catching up")));
        }
        Ok(())
    }

    /// RAFT_CATCH_UP: starts round 1 towards our last index.
    pub(super) fn on_catch_up(&mut self, cx: &mut Ctx<'_>, server_id: Id) {
        let last = self.log.last_index();
        let now = cx.now;
        let Some(i) = self.progress_position(server_id) else {
            return;
        };
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        p.catch_up =
            CatchUp { status: CatchUpStatus::Running, round: 1, target: last, round_start: now };
        raft_trace!(cx.tracer, LEVEL_INFO, "  catch-up of {server_id} starts, target {last}");
        if p.matched == last {
            // Already up to date: nothing will move its match index, so finish now (C-Raft would wait for the round to time out).
            p.catch_up.status = CatchUpStatus::Finished;
            raft_trace!(cx.tracer, LEVEL_INFO, "  catch-up of {server_id} finished at once");
        }
        self.send_append_entries(cx, i);
    }

    /// After an acknowledgement: ends the catch-up round if the server reached its target.
    pub(super) fn advance_catch_up(&mut self, cx: &mut Ctx<'_>, i: usize) {
        let last = self.log.last_index();
        let election_timeout = u64::from(self.settings.election_timeout);
        let now = cx.now;
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        let c = &mut p.catch_up;
        if c.status != CatchUpStatus::Running || p.matched < c.target {
            return;
        }
        if p.matched >= last || now - c.round_start < election_timeout {
            c.status = CatchUpStatus::Finished;
            raft_trace!(
                cx.tracer,
                LEVEL_INFO,
                "  catch-up of {} finished in round {}",
                p.id,
                c.round
            );
        } else {
            c.round += 1;
            c.target = last;
            c.round_start = now;
            raft_trace!(
                cx.tracer,
                LEVEL_INFO,
                "  catch-up of {} round {} to {last}",
                p.id,
                c.round
            );
        }
    }

    /// On a leader's timeout: aborts catch-ups that are too slow (`>=` on rounds, where C-Raft tests `==`).
    pub(super) fn abort_slow_catch_ups(&mut self, cx: &mut Ctx<'_>) {
        let s = &self.settings;
        let (election_timeout, max_rounds, max_duration) = (
            u64::from(s.election_timeout),
            s.max_catch_up_rounds,
            u64::from(s.max_catch_up_round_duration),
        );
        let now = cx.now;
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        for p in leader.progress.iter_mut() {
            let c = &mut p.catch_up;
            if c.status != CatchUpStatus::Running {
                continue;
            }
            let elapsed = now - c.round_start;
            let too_many_rounds = c.round >= max_rounds && elapsed > election_timeout;
            if too_many_rounds || elapsed > max_duration {
                c.status = CatchUpStatus::Aborted;
                raft_trace!(cx.tracer, LEVEL_INFO, "  catch-up of {} aborted", p.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::configuration::Configuration;
    use crate::core::error::Error;
    use crate::core::event::Event;
    use crate::core::message::EntryView;
    use crate::core::testing::{self, append_result, encode, leader, receive, step};
    use crate::core::types::{CatchUpStatus, EntryType, Role};

    fn with(base: &[u64], extra: u64, role: Role) -> Configuration {
        let mut c = testing::conf(base);
        c.add(extra, &testing::address(extra), role).unwrap();
        c
    }

    #[test]
    fn catch_up_finishes_at_once_for_up_to_date_server() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let c = with(&[1, 2, 3], 4, Role::Spare);
        let payload = encode(&c);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
        step(&mut r, now, Event::Configuration { index: 3 }).unwrap();
        assert_eq!(r.catch_up(4), Ok(CatchUpStatus::None));
        receive(&mut r, now, 4, append_result(2, 0, 3)).unwrap();
        step(&mut r, now, Event::CatchUp { server_id: 4 }).unwrap();
        assert_eq!(r.catch_up(4), Ok(CatchUpStatus::Finished), "up to date: finished at once");
    }

    #[test]
    fn catch_up_rounds_finish_when_target_reached() {
        let (mut r, now) = leader(&[1, 2, 3]);
        let c = with(&[1, 2, 3], 4, Role::Standby);
        let payload = encode(&c);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
        step(&mut r, now, Event::Configuration { index: 3 }).unwrap();
        step(&mut r, now, Event::CatchUp { server_id: 4 }).unwrap();
        assert_eq!(r.catch_up(4), Ok(CatchUpStatus::Running));
        let err = step(&mut r, now, Event::CatchUp { server_id: 4 }).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "twice");
        assert!(matches!(step(&mut r, now, Event::CatchUp { server_id: 2 }), Err(Error::BadId(_))));
        assert!(matches!(step(&mut r, now, Event::CatchUp { server_id: 9 }), Err(Error::BadId(_))));
        let entries = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        assert_eq!(
            step(&mut r, now, Event::Submit { entries: &entries }).unwrap_err(),
            Error::CantChange
        );
        receive(&mut r, now + 10, 4, append_result(2, 0, 3)).unwrap();
        assert_eq!(r.catch_up(4), Ok(CatchUpStatus::Finished));
    }

    #[test]
    fn slow_catch_up_is_aborted() {
        let (mut r, now) = leader(&[1, 2, 3]);
        r.set_max_catch_up_round_duration(500);
        let c = with(&[1, 2, 3], 4, Role::Standby);
        let payload = encode(&c);
        let change = [EntryView { term: 2, kind: EntryType::Change, payload: &payload }];
        step(&mut r, now, Event::Submit { entries: &change }).unwrap();
        step(&mut r, now, Event::CatchUp { server_id: 4 }).unwrap();
        let mut t = now;
        while r.catch_up(4) == Ok(CatchUpStatus::Running) {
            t = r.timeout();
            step(&mut r, t, Event::Timeout).unwrap();
            receive(&mut r, t, 2, append_result(2, 0, 1)).unwrap();
        }
        assert_eq!(r.catch_up(4), Ok(CatchUpStatus::Aborted));
        assert!(t > now + 500);
        assert!(matches!(testing::started(2, &[1, 2]).catch_up(1), Err(Error::NotLeader)));
    }
}
