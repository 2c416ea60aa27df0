//! The rules of the Raft paper (Ongaro and Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", sections §5.x and Figure 2) and of Ongaro's dissertation ("Consensus: Bridging
//! Theory and Practice", chapters 3-9), each as a test named after the rule, driven through the
//! core's public API only.
//!
//! Rules that already have a test in the core's unit tests are not repeated here; the list of
//! where they live is at the end of this file.

use raft::codec::configuration::CRAFT;
use raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult};
use raft::core::{
    Bootstrap, Configuration, EntryType, EntryView, Event, Incoming, Message, Outgoing, Raft,
    Received, Role, State,
};

// ---- a server and the messages it receives ----

fn address(id: u64) -> String {
    format!("node-{id}")
}

fn voters(ids: &[u64]) -> Configuration {
    let mut conf = Configuration::new();
    for &id in ids {
        conf.add(id, &address(id), Role::Voter).unwrap();
    }
    conf
}

/// Server `id` of a freshly bootstrapped cluster of voters 1, 2 and 3, started at time 0.
fn bootstrapped(id: u64) -> Raft {
    let bootstrap = Bootstrap::new(&voters(&[1, 2, 3]), &CRAFT).unwrap();
    let entries = [bootstrap.entry()];
    let mut raft = Raft::new(id, &address(id), &CRAFT);
    raft.seed(id as u32);
    raft.step(0, 100, bootstrap.start_event(&entries), None).unwrap();
    raft
}

/// Server `id` restarted at time 0 from term `term`, vote `voted_for` and a log holding the
/// bootstrap entry followed by commands of the given terms.
fn restarted(id: u64, term: u64, voted_for: u64, terms: &[u64]) -> Raft {
    let bootstrap = Bootstrap::new(&voters(&[1, 2, 3]), &CRAFT).unwrap();
    let mut entries = vec![bootstrap.entry()];
    entries.extend(terms.iter().map(|&t| command(t)));
    let mut raft = Raft::new(id, &address(id), &CRAFT);
    raft.seed(id as u32);
    let start = Event::Start { term, voted_for, snapshot: None, start_index: 1, entries: &entries };
    raft.step(0, 100, start, None).unwrap();
    raft
}

fn command(term: u64) -> EntryView<'static> {
    EntryView { term, kind: EntryType::Command, payload: b"cmd" }
}

/// Steps `event` and returns the messages the update asks to send.
fn step(raft: &mut Raft, now: u64, event: Event<'_>) -> Vec<Message> {
    raft.step(now, 100, event, None).unwrap().messages.clone()
}

fn receive(raft: &mut Raft, now: u64, from: u64, body: Incoming<'_>) -> Vec<Message> {
    let from_address = address(from);
    step(
        raft,
        now,
        Event::Receive(Received { from, from_address: &from_address, body, read_context: 0 }),
    )
}

/// Fires the election timer at its deadline; returns the time.
fn time_out(raft: &mut Raft) -> u64 {
    let now = raft.timeout();
    step(raft, now, Event::Timeout);
    now
}

fn request_vote(term: u64, candidate: u64, last_index: u64, last_term: u64) -> Incoming<'static> {
    Incoming::RequestVote(RequestVote {
        term,
        candidate_id: candidate,
        last_log_index: last_index,
        last_log_term: last_term,
        disrupt_leader: false,
        pre_vote: false,
    })
}

fn pre_vote(term: u64, candidate: u64, last_index: u64, last_term: u64) -> Incoming<'static> {
    match request_vote(term, candidate, last_index, last_term) {
        Incoming::RequestVote(rv) => Incoming::RequestVote(RequestVote { pre_vote: true, ..rv }),
        _ => unreachable!(),
    }
}

fn vote(term: u64, granted: bool) -> Incoming<'static> {
    Incoming::RequestVoteResult(RequestVoteResult {
        term,
        vote_granted: granted,
        pre_vote: false,
        features: 0,
        capacity: 0,
    })
}

fn heartbeat(term: u64, prev_index: u64, prev_term: u64, commit: u64) -> Incoming<'static> {
    Incoming::AppendEntries {
        term,
        prev_log_index: prev_index,
        prev_log_term: prev_term,
        leader_commit: commit,
        entries: &[],
    }
}

/// The only vote result among `messages`.
fn vote_result(messages: &[Message]) -> RequestVoteResult {
    match messages {
        [Message { body: Outgoing::RequestVoteResult(r), .. }] => *r,
        other => panic!("expected one vote result, got {other:?}"),
    }
}

/// The only AppendEntries result among `messages`.
fn append_result(messages: &[Message]) -> AppendEntriesResult {
    match messages {
        [Message { body: Outgoing::AppendEntriesResult(r), .. }] => *r,
        other => panic!("expected one AppendEntries result, got {other:?}"),
    }
}

/// Server 1 elected leader of term 2 by server 2's vote.
fn leader() -> (Raft, u64) {
    let mut raft = bootstrapped(1);
    let now = time_out(&mut raft);
    receive(&mut raft, now, 2, vote(2, true));
    assert_eq!(raft.state(), State::Leader);
    (raft, now)
}

// ---- §5.1 terms ----

#[test]
fn s5_1_a_request_with_a_stale_term_is_rejected_with_the_current_term() {
    let mut follower = restarted(2, 5, 0, &[]);
    let reply = append_result(&receive(&mut follower, 10, 1, heartbeat(4, 1, 1, 1)));
    assert_ne!(reply.rejected, 0, "AppendEntries of term 4 in term 5 is rejected");
    assert_eq!(reply.term, 5, "the reply tells the stale leader the current term");
    assert_eq!(follower.leader(), None, "the stale sender is not taken for a leader");
    assert_eq!(follower.current_term(), 5);
}

#[test]
fn s5_1_a_vote_request_with_a_stale_term_is_denied_with_the_current_term() {
    let mut voter = restarted(2, 5, 0, &[]);
    let reply = vote_result(&receive(&mut voter, 10, 3, request_vote(4, 3, 9, 4)));
    assert!(!reply.vote_granted);
    assert_eq!(reply.term, 5);
    assert_eq!(voter.voted_for(), 0, "no vote recorded");
}

#[test]
fn s5_1_a_leader_that_learns_of_a_higher_term_reverts_to_follower() {
    let (mut leader, now) = leader();
    let higher = Incoming::AppendEntriesResult(AppendEntriesResult {
        term: 7,
        rejected: 1,
        last_log_index: 0,
        features: 0,
        capacity: 0,
    });
    receive(&mut leader, now, 3, higher);
    assert_eq!(leader.state(), State::Follower);
    assert_eq!((leader.current_term(), leader.voted_for()), (7, 0), "new term, no vote yet");
}

// ---- §5.2 leader election ----

#[test]
fn s5_2_a_candidate_that_hears_from_a_leader_of_its_term_returns_to_follower() {
    let mut candidate = bootstrapped(1);
    let now = time_out(&mut candidate);
    assert_eq!((candidate.state(), candidate.current_term()), (State::Candidate, 2));
    let reply = append_result(&receive(&mut candidate, now, 2, heartbeat(2, 1, 1, 1)));
    assert_eq!(reply.rejected, 0);
    assert_eq!(candidate.state(), State::Follower);
    assert_eq!(candidate.leader().map(|(id, _)| id), Some(2), "2 is recognised as leader");
    assert_eq!(candidate.current_term(), 2);
}

#[test]
fn s5_2_a_candidate_whose_election_neither_wins_nor_loses_stands_again_in_a_new_term() {
    let mut candidate = bootstrapped(1);
    let first = time_out(&mut candidate);
    receive(&mut candidate, first, 2, vote(2, false));
    assert_eq!(candidate.state(), State::Candidate, "one vote of three: no winner yet");
    let next = candidate.timeout();
    assert!(next > first, "a new randomized timeout was started");
    let messages = step(&mut candidate, next, Event::Timeout);
    assert_eq!((candidate.current_term(), candidate.voted_for()), (3, 1));
    let requests = messages
        .iter()
        .filter(|m| matches!(m.body, Outgoing::RequestVote(rv) if rv.term == 3))
        .count();
    assert_eq!(requests, 2, "RequestVote for term 3 to both other voters");
}

#[test]
fn s5_2_a_follower_that_keeps_hearing_from_its_leader_never_stands() {
    let mut follower = bootstrapped(2);
    let mut now = 0;
    for _ in 0..20 {
        now = follower.timeout() - 1;
        receive(&mut follower, now, 1, heartbeat(2, 1, 1, 1));
        step(&mut follower, now, Event::Timeout);
        assert_eq!(follower.state(), State::Follower);
    }
    assert!(now > 20_000, "many election timeouts went by");
    assert_eq!(follower.current_term(), 2);
}

#[test]
fn s5_2_a_vote_survives_a_restart_so_a_server_votes_once_per_term() {
    // Figure 2: votedFor is persistent state. A server restarted with its vote of term 2 for
    // candidate 3 denies candidate 1 in the same term.
    let mut voter = restarted(2, 2, 3, &[]);
    let reply = vote_result(&receive(&mut voter, 10, 1, request_vote(2, 1, 1, 1)));
    assert!(!reply.vote_granted);
    let again = vote_result(&receive(&mut voter, 10, 3, request_vote(2, 3, 1, 1)));
    assert!(again.vote_granted, "the candidate it voted for may ask again (lost reply)");
}

// ---- §5.4.1 election restriction ----

#[test]
fn s5_4_1_a_voter_denies_a_candidate_whose_last_term_is_older_even_if_its_log_is_longer() {
    // Voter: bootstrap entry then one entry of term 3. Candidate: five entries, last of term 2.
    let mut voter = restarted(2, 3, 0, &[3]);
    let reply = vote_result(&receive(&mut voter, 10, 3, request_vote(4, 3, 6, 2)));
    assert!(!reply.vote_granted, "last term 2 < 3: less up-to-date, whatever the length");
    assert_eq!(voter.current_term(), 4, "the term is adopted all the same (§5.1)");
    assert_eq!(voter.voted_for(), 0);
}

#[test]
fn s5_4_1_with_equal_last_terms_a_voter_grants_a_candidate_whose_log_is_at_least_as_long() {
    let mut voter = restarted(2, 3, 0, &[3, 3]);
    let equal = vote_result(&receive(&mut voter, 10, 3, request_vote(4, 3, 3, 3)));
    assert!(equal.vote_granted, "same last term, same length: as up-to-date");
    let mut voter = restarted(2, 3, 0, &[3, 3]);
    let longer = vote_result(&receive(&mut voter, 10, 3, request_vote(4, 3, 7, 3)));
    assert!(longer.vote_granted, "same last term, longer: more up-to-date");
    let mut voter = restarted(2, 3, 0, &[3, 3]);
    let newer = vote_result(&receive(&mut voter, 10, 3, request_vote(4, 3, 2, 4)));
    assert!(newer.vote_granted, "later last term, shorter log: more up-to-date");
}

// ---- Figure 13, InstallSnapshot ----

#[test]
fn figure_13_an_install_snapshot_with_a_stale_term_is_answered_with_the_current_term() {
    let mut follower = restarted(2, 5, 0, &[]);
    let stale = Incoming::InstallSnapshot {
        term: 4,
        last_index: 10,
        last_term: 4,
        conf: voters(&[1, 2, 3]),
        conf_index: 1,
    };
    let update = {
        let from = address(1);
        let event =
            Event::Receive(Received { from: 1, from_address: &from, body: stale, read_context: 0 });
        let update = follower.step(10, 100, event, None).unwrap();
        assert!(update.snapshot.is_none(), "nothing to store");
        update.messages.clone()
    };
    let reply = append_result(&update);
    assert_eq!(reply.term, 5);
    assert_ne!(reply.rejected, 0);
    assert_eq!(follower.snapshot_index(), 0);
}

// ---- dissertation ----

#[test]
fn dissertation_4_2_3_a_follower_that_knows_a_leader_ignores_request_vote_and_keeps_its_term() {
    let mut follower = bootstrapped(2);
    receive(&mut follower, 10, 1, heartbeat(2, 1, 1, 1));
    let reply = vote_result(&receive(&mut follower, 20, 3, request_vote(9, 3, 5, 5)));
    assert!(!reply.vote_granted);
    assert_eq!(follower.current_term(), 2, "a removed or partitioned server cannot raise it");
    assert_eq!(follower.leader().map(|(id, _)| id), Some(1), "the leader is kept");
}

#[test]
fn dissertation_9_6_a_pre_vote_grant_changes_neither_the_voters_term_nor_its_vote() {
    let mut voter = bootstrapped(2);
    let reply = vote_result(&receive(&mut voter, 10, 3, pre_vote(2, 3, 1, 1)));
    assert!(reply.vote_granted && reply.pre_vote);
    assert_eq!((voter.current_term(), voter.voted_for()), (1, 0), "nothing persisted");
    let real = vote_result(&receive(&mut voter, 10, 1, request_vote(2, 1, 1, 1)));
    assert!(real.vote_granted, "free to vote for another candidate of that term");
}

#[test]
fn dissertation_9_6_a_pre_vote_is_denied_to_a_candidate_whose_log_is_less_up_to_date() {
    let mut voter = restarted(2, 3, 0, &[3]);
    let reply = vote_result(&receive(&mut voter, 10, 3, pre_vote(4, 3, 9, 2)));
    assert!(!reply.vote_granted);
    assert_eq!(voter.current_term(), 3, "a pre-vote request never moves the term");
}

// Rules whose test lives in the core's unit tests (src/core), not repeated here:
//
// - §5.2 a follower stands when its election timer expires: election.rs
//   `follower_stands_when_election_timer_expires`
// - §5.2 a candidate that receives votes from a majority becomes leader and sends heartbeats:
//   election.rs `majority_of_votes_makes_leader_and_heartbeats`
// - §5.2 at most one vote per term: election.rs `grants_one_vote_per_term`
// - §5.2 election safety for a restarted sole voter: safety_tests.rs
//   `restarted_sole_voter_does_not_lead_the_term_it_gave_its_vote_in`
// - §5.3 a follower rejects AppendEntries whose previous entry does not match: replication.rs
//   `rejects_append_entries_with_mismatched_previous_entry`
// - §5.3 a conflicting suffix is deleted: replication.rs `truncates_conflicting_suffix`
// - §5.3 the leader backs off after a rejection and retries: replication.rs
//   `leader_backs_off_to_follower_hint_and_retries_at_once`
// - §5.3 a follower's commit index is min(leaderCommit, last new entry) and never decreases:
//   replication.rs `follower_commit_stops_at_what_the_leader_vouched_for`,
//   `follower_commit_never_decreases`
// - §5.3 (Leader Append-Only) an AppendEntries of the leader's own term is refused: replication.rs
//   `append_entries_of_our_term_reaching_a_leader_is_malformed`
// - §5.3 log matching, one entry per index and term: safety_tests.rs
//   `restarted_sole_voter_never_writes_another_entry_under_a_used_index_and_term`
// - §5.4.1 a shorter log of the same last term is denied: election.rs `rejects_vote_for_stale_log`
// - §5.4.2 a leader never commits an entry of an earlier term by counting replicas: leader.rs
//   `does_not_commit_earlier_term_entries_by_counting`
// - §5.4.3 a committed entry is never replaced: replication.rs
//   `conflict_with_committed_entry_is_shutdown`
// - §5.5 a repeated AppendEntries is acknowledged without storing again: replication.rs
//   `duplicate_append_entries_are_acknowledged_at_once`
// - §7 InstallSnapshot replaces the log and is acknowledged once durable; a snapshot the
//   follower already covers keeps its log: snapshot.rs
//   `follower_installs_snapshot_and_acknowledges_once_persisted`,
//   `snapshot_we_already_cover_is_acknowledged`
// - §8 a new leader appends a no-op of its term: election.rs
//   `new_leader_appends_barrier_for_uncommitted_entries`
// - dissertation §3.10 transfer: transfer.rs `transfer_to_up_to_date_voter_sends_timeout_now`,
//   `transfer_waits_for_target_to_catch_up_then_gives_up`, `timeout_now_starts_disruptive_election`
// - dissertation §4.1 a configuration takes effect when appended and rolls back when truncated:
//   membership.rs `change_takes_effect_when_appended_and_rolls_back_when_truncated`,
//   `follower_records_change_at_its_own_index_and_rolls_back`; one change at a time: leader.rs
//   `one_configuration_change_at_a_time`
// - dissertation §4.2.2 a removed leader steps down once the change commits: membership.rs
//   `leader_removed_steps_down_once_committed`
// - dissertation §4.2.3 a leader ignores RequestVote unless it disrupts by transfer: election.rs
//   `leader_ignores_vote_request_unless_disrupting`
// - dissertation §6.2 check-quorum: leader.rs `leader_steps_down_without_hearing_from_a_majority`,
//   `leader_stays_while_a_majority_answers`
// - dissertation §9.6 pre-vote, candidate side: election.rs `pre_vote_does_not_change_term`,
//   `pre_vote_majority_starts_real_election`
//
// The scripts in tests/interaction/scripts show the same rules as traces of whole clusters.
