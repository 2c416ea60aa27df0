//! Micro-benchmarks of the core's hot paths, through its public step API: a leader reading
//! AppendEntries results (match index, commit computation, next send), submissions, a follower
//! reading heartbeats, and term lookups. Run with `cargo bench --bench core`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use raft::codec::configuration as conf_codec;
use raft::core::message::{AppendEntriesResult, RequestVoteResult};
use raft::core::{
    Configuration, EntryType, EntryView, Event, Id, Incoming, Raft, Received, Role, State,
};

const PAYLOAD: [u8; 8] = [7; 8];

fn address(id: Id) -> String {
    format!("node-{id}")
}

fn started(id: Id, voters: u64) -> Raft {
    let mut conf = Configuration::new();
    for v in 1..=voters {
        conf.add(v, &address(v), Role::Voter).unwrap();
    }
    let payload = conf_codec::encode(&conf);
    let entries = [EntryView { term: 1, kind: EntryType::Change, payload: &payload }];
    let mut r = Raft::new(id, &address(id), &conf_codec::CRAFT);
    r.seed(id as u32);
    r.set_election_timeout(100, None);
    r.set_heartbeat_timeout(20);
    let start =
        Event::Start { term: 1, voted_for: 0, snapshot: None, start_index: 1, entries: &entries };
    r.step(1000, 100, start, None).unwrap();
    r
}

fn receive(r: &mut Raft, now: u64, from: Id, body: Incoming<'_>) {
    let from_address = address(from);
    let event =
        Event::Receive(Received { from, from_address: &from_address, body, read_context: 0 });
    r.step(now, 100, event, None).unwrap();
}

fn ack(term: u64, index: u64) -> Incoming<'static> {
    Incoming::AppendEntriesResult(AppendEntriesResult {
        term,
        rejected: 0,
        last_log_index: index,
        features: 1,
        capacity: 100,
    })
}

/// Server 1 leading `voters` voters, every follower in pipeline mode.
fn leader(voters: u64) -> (Raft, u64) {
    let mut r = started(1, voters);
    let now = r.timeout();
    r.step(now, 100, Event::Timeout, None).unwrap();
    let term = r.current_term();
    for from in 2..=voters {
        if r.state() == State::Leader {
            break;
        }
        let granted = RequestVoteResult {
            term,
            vote_granted: true,
            pre_vote: false,
            features: 1,
            capacity: 100,
        };
        receive(&mut r, now, from, Incoming::RequestVoteResult(granted));
    }
    assert_eq!(r.state(), State::Leader);
    r.set_max_inflight_entries(u32::MAX);
    let last = r.last_index();
    for from in 2..=voters {
        receive(&mut r, now, from, ack(term, last));
    }
    (r, now)
}

fn submit_one(r: &mut Raft, now: u64) {
    let entries =
        [EntryView { term: r.current_term(), kind: EntryType::Command, payload: &PAYLOAD }];
    r.step(now, 100, Event::Submit { entries: &entries }, None).unwrap();
}

fn bench_leader(c: &mut Criterion) {
    for voters in [3u64, 9] {
        // One AppendEntries result that moves a follower's match index (and, for every
        // follower of a majority, the commit index).
        let (mut r, now) = leader(voters);
        let term = r.current_term();
        let batch: Vec<EntryView<'_>> = (0..1 << 16)
            .map(|_| EntryView { term, kind: EntryType::Command, payload: &PAYLOAD })
            .collect();
        let mut acked = r.last_index();
        c.bench_function(&format!("step/append_entries_result/{voters}_voters"), |b| {
            b.iter(|| {
                if acked == r.last_index() {
                    r.step(now, 100, Event::Submit { entries: &batch }, None).unwrap();
                    let last = r.last_index();
                    r.step(now, 100, Event::PersistedEntries { index: last }, None).unwrap();
                }
                acked += 1;
                for from in 2..=voters {
                    receive(&mut r, now, from, black_box(ack(term, acked)));
                }
            })
        });

        // One submitted entry, sent at once to every follower.
        let (mut r, now) = leader(voters);
        c.bench_function(&format!("step/submit_one_entry/{voters}_voters"), |b| {
            b.iter(|| submit_one(&mut r, now))
        });

        // A full replication round of one entry: submit, persist, every follower acknowledges.
        let (mut r, now) = leader(voters);
        let term = r.current_term();
        c.bench_function(&format!("step/replicate_one_entry_round/{voters}_voters"), |b| {
            b.iter(|| {
                submit_one(&mut r, now);
                let last = r.last_index();
                r.step(now, 100, Event::PersistedEntries { index: last }, None).unwrap();
                for from in 2..=voters {
                    receive(&mut r, now, from, ack(term, last));
                }
            })
        });
    }
}

fn bench_follower(c: &mut Criterion) {
    let mut r = started(2, 3);
    let mut now = 1000;
    let heartbeat = |commit| Incoming::AppendEntries {
        term: 2,
        prev_log_index: 1,
        prev_log_term: 1,
        leader_commit: commit,
        entries: &[],
    };
    receive(&mut r, now, 1, heartbeat(1));
    c.bench_function("step/heartbeat_follower", |b| {
        b.iter(|| {
            now += 1;
            receive(&mut r, now, 1, black_box(heartbeat(1)));
        })
    });
}

fn bench_term_lookup(c: &mut Criterion) {
    let (mut r, now) = leader(3);
    let term = r.current_term();
    let batch: Vec<EntryView<'_>> = (0..1 << 16)
        .map(|_| EntryView { term, kind: EntryType::Command, payload: &PAYLOAD })
        .collect();
    for _ in 0..16 {
        r.step(now, 100, Event::Submit { entries: &batch }, None).unwrap();
    }
    let last = r.last_index();
    let mut i = 0u64;
    c.bench_function("log/term_of", |b| {
        b.iter(|| {
            i = (i + 7919) % last + 1;
            black_box(r.term_of(black_box(i)))
        })
    });
    c.bench_function("step/submit_batch_of_64", |b| {
        b.iter_batched(
            || leader(3),
            |(mut r, now)| {
                r.step(now, 100, Event::Submit { entries: &batch[..64] }, None).unwrap();
                r
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench_leader, bench_follower, bench_term_lookup);
criterion_main!(benches);
