//! RAFT_RECEIVE: validates a received message as a whole, applies the term rule once for every
//! message type, then hands the message to the rule that owns its type.

use super::error::Error;
use super::log::fits_below_max_index;
use super::message::{Incoming, Received};
use super::raft::{Ctx, Raft};
use super::replication::{check_append_entries_form, AppendEntries, AppendPlan};
use super::snapshot::{check_install_snapshot_form, InstallPlan, InstallSnapshot};
use super::snapshot_chunks::{check_chunk_form, ChunkPlan};
use super::trace::LEVEL_INFO;
use super::types::{Id, Index, Term, Time, MAX_INDEX, MAX_TERM};
use crate::raft_trace;

/// What validation decided about a received message: how its term compares with ours, and
/// for the messages whose handling depends on our log, what their handler will do.
pub(super) struct ReceivePlan {
    term: TermCheck,
    rule: RulePlan,
}

enum RulePlan {
    Append(AppendPlan),
    Install(InstallPlan),
    Chunk(ChunkPlan),
    /// A stale message, or one whose handler needs no plan.
    Other,
}

/// How a message's term compares with ours, once the exceptions are taken into account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TermCheck {
    /// Older than ours.
    Stale,
    /// Ours, or a newer one that does not move ours (see [`Raft::keeps_term_for`]).
    Current,
    /// Newer: adopt it before the handler runs.
    Newer(Term),
}

/// The term a message claims: its sender's term, or for vote requests and results the term of
/// the election they are about.
fn claimed_term(body: &Incoming<'_>) -> Term {
    match body {
        Incoming::RequestVote(rv) => rv.term,
        Incoming::RequestVoteResult(r) => r.term,
        Incoming::AppendEntries { term, .. } | Incoming::InstallSnapshot { term, .. } => *term,
        Incoming::AppendEntriesResult(r) => r.term,
        Incoming::TimeoutNow(t) => t.term,
        Incoming::ReadIndex(r) => r.term,
        Incoming::ReadIndexResult(r) => r.term,
        Incoming::InstallSnapshotChunk(c) => c.term,
        Incoming::SnapshotChunkResult(r) => r.term,
    }
}

/// The fields of `body` if it is an AppendEntries.
fn append_entries<'b>(body: &'b Incoming<'_>) -> Option<AppendEntries<'b>> {
    match body {
        Incoming::AppendEntries { term, prev_log_index, prev_log_term, leader_commit, entries } => {
            Some(AppendEntries {
                term: *term,
                prev_log_index: *prev_log_index,
                prev_log_term: *prev_log_term,
                leader_commit: *leader_commit,
                entries,
            })
        }
        _ => None,
    }
}

/// The fields of `body` if it is an InstallSnapshot.
fn install_snapshot<'b>(body: &'b Incoming<'_>) -> Option<InstallSnapshot<'b>> {
    match body {
        Incoming::InstallSnapshot { term, last_index, last_term, conf, conf_index } => {
            Some(InstallSnapshot {
                term: *term,
                last_index: *last_index,
                last_term: *last_term,
                conf,
                conf_index: *conf_index,
            })
        }
        _ => None,
    }
}

impl Raft {
    /// The term rule (Raft §5.1), in one place as etcd raft's `Step` has it: a message of a
    /// newer term makes us adopt that term (and step down) before anything else; a message of
    /// an older term is answered with ours or dropped, and reaches no handler.
    fn check_term(&self, body: &Incoming<'_>, now: Time) -> TermCheck {
        let term = claimed_term(body);
        if term < self.term {
            TermCheck::Stale
        } else if term > self.term && !self.keeps_term_for(body, now) {
            TermCheck::Newer(term)
        } else {
            TermCheck::Current
        }
    }

    /// The messages whose newer term does not move ours: a pre-vote request, and a granted
    /// pre-vote (the term of an election that may never happen, dissertation §9.6); and a
    /// vote request we refuse to protect our leader (§4.2.3), lest a server cut off from the
    /// cluster depose a healthy leader by bumping every term.
    fn keeps_term_for(&self, body: &Incoming<'_>, now: Time) -> bool {
        match body {
            Incoming::RequestVote(rv) => rv.pre_vote || self.protects_leader_from(rv, now),
            Incoming::RequestVoteResult(r) => {
                r.vote_granted && r.term == self.term.saturating_add(1)
            }
            _ => false,
        }
    }

    /// Answers a message of an older term so that its sender learns ours: a refused
    /// AppendEntries or InstallSnapshot (the leader steps down on our reply), a denied vote.
    /// Results and TimeoutNow of an older term are dropped.
    fn answer_stale(&mut self, cx: &mut Ctx<'_>, from: Id, from_address: &str, body: &Incoming) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> message of stale term {} from {from} (ours is {})",
            claimed_term(body),
            self.term
        );
        match body {
            Incoming::AppendEntries { prev_log_index: anchor, .. }
            | Incoming::InstallSnapshot { last_index: anchor, .. }
            | Incoming::InstallSnapshotChunk(super::message::SnapshotChunk {
                last_index: anchor,
                ..
            }) => {
                let rejected: Index = (*anchor).max(1);
                let hint = self.log.last_index().min(rejected - 1);
                self.reply_append(cx, from, from_address, rejected, hint);
            }
            Incoming::RequestVote(rv) => self.reply_vote(cx, from, from_address, rv, false),
            _ => {}
        }
    }

    /// Records the disk capacity a peer reports in its results, whatever their term.
    fn note_capacity(&mut self, from: Id, body: &Incoming<'_>) {
        match body {
            Incoming::RequestVoteResult(r) => self.record_capacity(from, r.features, r.capacity),
            Incoming::AppendEntriesResult(r) => self.record_capacity(from, r.features, r.capacity),
            _ => {}
        }
    }

    pub(super) fn check_receive(&self, m: &Received<'_>, now: Time) -> Result<ReceivePlan, Error> {
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
        self.check_form(&m.body)?;
        let term = self.check_term(&m.body, now);
        let rule = if term == TermCheck::Stale {
            RulePlan::Other
        } else if let Some(ae) = append_entries(&m.body) {
            RulePlan::Append(self.check_append_entries(&ae)?)
        } else if let Some(s) = install_snapshot(&m.body) {
            RulePlan::Install(self.check_whole_install_snapshot(&s)?)
        } else if let Incoming::InstallSnapshotChunk(c) = &m.body {
            RulePlan::Chunk(self.check_chunk(m.from, c)?)
        } else {
            RulePlan::Other
        };
        Ok(ReceivePlan { term, rule })
    }

    /// Refuses a message no correct server sends, whatever the terms.
    fn check_form(&self, body: &Incoming<'_>) -> Result<(), Error> {
        match body {
            Incoming::RequestVote(rv) => {
                if rv.term == 0 || rv.candidate_id == 0 {
                    return Err(Error::Malformed("RequestVote with term or candidate 0".into()));
                }
            }
            Incoming::RequestVoteResult(r) => {
                if r.pre_vote && r.vote_granted && r.term > self.term.saturating_add(1) {
                    return Err(Error::Malformed(
                        "pre-vote granted for a term too far ahead".into(),
                    ));
                }
            }
            Incoming::AppendEntries { .. } => {
                if let Some(ae) = append_entries(body) {
                    check_append_entries_form(&ae)?;
                }
            }
            Incoming::InstallSnapshot { .. } => {
                if let Some(s) = install_snapshot(body) {
                    check_install_snapshot_form(&s)?;
                }
            }
            Incoming::AppendEntriesResult(_) => {}
            Incoming::TimeoutNow(t) => {
                if t.term == 0 {
                    return Err(Error::Malformed("TimeoutNow with term 0".into()));
                }
            }
            Incoming::ReadIndex(r) => {
                if r.term == 0 {
                    return Err(Error::Malformed("ReadIndex with term 0".into()));
                }
            }
            Incoming::ReadIndexResult(r) => {
                if r.term == 0 {
                    return Err(Error::Malformed("ReadIndex result with term 0".into()));
                }
            }
            Incoming::InstallSnapshotChunk(c) => check_chunk_form(c)?,
            Incoming::SnapshotChunkResult(r) => {
                if r.term == 0 {
                    return Err(Error::Malformed("snapshot chunk result with term 0".into()));
                }
            }
        }
        Ok(())
    }

    pub(super) fn on_receive(&mut self, cx: &mut Ctx<'_>, m: Received<'_>, plan: ReceivePlan) {
        let (from, address, body) = (m.from, m.from_address, &m.body);
        self.note_capacity(from, body);
        match plan.term {
            TermCheck::Stale => {
                self.answer_stale(cx, from, address, body);
                return;
            }
            TermCheck::Newer(term) => self.adopt_term(cx, term),
            TermCheck::Current => {}
        }
        match (body, plan.rule) {
            (Incoming::RequestVote(rv), _) => self.on_request_vote(cx, from, address, *rv),
            (Incoming::RequestVoteResult(r), _) => self.on_vote_result(cx, from, *r),
            (Incoming::AppendEntriesResult(r), _) => {
                let echoed = self.note_read_echo(from, r, m.read_context);
                self.on_append_result(cx, from, *r);
                if echoed {
                    self.confirm_reads(cx);
                }
            }
            (Incoming::TimeoutNow(t), _) => self.on_timeout_now(cx, from, *t),
            (Incoming::ReadIndex(r), _) => self.on_read_index(cx, from, address, *r),
            (Incoming::ReadIndexResult(r), _) => self.on_read_index_result(cx, from, *r),
            (Incoming::SnapshotChunkResult(r), _) => self.on_chunk_result(cx, from, *r),
            (Incoming::InstallSnapshotChunk(c), RulePlan::Chunk(plan)) => {
                self.on_chunk(cx, from, address, c.clone(), plan);
            }
            (_, RulePlan::Append(plan)) => {
                if let Some(ae) = append_entries(body) {
                    self.on_append_entries(cx, from, address, ae, plan, m.read_context);
                }
            }
            (_, RulePlan::Install(plan)) => {
                if let Some(s) = install_snapshot(body) {
                    self.on_install_snapshot(cx, from, address, s, plan);
                }
            }
            // Validation gives every AppendEntries and InstallSnapshot that is not stale a plan.
            (
                Incoming::AppendEntries { .. }
                | Incoming::InstallSnapshot { .. }
                | Incoming::InstallSnapshotChunk(_),
                RulePlan::Other | RulePlan::Chunk(_),
            ) => {}
        }
    }
}

/// Refuses a message naming a term beyond [`MAX_TERM`] or an index beyond [`MAX_INDEX`]
/// (including the last of the entries it carries): no server produces one, and accepting it
/// would leave no room for the `+ 1` of the next election or entry.
fn check_limits(body: &Incoming<'_>) -> Result<(), Error> {
    // Both limits are 2^63 - 1, so a value passes them exactly when its top bit is clear, and
    // the bitwise or of a message's values passes exactly when every value does: one
    // comparison per kind of number, whatever the message.
    const _: () = assert!(MAX_TERM == u64::MAX >> 1 && MAX_INDEX == u64::MAX >> 1);
    let (kind, terms, indexes) = match body {
        Incoming::RequestVote(rv) => ("RequestVote", rv.term | rv.last_log_term, rv.last_log_index),
        Incoming::RequestVoteResult(r) => ("RequestVote result", r.term, 0),
        Incoming::AppendEntries { term, prev_log_index, prev_log_term, leader_commit, entries } => {
            if !fits_below_max_index(prev_log_index.saturating_add(1), entries.len()) {
                return Err(Error::Malformed(
                    "AppendEntries: entries beyond index 2^63 - 1".into(),
                ));
            }
            ("AppendEntries", term | prev_log_term, prev_log_index | leader_commit)
        }
        Incoming::AppendEntriesResult(r) => {
            ("AppendEntries result", r.term, r.rejected | r.last_log_index)
        }
        Incoming::InstallSnapshot { term, last_index, last_term, conf_index, .. } => {
            ("InstallSnapshot", term | last_term, last_index | conf_index)
        }
        Incoming::TimeoutNow(t) => ("TimeoutNow", t.term | t.last_log_term, t.last_log_index),
        Incoming::ReadIndex(r) => ("ReadIndex", r.term, 0),
        Incoming::ReadIndexResult(r) => ("ReadIndex result", r.term, r.index),
        Incoming::InstallSnapshotChunk(c) => {
            ("InstallSnapshotChunk", c.term | c.last_term, c.last_index | c.conf_index)
        }
        Incoming::SnapshotChunkResult(r) => ("snapshot chunk result", r.term, r.last_index),
    };
    if terms > MAX_TERM {
        return Err(Error::Malformed(format!("{kind}: term beyond 2^63 - 1")));
    }
    if indexes > MAX_INDEX {
        return Err(Error::Malformed(format!("{kind}: index beyond 2^63 - 1")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::core::message::{
        AppendEntriesResult, Incoming, Outgoing, RequestVote, RequestVoteResult, TimeoutNow,
    };
    use crate::core::testing::*;
    use crate::core::types::State;

    fn vote_request(term: u64, pre_vote: bool, disrupt_leader: bool) -> Incoming<'static> {
        Incoming::RequestVote(RequestVote {
            term,
            candidate_id: 3,
            last_log_index: 9,
            last_log_term: 1,
            disrupt_leader,
            pre_vote,
        })
    }

    /// One message of each type, all of term `term`.
    fn every_message(term: u64) -> Vec<(&'static str, Incoming<'static>)> {
        vec![
            ("vote request", vote_request(term, false, true)),
            (
                "vote result",
                Incoming::RequestVoteResult(RequestVoteResult {
                    term,
                    vote_granted: false,
                    pre_vote: false,
                    features: 0,
                    capacity: 0,
                }),
            ),
            (
                "append entries",
                Incoming::AppendEntries {
                    term,
                    prev_log_index: 1,
                    prev_log_term: 1,
                    leader_commit: 1,
                    entries: &[],
                },
            ),
            (
                "append result",
                Incoming::AppendEntriesResult(AppendEntriesResult {
                    term,
                    rejected: 0,
                    last_log_index: 1,
                    features: 0,
                    capacity: 0,
                }),
            ),
            (
                "install snapshot",
                Incoming::InstallSnapshot {
                    term,
                    last_index: 1,
                    last_term: 1,
                    conf: conf(&[1, 2, 3]),
                    conf_index: 1,
                },
            ),
            (
                "timeout now",
                Incoming::TimeoutNow(TimeoutNow { term, last_log_index: 1, last_log_term: 1 }),
            ),
        ]
    }

    /// Raft §5.1: "If a candidate or leader discovers that its term is out of date, it
    /// immediately reverts to follower state", whatever message told it.
    #[test]
    fn a_newer_term_in_any_message_makes_a_leader_adopt_it_and_step_down() {
        for (kind, message) in every_message(7) {
            let (mut r, now) = leader(&[1, 2, 3]);
            let out = receive(&mut r, now, 3, message).unwrap();
            assert_eq!(r.current_term(), 7, "{kind}");
            assert_eq!(r.state(), State::Follower, "{kind}");
            assert!(out.term_changed && out.state_changed, "{kind}");
        }
    }

    /// Raft §5.1: "If a server receives a request with a stale term number, it rejects the
    /// request": the sender learns our term; replies and TimeoutNow are dropped.
    #[test]
    fn a_stale_term_changes_nothing_and_requests_learn_our_term() {
        for (kind, message) in every_message(1) {
            let (mut r, now) = leader(&[1, 2, 3]);
            let out = receive(&mut r, now, 3, message).unwrap();
            assert_eq!((r.current_term(), r.state()), (2, State::Leader), "{kind}");
            assert!(!out.term_changed && !out.state_changed, "{kind}");
            let replies = out.to(3);
            match kind {
                "append entries" | "install snapshot" => assert!(
                    matches!(replies[..], [Outgoing::AppendEntriesResult(r)] if r.term == 2 && r.rejected != 0),
                    "{kind}: {replies:?}"
                ),
                "vote request" => assert!(
                    matches!(replies[..], [Outgoing::RequestVoteResult(r)] if r.term == 2 && !r.vote_granted),
                    "{kind}: {replies:?}"
                ),
                _ => assert!(replies.is_empty(), "{kind}: {replies:?}"),
            }
        }
    }

    /// Dissertation §9.6 and §4.2.3: a pre-vote's term is that of an election that may never
    /// happen, and a server that hears from its leader ignores vote requests; neither moves
    /// our term.
    #[test]
    fn pre_votes_and_vote_requests_against_a_live_leader_keep_our_term() {
        let mut r = follower(&[]);
        receive(&mut r, 20, 3, vote_request(5, true, false)).unwrap();
        assert_eq!(r.current_term(), 2, "pre-vote");
        receive(&mut r, 20, 3, vote_request(5, false, false)).unwrap();
        assert_eq!(r.current_term(), 2, "a vote request while we follow a leader");
        receive(&mut r, 20, 3, vote_request(5, false, true)).unwrap();
        assert_eq!(r.current_term(), 5, "unless the leader handed over");
    }
}
