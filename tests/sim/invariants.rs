//! Safety properties checked after every step of a simulation. The state is per thread so
//! that seeds can run in parallel test threads.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use raft::core::State;

use crate::host::{Entry, Host};

#[derive(Default)]
struct Observed {
    /// Every committed entry by index, as first applied anywhere.
    applied: HashMap<u64, Entry>,
    /// State machine digest after applying each index.
    digests: HashMap<u64, u64>,
    /// Every entry seen in a persisted log at (index, term), with its predecessor's term.
    logged: HashMap<(u64, u64), (Entry, Option<u64>)>,
    leaders: HashMap<u64, u64>,
    /// For each term, the highest index a leader of that term committed, and its entry term.
    commits: BTreeMap<u64, (u64, u64)>,
}

thread_local! {
    static OBSERVED: RefCell<Observed> = RefCell::new(Observed::default());
}

pub fn reset() {
    OBSERVED.with(|o| *o.borrow_mut() = Observed::default());
}

/// State machine safety: every server applies the same entry at each index.
pub fn record_applied(node: u64, index: u64, entry: &Entry) {
    OBSERVED.with(|o| {
        let mut o = o.borrow_mut();
        match o.applied.get(&index) {
            Some(e) => assert_eq!(e, entry, "node {node} applied a different entry at {index}"),
            None => {
                o.applied.insert(index, entry.clone());
            }
        }
    });
}

pub fn record_digest(node: u64, index: u64, digest: u64) {
    OBSERVED.with(|o| {
        let mut o = o.borrow_mut();
        let d = *o.digests.entry(index).or_insert(digest);
        assert_eq!(d, digest, "node {node}: state machine differs after {index}");
    });
}

/// Log matching over persisted logs: an (index, term) pair always names the same entry with
/// the same predecessor term, which by induction makes the prefixes equal.
pub fn check_disk_log(host: &Host) {
    let disk = &host.disk;
    let snapshot = disk.snapshot.as_ref().map(|(m, _)| (m.index, m.term));
    OBSERVED.with(|o| {
        let mut o = o.borrow_mut();
        // Only the tail can be new; older entries were checked when written.
        let from = disk.entries.len().saturating_sub(64);
        for (k, e) in disk.entries.iter().enumerate().skip(from) {
            let index = disk.start + k as u64;
            let prev = if k > 0 {
                Some(disk.entries[k - 1].term)
            } else if index == 1 {
                Some(0)
            } else {
                snapshot.filter(|(i, _)| *i + 1 == index).map(|(_, t)| t)
            };
            match o.logged.get(&(index, e.term)) {
                Some((seen, seen_prev)) => {
                    assert_eq!(seen, e, "node {}: log matching violated at {index}", host.id);
                    if let (Some(a), Some(b)) = (seen_prev, prev) {
                        assert_eq!(*a, b, "node {}: prefix differs before {index}", host.id);
                    }
                }
                None => {
                    o.logged.insert((index, e.term), (e.clone(), prev));
                }
            }
        }
    });
}

/// Checks of one server after each of its steps.
pub fn check_node(host: &Host) {
    let raft = &host.raft;
    // The configuration in effect is the latest one in the log (or the snapshot's).
    let expected = host.confs.last().map(|(_, c)| c.clone()).unwrap_or_default();
    assert_eq!(raft.configuration(), &expected, "node {}: configuration", host.id);
    if raft.state() != State::Leader {
        return;
    }
    OBSERVED.with(|o| {
        let mut o = o.borrow_mut();
        // Election safety: at most one leader per term.
        let leader = *o.leaders.entry(raft.current_term()).or_insert(host.id);
        assert_eq!(leader, host.id, "two leaders in term {}", raft.current_term());
        // Leader completeness: the leader holds every entry committed in an earlier term.
        for (&t, &(index, term)) in o.commits.range(..raft.current_term()) {
            if index > raft.snapshot_index() {
                assert_eq!(
                    raft.term_of(index),
                    Some(term),
                    "leader {} of term {} lacks entry {index} committed in term {t}",
                    host.id,
                    raft.current_term()
                );
            }
        }
    });
}

/// A leader of `term` committed up to `index`, whose entry has `entry_term`.
pub fn record_commit(term: u64, index: u64, entry_term: u64) {
    OBSERVED.with(|o| {
        let mut o = o.borrow_mut();
        let slot = o.commits.entry(term).or_insert((0, 0));
        if index > slot.0 {
            *slot = (index, entry_term);
        }
    });
}
