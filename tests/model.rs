//! Bounded model checking of the real core (`raft::core::Raft`) with stateright.
//!
//! Three servers, each a real `Raft` behind a minimal host (see `model/cluster.rs`), connected
//! by a network that loses, duplicates and reorders messages. Actions: deliver, drop or
//! duplicate a message; fire a server's timer; make a server's oldest pending write durable;
//! crash and restart a server (losing unpersisted writes); submit a command on a leader;
//! submit a configuration that demotes a voter to stand-by or promotes a stand-by. Every state
//! reached within the bounds is checked for election safety, log matching, leader completeness
//! and state machine safety (Raft §5.2–5.4), and for the core accepting every honest event
//! without panicking. "Sometimes" properties show that the search gets somewhere.
//!
//! The breadth-first search finds a shortest action sequence to any violation; it is printed.
//!
//! `cargo test --test model` runs small bounds (well under a minute on two cores in a debug
//! build). `make model` runs the long check: `MODEL_DEPTH` (actions from the initial state),
//! `MODEL_CRASHES`, `MODEL_COMMANDS`, `MODEL_CHANGES`, `MODEL_TERM`, `MODEL_IN_FLIGHT` and
//! `MODEL_THREADS` override the bounds of every test.
//!
//! One thread by default: stateright's single-threaded search is strictly breadth-first, so
//! every state within the depth is reached and checked. With several threads a state can be
//! reached first by a longer path and its successors then fall outside the depth (about 0.6%
//! of the states of `three_voters` at depth 6 were missed with two threads).

#[path = "model/checker.rs"]
mod checker;
#[path = "model/cluster.rs"]
mod cluster;

use std::time::Instant;

use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};

use checker::{describe, Action, Bounds, Prefix, RaftModel};
use cluster::Seat::{Standby, Voter};
use cluster::{Cluster, Roles};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// A check: the initial configuration and prefix, the bounds, the depth (in actions after the
/// prefix) and the "sometimes" properties the search must reach within them.
struct Check {
    name: &'static str,
    initial: Roles,
    prefix: Prefix,
    pre_vote: bool,
    bounds: Bounds,
    /// Depth of a debug build (`cargo test`) and of an optimised one (`make model`).
    depth: (usize, usize),
    must_reach: &'static [&'static str],
}

/// What one breadth-first search found.
struct Outcome {
    /// The first violation found (property name and trace), if any.
    violation: Option<(&'static str, Path<Cluster, Action>)>,
    reached: Vec<&'static str>,
}

impl Check {
    fn with_overrides(mut self) -> (Check, usize) {
        let default = if cfg!(debug_assertions) { self.depth.0 } else { self.depth.1 };
        let depth = env_or("MODEL_DEPTH", default);
        let b = &mut self.bounds;
        b.max_term = env_or("MODEL_TERM", b.max_term);
        b.max_commands = env_or("MODEL_COMMANDS", b.max_commands);
        b.max_changes = env_or("MODEL_CHANGES", b.max_changes);
        b.max_crashes = env_or("MODEL_CRASHES", b.max_crashes);
        b.max_in_flight = env_or("MODEL_IN_FLIGHT", b.max_in_flight);
        (self, depth)
    }

    fn model(&self) -> RaftModel {
        RaftModel {
            initial: self.initial,
            prefix: self.prefix,
            pre_vote: self.pre_vote,
            bounds: self.bounds.clone(),
        }
    }

    /// Explores every state at most `depth` actions away, stopping at the first violation.
    fn search(&self, depth: usize, report: bool) -> Outcome {
        let threads = env_or("MODEL_THREADS", 1);
        let model = self.model();
        let properties = model.properties();
        let started = Instant::now();
        // stateright neither checks nor expands states at the target depth, and the initial
        // states are at depth 1: + 2 checks every state `depth` actions away.
        let checker = model
            .checker()
            .threads(threads)
            .target_max_depth(depth + 2)
            .finish_when(HasDiscoveries::AnyFailures)
            .spawn_bfs()
            .join();
        if report {
            eprintln!(
                "model {}: {:?} from {:?}, pre-vote {}, {depth} actions, {:?}: {} states generated, {} \
                 unique, max depth {} ({threads} threads, {:.1} s)",
                self.name,
                self.initial,
                self.prefix,
                self.pre_vote,
                self.bounds,
                checker.state_count(),
                checker.unique_state_count(),
                checker.max_depth(),
                started.elapsed().as_secs_f64()
            );
        }
        let mut outcome = Outcome { violation: None, reached: Vec::new() };
        for p in &properties {
            match (&p.expectation, checker.discovery(p.name)) {
                (Expectation::Always, Some(path)) if outcome.violation.is_none() => {
                    outcome.violation = Some((p.name, path));
                }
                (Expectation::Sometimes, Some(_)) => outcome.reached.push(p.name),
                _ => {}
            }
        }
        outcome
    }

    /// Runs the search; on a violation, searches again with fewer actions until the shortest
    /// trace is found (the parallel search may report a longer one first), and fails with it.
    fn run(self) {
        let (check, depth) = self.with_overrides();
        let outcome = check.search(depth, true);
        let names = check
            .model()
            .properties()
            .into_iter()
            .filter(|p| matches!(p.expectation, Expectation::Sometimes));
        for p in names {
            let reached = outcome.reached.contains(&p.name);
            eprintln!("  {}: {}", p.name, if reached { "reached" } else { "not reached" });
        }
        if let Some((mut violated, mut path)) = outcome.violation {
            loop {
                let shorter = path.clone().into_actions().len() - 1;
                match check.search(shorter, false).violation {
                    Some((n, p)) if shorter > 0 => (violated, path) = (n, p),
                    _ => break,
                }
            }
            let (name, prefix, path) = (check.name, check.prefix, trace(path));
            panic!("model {name}: {violated} violated, after the prefix {prefix:?}:\n{path}");
        }
        let missed: Vec<_> =
            check.must_reach.iter().filter(|n| !outcome.reached.contains(n)).collect();
        assert!(missed.is_empty(), "model {}: never reached {missed:?}", check.name);
    }
}

fn trace(path: Path<Cluster, Action>) -> String {
    let mut out = String::new();
    let steps = path.into_vec();
    for (k, (_, action)) in steps.iter().enumerate() {
        if let Some(action) = action {
            out.push_str(&format!("  {:>2}. {}\n", k + 1, describe(action)));
        }
    }
    if let Some((last, _)) = steps.last() {
        for s in &last.servers {
            out.push_str(&format!(
                "  server {}: {:?} term {} commit {} log {:?}\n",
                s.id, s.observed.state, s.observed.term, s.observed.commit, s.log
            ));
        }
        out.push_str(&format!(
            "  leaders (term, id): {:?}\n",
            last.history.leaders.keys().collect::<Vec<_>>()
        ));
        for f in &last.history.faults {
            out.push_str(&format!("  fault: {f}\n"));
        }
    }
    out
}

#[test]
fn three_voters() {
    Check {
        name: "three voters",
        initial: [Voter, Voter, Voter],
        pre_vote: false,
        prefix: Prefix::Bootstrap,
        bounds: Bounds {
            max_term: 3,
            max_commands: 1,
            max_changes: 1,
            max_crashes: 1,
            max_in_flight: 4,
        },
        depth: (7, 8),
        must_reach: &["a leader is elected"],
    }
    .run();
}

/// Elections with the pre-vote phase (dissertation §9.6): a pre-vote round changes no term.
#[test]
fn three_voters_with_pre_vote() {
    Check {
        name: "three voters, pre-vote",
        initial: [Voter, Voter, Voter],
        pre_vote: true,
        prefix: Prefix::Bootstrap,
        bounds: Bounds {
            max_term: 3,
            max_commands: 1,
            max_changes: 1,
            max_crashes: 1,
            max_in_flight: 4,
        },
        depth: (7, 9),
        must_reach: &["a leader is elected"],
    }
    .run();
}

#[test]
fn replication_under_a_leader() {
    Check {
        name: "replication",
        initial: [Voter, Voter, Voter],
        pre_vote: false,
        prefix: Prefix::Elected(1),
        bounds: Bounds {
            max_term: 3,
            max_commands: 1,
            max_changes: 1,
            max_crashes: 1,
            max_in_flight: 4,
        },
        depth: (5, 7),
        must_reach: &["a command is committed"],
    }
    .run();
}

/// Demote a voter to leave a single one, with no crash: the membership rules alone (one voter
/// changes at a time, effective when appended; dissertation §4.1).
#[test]
fn shrink_to_one_voter() {
    Check {
        name: "shrink",
        initial: [Voter, Voter, Standby],
        pre_vote: false,
        prefix: Prefix::Elected(1),
        bounds: Bounds {
            max_term: 3,
            max_commands: 0,
            max_changes: 2,
            max_crashes: 0,
            max_in_flight: 4,
        },
        depth: (5, 8),
        must_reach: &["a single-voter configuration is committed"],
    }
    .run();
}

/// Promote a stand-by next to a single voter (which leads from RAFT_START), with no crash.
#[test]
fn grow_from_one_voter() {
    Check {
        name: "grow",
        initial: [Voter, Standby, Standby],
        pre_vote: false,
        prefix: Prefix::Settled,
        bounds: Bounds {
            max_term: 3,
            max_commands: 0,
            max_changes: 2,
            max_crashes: 0,
            max_in_flight: 4,
        },
        depth: (5, 8),
        must_reach: &["a single voter grows back to two"],
    }
    .run();
}

/// Shrinking to one voter with a crash-restart. Before the fix of issue 11 item 4 (a sole voter
/// led at RAFT_START in its durable term), four actions gave two leaders in term 2: leader 1
/// submits a configuration making 2 the only voter, 2 receives and persists it, 2 crashes and
/// restarts and leads term 2 as well.
#[test]
fn shrink_to_one_voter_with_a_crash() {
    Check {
        name: "shrink with a crash",
        initial: [Voter, Voter, Standby],
        pre_vote: false,
        prefix: Prefix::Elected(1),
        bounds: Bounds {
            max_term: 3,
            max_commands: 1,
            max_changes: 2,
            max_crashes: 1,
            max_in_flight: 4,
        },
        depth: (5, 7),
        must_reach: &["a single-voter configuration is committed"],
    }
    .run();
}

/// Growing from one voter with a crash-restart and a command. Before the fix of issue 11 item 4,
/// four actions broke log matching: sole voter 1 replicates a command at index 2 of term 1 to
/// stand-by 2, crashes before persisting it, restarts leading term 1 again and writes a
/// different entry at index 2 of term 1.
#[test]
fn grow_from_one_voter_with_a_crash() {
    Check {
        name: "grow with a crash",
        initial: [Voter, Standby, Standby],
        pre_vote: false,
        prefix: Prefix::Settled,
        bounds: Bounds {
            max_term: 3,
            max_commands: 1,
            max_changes: 2,
            max_crashes: 1,
            max_in_flight: 4,
        },
        depth: (5, 7),
        must_reach: &["a single voter grows back to two"],
    }
    .run();
}

/// The properties are not vacuous: each one fails on a state that breaks its rule.
#[test]
fn properties_reject_states_that_break_them() {
    use checker::{election_safety, leader_completeness, log_matching, state_machine_safety};
    use cluster::{Data, Entry, StateTag};

    let base = Cluster::bootstrap(&[Voter, Voter, Voter], false);
    let command = |term, n| Entry { term, data: Data::Command(n) };
    assert!(election_safety(&base) && log_matching(&base));
    assert!(leader_completeness(&base) && state_machine_safety(&base));

    let mut two_leaders = base.clone();
    for leader in [(2, 1), (3, 1), (3, 2)] {
        two_leaders.history.leaders.or_insert(leader, ());
    }
    assert!(!election_safety(&two_leaders), "two leaders in term 3");

    let mut diverged = base.clone();
    diverged.server_mut(1).log.push(command(2, 1));
    diverged.server_mut(2).log.push(command(2, 2));
    assert!(!log_matching(&diverged), "index 2 of term 2 names two entries");
    let mut durable = base.clone();
    durable.server_mut(1).disk.log.extend([command(2, 1), command(3, 3)]);
    durable.server_mut(2).log.extend([command(1, 2), command(3, 3)]);
    assert!(!log_matching(&durable), "equal at index 3 of term 3, different before it");

    let mut forgetful = base.clone();
    forgetful.history.committed.or_insert(2, (2, command(2, 1)));
    forgetful.server_mut(3).observed.state = StateTag::Leader;
    forgetful.server_mut(3).observed.term = 2;
    assert!(leader_completeness(&forgetful), "committed in the leader's own term: not required");
    forgetful.server_mut(3).observed.term = 3;
    assert!(!leader_completeness(&forgetful), "committed in term 2, missing from leader of 3");

    let mut split_brain = base.clone();
    split_brain.history.committed.or_insert(2, (2, command(2, 1)));
    split_brain.server_mut(2).applied.push(command(2, 2));
    assert!(!state_machine_safety(&split_brain), "server 2 applied another entry at 2");
}
