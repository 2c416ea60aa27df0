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
            return Err(Error::BadId(format!(
                "server {server_id} is not another voter"
            )));
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
            let matched = leader
                .progress
                .iter()
                .find(|p| p.id == server.id)
                .map(|p| p.matched);
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
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "  {} is up to date: send timeout now",
            p.id
        );
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
        if leader
            .transfer
            .as_ref()
            .is_some_and(|t| now - t.start >= election_timeout)
        {
            raft_trace!(cx.tracer, LEVEL_INFO, "  leadership transfer abandoned");
            leader.transfer = None;
        }
    }
}
