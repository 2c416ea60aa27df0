//! RAFT_RECEIVE: validates a received message as a whole, then hands it to the rule that
//! owns its type.

use super::error::Error;
use super::message::{Incoming, Received};
use super::raft::{Ctx, Raft};
use super::replication::{AppendEntries, AppendPlan};
use super::snapshot::{InstallPlan, InstallSnapshot};

/// What validation decided about a received message.
pub(super) enum ReceivePlan {
    Append(AppendPlan),
    Install(InstallPlan),
    Other,
}

impl Raft {
    pub(super) fn check_receive(&self, m: &Received<'_>) -> Result<ReceivePlan, Error> {
        if m.from == 0 {
            return Err(Error::Malformed("message from server 0".into()));
        }
        match &m.body {
            Incoming::RequestVote(rv) => {
                if rv.term == 0 || rv.candidate_id == 0 {
                    return Err(Error::Malformed("RequestVote with term or candidate 0".into()));
                }
                Ok(ReceivePlan::Other)
            }
            Incoming::RequestVoteResult(r) => {
                if r.pre_vote && r.vote_granted && r.term > self.term + 1 {
                    return Err(Error::Malformed(
                        "pre-vote granted for a term too far ahead".into(),
                    ));
                }
                Ok(ReceivePlan::Other)
            }
            Incoming::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                entries,
            } => {
                let ae = AppendEntries {
                    term: *term,
                    prev_log_index: *prev_log_index,
                    prev_log_term: *prev_log_term,
                    leader_commit: *leader_commit,
                    entries,
                };
                Ok(ReceivePlan::Append(self.check_append_entries(&ae)?))
            }
            Incoming::AppendEntriesResult(_) => Ok(ReceivePlan::Other),
            Incoming::InstallSnapshot { term, last_index, last_term, conf, conf_index } => {
                let s = InstallSnapshot {
                    term: *term,
                    last_index: *last_index,
                    last_term: *last_term,
                    conf,
                    conf_index: *conf_index,
                };
                Ok(ReceivePlan::Install(self.check_install_snapshot(&s)?))
            }
            Incoming::TimeoutNow(t) => {
                if t.term == 0 {
                    return Err(Error::Malformed("TimeoutNow with term 0".into()));
                }
                Ok(ReceivePlan::Other)
            }
        }
    }

    pub(super) fn on_receive(&mut self, cx: &mut Ctx<'_>, m: Received<'_>, plan: ReceivePlan) {
        let (from, address) = (m.from, m.from_address);
        match (m.body, plan) {
            (Incoming::RequestVote(rv), _) => self.on_request_vote(cx, from, address, rv),
            (Incoming::RequestVoteResult(r), _) => self.on_vote_result(cx, from, r),
            (
                Incoming::AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    leader_commit,
                    entries,
                },
                ReceivePlan::Append(plan),
            ) => {
                let ae =
                    AppendEntries { term, prev_log_index, prev_log_term, leader_commit, entries };
                self.on_append_entries(cx, from, address, ae, plan);
            }
            (Incoming::AppendEntriesResult(r), _) => self.on_append_result(cx, from, r),
            (
                Incoming::InstallSnapshot { term, last_index, last_term, conf, conf_index },
                ReceivePlan::Install(plan),
            ) => {
                let s = InstallSnapshot { term, last_index, last_term, conf: &conf, conf_index };
                self.on_install_snapshot(cx, from, address, s, plan);
            }
            (Incoming::TimeoutNow(t), _) => self.on_timeout_now(cx, from, t),
            _ => unreachable!("validation plans match message types"),
        }
    }
}
