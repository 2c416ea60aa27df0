//! Protocol-safety rules checked across servers (issue 11, items 4-6 and 8): each test plays
//! the scenario that broke the rule and asserts the rule itself.

use crate::core::configuration::Configuration;
use crate::core::error::Error;
use crate::core::event::{EntrySource, Event, NewEntries, SnapshotMetadata};
use crate::core::message::{EntryView, Incoming, Outgoing, RequestVote};
use crate::core::raft::Raft;
use crate::core::testing::*;
use crate::core::types::{EntryType, Id, Role, State, Term};

/// Voter 1 with stand-by 2: server 1 alone decides, server 2 only stores.
fn one_voter_and_a_standby() -> Configuration {
    let mut c = conf(&[1]);
    c.add(2, &address(2), Role::Standby).unwrap();
    c
}

fn barrier(term: Term) -> EntryView<'static> {
    EntryView { term, kind: EntryType::Barrier, payload: &[0; 8] }
}

fn change(payload: &[u8], term: Term) -> EntryView<'_> {
    EntryView { term, kind: EntryType::Change, payload }
}

/// Server `id` started from a bootstrap log holding `c`.
fn started_with(id: Id, c: &Configuration) -> Raft {
    let payload = encode(c);
    let entries = [change(&payload, 1)];
    restarted(id, 1, 0, &entries)
}

/// Server `id` loading term, vote and log (from index 1) at time 0.
fn restarted(id: Id, term: Term, voted_for: Id, entries: &[EntryView<'_>]) -> Raft {
    let mut r = Raft::new(id, &address(id), &TEST_FORMAT);
    r.seed(id as u32);
    let event = Event::Start { term, voted_for, snapshot: None, start_index: 1, entries };
    step(&mut r, 0, event).unwrap();
    r
}

fn persist_all(r: &mut Raft, now: u64) {
    let last = r.last_index();
    if last > r.persisted_index() {
        step(r, now, Event::PersistedEntries { index: last }).unwrap();
    }
}

// ---- item 4: a server becomes leader only in a term of its own ----

/// Raft §5.2, election safety: at most one leader per term. Server 2 leads term 2 with server
/// 1's vote and makes server 1 the only voter; server 1 persists that and restarts. It may lead
/// at once, but not in term 2, which already has a leader.
#[test]
fn restarted_sole_voter_does_not_lead_the_term_it_gave_its_vote_in() {
    let mut s1 = started(1, &[1, 2]);
    let mut s2 = started(2, &[1, 2]);
    let now = s2.timeout();
    let out = step(&mut s2, now, Event::Timeout).unwrap();
    let Outgoing::RequestVote(rv) = out.to(1)[0].clone() else { panic!("no vote request") };
    let out = receive(&mut s1, now, 2, Incoming::RequestVote(rv)).unwrap();
    assert!(matches!(out.to(2)[0], Outgoing::RequestVoteResult(r) if r.vote_granted));
    receive(&mut s2, now, 1, vote_granted(2)).unwrap();
    assert_eq!((s2.state(), s2.current_term()), (State::Leader, 2));
    // Server 2's barrier (index 2) is committed with server 1 before it may change anything.
    let barrier = [barrier(2)];
    persist_all(&mut s2, now);
    receive(&mut s1, now, 2, ae(2, 1, 1, 1, &barrier)).unwrap();
    persist_all(&mut s1, now);
    receive(&mut s2, now, 1, append_result(2, 0, 2)).unwrap();
    assert_eq!(s2.commit_index(), 2);

    let payload = encode(&one_voter_and_a_standby());
    let submitted = [change(&payload, 2)];
    step(&mut s2, now, Event::Submit { entries: &submitted }).unwrap();
    receive(&mut s1, now, 2, ae(2, 2, 2, 1, &submitted)).unwrap();
    persist_all(&mut s1, now);
    assert_eq!((s1.current_term(), s1.voted_for()), (2, 2));

    let bootstrap = encode(&conf(&[1, 2]));
    let log = [change(&bootstrap, 1), barrier[0], change(&payload, 2)];
    let mut r = Raft::new(1, &address(1), &TEST_FORMAT);
    let start =
        Event::Start { term: 2, voted_for: 2, snapshot: None, start_index: 1, entries: &log };
    let out = step(&mut r, now + 1, start).unwrap();
    assert_eq!(r.state(), State::Leader);
    assert_eq!(s2.state(), State::Leader, "server 2 still leads term 2");
    assert!(r.current_term() > 2, "a second leader of term 2");
    assert_eq!(r.voted_for(), 1);
    assert!(out.term_changed && out.vote_changed, "the new term is persisted before sending");
}

/// Raft §5.3, log matching: an index and term name one entry. Sole voter 1 sent entry 2 to
/// its stand-by before its own write was durable, and crashed; restarted, it writes another
/// entry at index 2. That entry must carry a new term, so that the stand-by replaces its own
/// (uncommitted) entry 2 instead of taking it for the same one and committing it.
#[test]
fn restarted_sole_voter_never_writes_another_entry_under_a_used_index_and_term() {
    let c = one_voter_and_a_standby();
    let mut s1 = started_with(1, &c);
    let mut s2 = started_with(2, &c);
    let term = s1.current_term();
    let lost = [entry(term)];
    step(&mut s1, 10, Event::Submit { entries: &lost }).unwrap();
    let sent = [barrier(term), entry(term)];
    receive(&mut s2, 10, 1, ae(term, 1, 1, 1, &sent)).unwrap();
    persist_all(&mut s2, 10);
    assert_eq!(s2.term_of(3), Some(term));

    // Server 1 crashes before entry 2 is durable and restarts without it.
    let payload = encode(&c);
    let log = [change(&payload, 1)];
    let mut s1 = restarted(1, term, 1, &log);
    assert_eq!(s1.state(), State::Leader);
    let new_term = s1.current_term();
    assert_ne!(new_term, term, "the restarted leader reuses its term");
    let written = [entry(new_term)];
    step(&mut s1, 20, Event::Submit { entries: &written }).unwrap();
    persist_all(&mut s1, 20);
    assert_eq!(s1.commit_index(), 3);

    let sent = [barrier(new_term), entry(new_term)];
    let out = receive(&mut s2, 20, 1, ae(new_term, 1, 1, 1, &sent)).unwrap();
    assert_eq!(
        out.entries,
        Some(NewEntries { index: 2, source: EntrySource::Event { skip: 0 } }),
        "the stand-by keeps its old entries 2 and 3 as if they were the leader's"
    );
    assert_eq!(s2.term_of(3), s1.term_of(3));
}

/// With pre-vote on, the sole voter's pre-vote round is won by its own vote and the real
/// election follows at once: the same new term.
#[test]
fn sole_voter_with_pre_vote_also_leads_in_a_new_term_at_start() {
    let payload = encode(&conf(&[1]));
    let log = [change(&payload, 1), entry(1)];
    let mut r = Raft::new(1, &address(1), &TEST_FORMAT);
    r.set_pre_vote(true);
    let start =
        Event::Start { term: 1, voted_for: 0, snapshot: None, start_index: 1, entries: &log };
    let out = step(&mut r, 0, start).unwrap();
    assert_eq!((r.state(), r.current_term(), r.voted_for()), (State::Leader, 2, 1));
    assert!(out.term_changed && out.vote_changed);
    assert_eq!(
        out.entries,
        Some(NewEntries { index: 3, source: EntrySource::Barrier { term: 2 } })
    );
    assert_eq!(r.commit_index(), 1, "entry 2 of term 1 commits with the barrier, not before");
    step(&mut r, 1, Event::PersistedEntries { index: 3 }).unwrap();
    assert_eq!(r.commit_index(), 3);
}

/// A follower that becomes the only voter stands on its timer and wins a new term too.
#[test]
fn follower_left_as_sole_voter_leads_only_in_a_new_term() {
    let mut s1 = started(1, &[1, 2]);
    receive(&mut s1, 10, 2, ae(2, 1, 1, 1, &[])).unwrap();
    let payload = encode(&one_voter_and_a_standby());
    let entries = [change(&payload, 2)];
    receive(&mut s1, 10, 2, ae(2, 1, 1, 1, &entries)).unwrap();
    persist_all(&mut s1, 10);
    let deadline = s1.timeout();
    let out = step(&mut s1, deadline, Event::Timeout).unwrap();
    assert_eq!((s1.state(), s1.current_term(), s1.voted_for()), (State::Leader, 3, 1));
    assert!(out.term_changed && out.vote_changed);
    assert_eq!(
        out.entries,
        Some(NewEntries { index: 3, source: EntrySource::Barrier { term: 3 } })
    );
}

// ---- item 5: rejections never make a leader send a snapshot it does not have ----

/// A rejection names the `prev_log_index` of an AppendEntries we sent, so never one beyond our
/// log. One that does (forged, or addressed to an earlier life of this server) is ignored:
/// probing from there would find no term to send and fall back to an InstallSnapshot of index
/// 0 without any snapshot.
#[test]
fn rejection_beyond_the_leaders_log_is_ignored() {
    let (mut r, now) = leader(&[1, 2, 3]);
    receive(&mut r, now, 2, append_result(2, 0, 2)).unwrap();
    let out = receive(&mut r, now, 2, append_result(2, 100, 99)).unwrap();
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    let heartbeat = r.timeout();
    let out = step(&mut r, heartbeat, Event::Timeout).unwrap();
    for body in out.to(2) {
        assert!(matches!(body, Outgoing::AppendEntries { prev_log_index: 2, .. }), "{body:?}");
    }
    assert_eq!(r.match_index(2), Ok(2));
}

/// A leader without a snapshot never emits InstallSnapshot, whatever its followers answer.
#[test]
fn leader_without_snapshot_never_sends_one() {
    let (mut r, now) = leader(&[1, 2, 3]);
    let rejections = [(2, 1), (5, 4), (1, 0), (3, 9), (1_000, 999), (1 << 40, 1 << 50)];
    for (i, &(rejected, last)) in rejections.iter().enumerate() {
        // Each rejection reaches the follower's progress in pipeline mode, after a success.
        let now = now + i as u64;
        for result in [append_result(2, 0, 1), append_result(2, rejected, last)] {
            let out = receive(&mut r, now, 3, result).unwrap();
            assert!(
                out.messages.iter().all(|m| !matches!(m.body, Outgoing::InstallSnapshot { .. })),
                "after rejection {rejected} (last {last}): {:?}",
                out.messages
            );
        }
    }
}

// ---- item 6: an anchor inside the snapshot is still term-checked ----

/// Follower 2 of {1,2,3}, restarted from a snapshot at index 10 of term 5, nothing after it.
fn follower_with_snapshot() -> Raft {
    let metadata = SnapshotMetadata {
        index: 10,
        term: 5,
        configuration: conf(&[1, 2, 3]),
        configuration_index: 1,
    };
    let mut r = Raft::new(2, &address(2), &TEST_FORMAT);
    let start = Event::Start {
        term: 5,
        voted_for: 0,
        snapshot: Some(metadata),
        start_index: 11,
        entries: &[],
    };
    step(&mut r, 0, start).unwrap();
    r
}

/// Raft §5.3 and §7: entries up to the snapshot are committed and so match any leader's log;
/// an AppendEntries anchored inside the snapshot must agree with the snapshot's last term,
/// and what follows can never go below it. Accepting such entries left a log whose terms
/// decrease, which the next Start refuses.
#[test]
fn entries_below_the_snapshot_term_after_an_anchor_inside_it_are_refused() {
    let mut r = follower_with_snapshot();
    let stale = [entry(2); 9]; // indexes 4 ..= 12, all of term 2
    let err = receive(&mut r, 10, 1, ae(5, 3, 2, 1, &stale)).unwrap_err();
    assert!(matches!(err, Error::Shutdown(_)), "{err:?}");
    assert_eq!((r.last_index(), r.term_of(11)), (10, None), "nothing stored");
    assert_eq!(r.leader(), None, "nothing changed");
}

#[test]
fn anchor_at_the_snapshot_index_with_another_term_is_a_mismatch() {
    let mut r = follower_with_snapshot();
    let entries = [entry(5)];
    let out = receive(&mut r, 10, 1, ae(5, 10, 4, 1, &entries)).unwrap();
    assert!(out.entries.is_none());
    assert!(matches!(out.to(1)[0], Outgoing::AppendEntriesResult(res) if res.rejected == 10));
}

#[test]
fn entries_overlapping_the_snapshot_are_skipped_and_the_rest_stored() {
    let mut r = follower_with_snapshot();
    let entries = [entry(2), entry(2), entry(5), entry(5), entry(6)]; // indexes 8 ..= 12
    let out = receive(&mut r, 10, 1, ae(6, 7, 2, 1, &entries)).unwrap();
    assert_eq!(out.entries, Some(NewEntries { index: 11, source: EntrySource::Event { skip: 3 } }));
    assert_eq!((r.last_index(), r.term_of(11), r.term_of(12)), (12, Some(5), Some(6)));
}

// ---- item 8: smaller contract gaps ----

#[test]
fn no_timeout_is_due_before_start() {
    let mut r = Raft::new(1, &address(1), &TEST_FORMAT);
    assert_eq!(r.timeout(), 0);
    r.set_election_timeout(300, None);
    assert_eq!(r.timeout(), 0);
}

/// A snapshot accepted by `Snapshot` must load at the next `Start`, which refuses a
/// configuration index of 0: both use one rule.
#[test]
fn snapshot_with_configuration_index_zero_is_refused_like_at_start() {
    let mut r = follower(&[entry(2), entry(2)]);
    let heartbeat = Incoming::AppendEntries {
        term: 2,
        prev_log_index: 3,
        prev_log_term: 2,
        leader_commit: 3,
        entries: &[],
    };
    receive(&mut r, 20, 1, heartbeat).unwrap();
    assert_eq!(r.commit_index(), 3);
    let metadata = SnapshotMetadata {
        index: 3,
        term: 2,
        configuration: conf(&[1, 2, 3]),
        configuration_index: 0,
    };
    let err = step(&mut r, 21, Event::Snapshot { metadata: metadata.clone(), trailing: 0 });
    assert!(matches!(err, Err(Error::Invalid(_))), "{err:?}");
    assert_eq!(r.snapshot_index(), 0);
    let mut fresh = Raft::new(2, &address(2), &TEST_FORMAT);
    let start = Event::Start {
        term: 2,
        voted_for: 0,
        snapshot: Some(metadata),
        start_index: 4,
        entries: &[],
    };
    assert!(matches!(step(&mut fresh, 0, start), Err(Error::Invalid(_))));
}

#[test]
fn message_from_ourselves_is_malformed() {
    let mut r = started(2, &[1, 2, 3]);
    let rv = RequestVote {
        term: 5,
        candidate_id: 2,
        last_log_index: 1,
        last_log_term: 1,
        disrupt_leader: false,
        pre_vote: false,
    };
    let err = receive(&mut r, 5, 2, Incoming::RequestVote(rv)).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err:?}");
    let err = receive(&mut r, 5, 2, ae(5, 1, 1, 1, &[])).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err:?}");
    assert_eq!((r.current_term(), r.voted_for(), r.leader()), (1, 0, None));
}
