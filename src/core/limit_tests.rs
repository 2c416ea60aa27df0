//! Values at the limits through every event kind (issue 11, item 7). The test build checks
//! integer overflow, so any unchecked `+`/`-` that input can reach panics here. Terms and
//! indexes beyond 2^63 - 1 are refused with nothing changed; everything else is either accepted
//! or refused with a known error, and the server goes on working (timeouts, heartbeats).

use crate::core::error::Error;
use crate::core::event::{Event, SnapshotMetadata};
use crate::core::message::{
    AppendEntriesResult, EntryView, Incoming, Received, RequestVote, RequestVoteResult, TimeoutNow,
};
use crate::core::raft::Raft;
use crate::core::testing::*;
use crate::core::types::{EntryType, State, Term};

const LIMIT: u64 = (1 << 63) - 1;
/// 0, 1, the limit and its neighbours, and the end of the 64-bit range.
const VALUES: [u64; 7] = [0, 1, LIMIT - 1, LIMIT, LIMIT + 1, u64::MAX - 1, u64::MAX];
/// A time after every fixture's last event.
const LATER: u64 = 1 << 20;

/// The servers every event is tried on: follower, candidate, leader of three, sole leader.
fn servers() -> Vec<(&'static str, Raft)> {
    let mut candidate = started(1, &[1, 2, 3]);
    let deadline = candidate.timeout();
    step(&mut candidate, deadline, Event::Timeout).unwrap();
    assert_eq!(candidate.state(), State::Candidate);
    vec![
        ("follower", follower(&[entry(2), entry(2)])),
        ("candidate", candidate),
        ("leader", leader(&[1, 2, 3]).0),
        ("sole leader", started(1, &[1])),
    ]
}

/// What a refusal may be: a usage or message error, or Shutdown only for what contradicts a
/// committed entry (a message claiming another term for it), never for anything else.
fn assert_known_refusal(what: &str, err: &Error) {
    let known = match err {
        Error::Shutdown(why) => why.contains("conflicts with"),
        _ => true,
    };
    assert!(known, "{what}: {err:?}");
}

/// Observable state, to show that a refused event changed nothing.
fn observe(r: &Raft) -> (Term, u64, u64, u64, u64, State, u64) {
    let leader = r.leader().map_or(0, |(id, _)| id);
    (
        r.current_term(),
        r.voted_for(),
        r.commit_index(),
        r.last_index(),
        r.timeout(),
        r.state(),
        leader,
    )
}

/// Steps `event` at `now`; on success keeps the server busy for a while (timeouts up to the
/// end of time, a heartbeat of the newest term) to reach arithmetic that the event's values
/// feed later. `beyond` says the event names a term or index beyond the limit, which must be
/// refused with `refusal`.
fn check(what: &str, r: &mut Raft, now: u64, event: Event<'_>, beyond: bool, refusal: Refusal) {
    let before = observe(r);
    match r.step(now, 100, event, None) {
        Ok(_) => {
            assert!(!beyond, "{what}: accepted a value beyond the limit");
            assert!(r.current_term() <= LIMIT && r.last_index() <= LIMIT, "{what}");
            keep_busy(what, r, now);
        }
        Err(e) => {
            assert_known_refusal(what, &e);
            if beyond {
                assert!(refusal(&e), "{what}: {e:?}");
            }
            assert_eq!(observe(r), before, "{what}: a refused event changed something");
        }
    }
}

fn keep_busy(what: &str, r: &mut Raft, now: u64) {
    let deadline = r.timeout();
    for t in [deadline.max(now), now.saturating_add(1 << 40), u64::MAX] {
        if let Err(e) = r.step(t, 100, Event::Timeout, None) {
            assert_known_refusal(what, &e);
        }
    }
    let term = r.current_term().max(1);
    let (prev, prev_term) = (r.last_index(), r.term_of(r.last_index()).unwrap_or(0));
    let heartbeat = Incoming::AppendEntries {
        term,
        prev_log_index: prev,
        prev_log_term: prev_term,
        leader_commit: prev,
        entries: &[],
    };
    if let Err(e) = receive(r, u64::MAX, 3, heartbeat) {
        assert_known_refusal(what, &e);
    }
}

/// Which error a value beyond the limits must get.
type Refusal = fn(&Error) -> bool;

fn malformed(e: &Error) -> bool {
    matches!(e, Error::Malformed(_))
}

fn invalid(e: &Error) -> bool {
    matches!(e, Error::Invalid(_))
}

fn any(_: &Error) -> bool {
    true
}

#[test]
fn received_terms_and_indexes_at_the_limits() {
    for v in VALUES {
        let beyond = v > LIMIT;
        let messages = |v: u64| -> Vec<(&'static str, Incoming<'static>)> {
            let rv = RequestVote {
                term: 3,
                candidate_id: 3,
                last_log_index: 3,
                last_log_term: 2,
                disrupt_leader: true,
                pre_vote: false,
            };
            let result = AppendEntriesResult {
                term: 2,
                rejected: 0,
                last_log_index: 1,
                features: 1,
                capacity: 9,
            };
            let now = TimeoutNow { term: 2, last_log_index: 3, last_log_term: 2 };
            let ae = |term, prev_log_index, prev_log_term, leader_commit| Incoming::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                entries: &[],
            };
            let is = |term, last_index, last_term, conf_index| Incoming::InstallSnapshot {
                term,
                last_index,
                last_term,
                conf: conf(&[1, 2, 3]),
                conf_index,
            };
            vec![
                ("RequestVote.term", Incoming::RequestVote(RequestVote { term: v, ..rv })),
                (
                    "RequestVote.last_log_index",
                    Incoming::RequestVote(RequestVote { last_log_index: v, ..rv }),
                ),
                (
                    "RequestVote.last_log_term",
                    Incoming::RequestVote(RequestVote { last_log_term: v, ..rv }),
                ),
                (
                    "pre-vote.term",
                    Incoming::RequestVote(RequestVote { term: v, pre_vote: true, ..rv }),
                ),
                (
                    "RequestVoteResult.term",
                    Incoming::RequestVoteResult(RequestVoteResult {
                        term: v,
                        vote_granted: true,
                        pre_vote: false,
                        features: 1,
                        capacity: 7,
                    }),
                ),
                ("AppendEntries.term", ae(v, 3, 2, 3)),
                ("AppendEntries.prev_log_index", ae(3, v, 2, 3)),
                ("AppendEntries.prev_log_term", ae(3, 3, v, 3)),
                ("AppendEntries.leader_commit", ae(3, 3, 2, v)),
                (
                    "AppendEntriesResult.term",
                    Incoming::AppendEntriesResult(AppendEntriesResult { term: v, ..result }),
                ),
                (
                    "AppendEntriesResult.rejected",
                    Incoming::AppendEntriesResult(AppendEntriesResult { rejected: v, ..result }),
                ),
                (
                    "AppendEntriesResult.last_log_index",
                    Incoming::AppendEntriesResult(AppendEntriesResult {
                        last_log_index: v,
                        ..result
                    }),
                ),
                (
                    "AppendEntriesResult.rejected+last",
                    Incoming::AppendEntriesResult(AppendEntriesResult {
                        rejected: v,
                        last_log_index: v,
                        ..result
                    }),
                ),
                ("InstallSnapshot.term", is(v, 5, 2, 1)),
                ("InstallSnapshot.last_index", is(3, v, 2, 1)),
                ("InstallSnapshot.last_term", is(3, 5, v, 1)),
                ("InstallSnapshot.conf_index", is(3, 5, 2, v)),
                ("InstallSnapshot.all", is(v, v, v, v)),
                ("TimeoutNow.term", Incoming::TimeoutNow(TimeoutNow { term: v, ..now })),
                (
                    "TimeoutNow.last_log_index",
                    Incoming::TimeoutNow(TimeoutNow { last_log_index: v, ..now }),
                ),
                (
                    "TimeoutNow.last_log_term",
                    Incoming::TimeoutNow(TimeoutNow { last_log_term: v, ..now }),
                ),
            ]
        };
        for k in 0..messages(v).len() {
            for (name, mut r) in servers() {
                let (field, body) = messages(v).swap_remove(k);
                let what = format!("{field} = {v} to {name}");
                let address = address(3);
                let received = Received { from: 3, from_address: &address, body, read_context: 0 };
                check(&what, &mut r, LATER, Event::Receive(received), beyond, malformed);
            }
        }
    }
}

/// Entries whose last index would pass the limit, received or submitted.
#[test]
fn entry_counts_that_would_pass_the_limit() {
    for (prev, n, fits) in
        [(LIMIT - 2, 2, true), (LIMIT - 2, 3, false), (LIMIT, 1, false), (u64::MAX, 1, false)]
    {
        let entries = vec![entry(3); n];
        let mut r = follower(&[entry(2)]);
        let ae = Incoming::AppendEntries {
            term: 3,
            prev_log_index: prev,
            prev_log_term: 2,
            leader_commit: 0,
            entries: &entries,
        };
        let what = format!("{n} entries after {prev}");
        let received = Received { from: 1, from_address: "node-1", body: ae, read_context: 0 };
        check(&what, &mut r, LATER, Event::Receive(received), !fits, malformed);
    }
    // A leader whose log ends one short of the limit takes one more entry, not two. It starts
    // two short: its election appends a barrier.
    let metadata = SnapshotMetadata {
        index: LIMIT - 2,
        term: 1,
        configuration: conf(&[1]),
        configuration_index: 1,
    };
    let mut r = Raft::new(1, "node-1", &TEST_FORMAT);
    let start = Event::Start {
        term: 1,
        voted_for: 0,
        snapshot: Some(metadata),
        start_index: LIMIT - 1,
        entries: &[],
    };
    step(&mut r, 0, start).unwrap();
    assert_eq!((r.state(), r.last_index()), (State::Leader, LIMIT - 1), "snapshot + barrier");
    let term = r.current_term();
    let two = [entry(term), entry(term)];
    let before = observe(&r);
    assert!(matches!(step(&mut r, 1, Event::Submit { entries: &two }), Err(Error::Invalid(_))));
    assert_eq!(observe(&r), before);
    step(&mut r, 1, Event::Submit { entries: &two[..1] }).unwrap();
    assert_eq!(r.last_index(), LIMIT);
    assert!(matches!(
        step(&mut r, 1, Event::Submit { entries: &two[..1] }),
        Err(Error::Invalid(_))
    ));
    keep_busy("full log", &mut r, 1);
}

#[test]
fn start_at_the_limits() {
    for v in VALUES {
        let beyond = v > LIMIT;
        // Server 2 of three voters stays a follower; server 1 alone stands at once.
        for (id, voters) in [(2, &[1, 2, 3][..]), (1, &[1][..])] {
            let payload = encode(&conf(voters));
            let log = [EntryView { term: 1, kind: EntryType::Change, payload: &payload }];
            let after = [entry(2), entry(3)];
            let snapshot = |index, term, configuration_index| {
                let configuration = conf(voters);
                Some(SnapshotMetadata { index, term, configuration, configuration_index })
            };
            let start = |term, voted_for, snapshot, start_index, entries| Event::Start {
                term,
                voted_for,
                snapshot,
                start_index,
                entries,
            };
            let cases: Vec<(&str, Event<'_>, bool)> = vec![
                ("term", start(v, 0, None, 1, &log[..]), beyond),
                ("voted_for", start(1, v, None, 1, &log[..]), false),
                ("start_index", start(1, 0, None, v, &log[..]), beyond),
                (
                    "snapshot.index",
                    start(3, 0, snapshot(v, 2, 1), v.saturating_add(1), &[]),
                    beyond,
                ),
                ("snapshot.term", start(v, 0, snapshot(5, v, 1), 6, &[]), beyond),
                (
                    "snapshot.configuration_index",
                    start(3, 0, snapshot(LIMIT, 2, v), LIMIT, &[]),
                    beyond,
                ),
                (
                    "entries after a snapshot",
                    start(3, 0, snapshot(v, 2, 1), v, &after[..]),
                    v >= LIMIT,
                ),
            ];
            for (field, event, beyond) in cases {
                let mut r = Raft::new(id, &address(id), &TEST_FORMAT);
                let what = format!("Start.{field} = {v} on server {id}");
                check(&what, &mut r, v, event, beyond, invalid);
            }
        }
    }
}

#[test]
fn host_events_at_the_limits() {
    for v in VALUES {
        let beyond = v > LIMIT;
        for (name, _) in servers() {
            let metadata = |index, term, configuration_index| SnapshotMetadata {
                index,
                term,
                configuration: conf(&[1, 2, 3]),
                configuration_index,
            };
            let cases: Vec<(&str, Event<'_>, bool, Refusal)> = vec![
                ("PersistedEntries.index", Event::PersistedEntries { index: v }, beyond, invalid),
                (
                    "PersistedSnapshot.metadata",
                    Event::PersistedSnapshot { metadata: metadata(v, v, v) },
                    beyond,
                    invalid,
                ),
                ("Configuration.index", Event::Configuration { index: v }, false, any),
                (
                    "Snapshot.index",
                    Event::Snapshot { metadata: metadata(v, 2, 1), trailing: 0 },
                    beyond,
                    invalid,
                ),
                (
                    "Snapshot.term",
                    Event::Snapshot { metadata: metadata(1, v, 1), trailing: 0 },
                    beyond,
                    invalid,
                ),
                (
                    "Snapshot.configuration_index",
                    Event::Snapshot { metadata: metadata(1, 1, v), trailing: 0 },
                    beyond,
                    invalid,
                ),
                ("Timeout", Event::Timeout, false, any),
                ("CatchUp.server_id", Event::CatchUp { server_id: v }, false, any),
                ("Transfer.server_id", Event::Transfer { server_id: v }, false, any),
            ];
            for (field, event, beyond, refusal) in cases {
                let mut r = servers().into_iter().find(|(n, _)| *n == name).unwrap().1;
                let now = r.timeout().max(v);
                let what = format!("{field} = {v} on {name} at {now}");
                check(&what, &mut r, now, event, beyond, refusal);
            }
        }
    }
}

/// Trailing counts, from none to all of `u32`, on a committed log.
#[test]
fn snapshot_trailing_at_the_limits() {
    for trailing in [0, 1, u32::MAX - 1, u32::MAX] {
        let mut r = follower(&[entry(2), entry(2)]);
        let heartbeat = Incoming::AppendEntries {
            term: 2,
            prev_log_index: 3,
            prev_log_term: 2,
            leader_commit: 3,
            entries: &[],
        };
        receive(&mut r, 20, 1, heartbeat).unwrap();
        let metadata = SnapshotMetadata {
            index: 3,
            term: 2,
            configuration: conf(&[1, 2, 3]),
            configuration_index: 1,
        };
        step(&mut r, 21, Event::Snapshot { metadata, trailing }).unwrap();
        assert_eq!(r.snapshot_index(), 3);
        keep_busy(&format!("trailing {trailing}"), &mut r, 21);
    }
}

/// A term adopted at the limit leaves no room for an election: the server stays a follower
/// instead of wrapping to term 0.
#[test]
fn term_at_the_limit_never_wraps() {
    let mut r = started(2, &[1, 2, 3]);
    let rv = RequestVote {
        term: LIMIT,
        candidate_id: 3,
        last_log_index: 1,
        last_log_term: 1,
        disrupt_leader: false,
        pre_vote: false,
    };
    receive(&mut r, 5, 3, Incoming::RequestVote(rv)).unwrap();
    assert_eq!(r.current_term(), LIMIT);
    for _ in 0..3 {
        let deadline = r.timeout();
        let out = step(&mut r, deadline, Event::Timeout).unwrap();
        assert!(!out.term_changed && out.messages.is_empty());
        assert_eq!((r.current_term(), r.state()), (LIMIT, State::Follower));
    }
}

/// Deadlines near the end of time saturate instead of wrapping into the past.
#[test]
fn deadlines_near_the_end_of_time_saturate() {
    let mut r = started(2, &[1, 2, 3]);
    step(&mut r, u64::MAX - 10, Event::Timeout).unwrap();
    assert_eq!(r.state(), State::Candidate, "the election timer had expired long before");
    assert_eq!(r.timeout(), u64::MAX, "the next deadline wrapped");
    let (mut l, _) = leader(&[1, 2, 3]);
    step(&mut l, u64::MAX - 10, Event::Timeout).unwrap();
    assert!(l.timeout() >= u64::MAX - 10);
}
