//! RAFT_RECEIVE: validates a received message as a whole, then hands it to the rule that
//! owns its type.

use super::error::Error;
use super::log::fits_below_max_index;
use super::message::{Incoming, Received};
use super::raft::{Ctx, Raft};
use super::replication::{AppendEntries, AppendPlan};
use super::snapshot::{InstallPlan, InstallSnapshot};
use super::types::{MAX_INDEX, MAX_TERM};

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
        if m.from == self.id {
            // No server sends to itself: a message naming us as its sender is a host or
            // transport error, and acting on it (our own vote, our own AppendEntries) would
            // corrupt our state.
            return Err(Error::Malformed(format!("message from ourselves (server {})", m.from)));
        }
        check_limits(&m.body)?;
        match &m.body {
            Incoming::RequestVote(rv) => {
                if rv.term == 0 || rv.candidate_id == 0 {
                    return Err(Error::Malformed("RequestVote with term or candidate 0".into()));
                }
                Ok(ReceivePlan::Other)
            }
            Incoming::RequestVoteResult(r) => {
                if r.pre_vote && r.vote_granted && r.term > self.term.saturating_add(1) {
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

/// Refuses a message naming a term beyond [`MAX_TERM`] or an index beyond [`MAX_INDEX`]
/// (including the last of the entries it carries): no server produces one, and accepting it
/// would leave no room for the `+ 1` of the next election or entry.
fn check_limits(body: &Incoming<'_>) -> Result<(), Error> {
    let (kind, terms, indexes): (&str, &[u64], &[u64]) = match body {
        Incoming::RequestVote(rv) => {
            ("RequestVote", &[rv.term, rv.last_log_term], &[rv.last_log_index])
        }
        Incoming::RequestVoteResult(r) => ("RequestVote result", &[r.term], &[]),
        Incoming::AppendEntries { term, prev_log_index, prev_log_term, leader_commit, entries } => {
            if !fits_below_max_index(prev_log_index.saturating_add(1), entries.len()) {
                return Err(Error::Malformed(
                    "AppendEntries: entries beyond index 2^63 - 1".into(),
                ));
            }
            ("AppendEntries", &[*term, *prev_log_term], &[*prev_log_index, *leader_commit])
        }
        Incoming::AppendEntriesResult(r) => {
            ("AppendEntries result", &[r.term], &[r.rejected, r.last_log_index])
        }
        Incoming::InstallSnapshot { term, last_index, last_term, conf_index, .. } => {
            ("InstallSnapshot", &[*term, *last_term], &[*last_index, *conf_index])
        }
        Incoming::TimeoutNow(t) => ("TimeoutNow", &[t.term, t.last_log_term], &[t.last_log_index]),
    };
    if terms.iter().any(|&t| t > MAX_TERM) {
        return Err(Error::Malformed(format!("{kind}: term beyond 2^63 - 1")));
    }
    if indexes.iter().any(|&i| i > MAX_INDEX) {
        return Err(Error::Malformed(format!("{kind}: index beyond 2^63 - 1")));
    }
    Ok(())
}
