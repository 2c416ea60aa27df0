//! Structure-aware fuzzing of event sequences: a few servers (1-5) driven with honest events
//! (a small simulated cluster: messages delivered, duplicated, reordered and lost, writes
//! completed, time passing, crashes and restarts from what was persisted) mixed with forged
//! ones (arbitrary messages and values up to 2^64-1, out-of-order events, misuse of the API),
//! through the core API ([`core_events`]) or through the C ABI ([`ffi_events`]).
//!
//! Shared, through `#[path]`, by the cargo-fuzz targets `core_events` and `ffi_events` and by
//! `tests/fuzz_events.rs`, which replays saved inputs and seeded random ones on stable Rust.
//! Every function panics on a violated property and returns normally otherwise.

#![allow(dead_code)]

mod checks;
pub mod core_node;
mod driver;
pub mod ffi_node;
mod heap;
pub mod input;
mod model;
mod panics;

use arbitrary::{Arbitrary, Unstructured};

use driver::Cluster;
use input::Scenario;

/// Forged numbers stay below this when steering clear of open findings: the overflows near
/// 2^64 (issue 11, item 7) are open.
pub const CEILING_WHILE_OVERFLOWS_ARE_OPEN: u64 = 1 << 40;
/// A sole voter leads at its restart without a new term (issue 11, item 4).
pub const SOLE_VOTER_RESTARTS_ARE_SAFE: bool = false;
/// The C ABI panics when a lone voter wins an election (its barrier has no room reserved).
pub const LONE_VOTER_ELECTIONS_ARE_SAFE: bool = false;

/// Steers the runs of this thread clear of the findings still open, so that they explore
/// everything else meanwhile (see [`input::avoid_open_findings`]). Delete each constant above
/// (and its steering) when its fix lands.
pub fn steer_clear_of_open_findings() {
    input::avoid_open_findings(
        CEILING_WHILE_OVERFLOWS_ARE_OPEN,
        SOLE_VOTER_RESTARTS_ARE_SAFE,
        LONE_VOTER_ELECTIONS_ARE_SAFE,
    );
}

/// The fuzz targets steer when the environment says `RAFT_FUZZ_STEER=1` (fuzz/run.sh sets it
/// from `FUZZ_STEER`), or clear of some findings only, named in a comma-separated list
/// (`overflows`, `sole-voter-restarts`, `lone-voter-elections`: to minimise an input of another).
fn steer_from_environment() {
    let Ok(steer) = std::env::var("RAFT_FUZZ_STEER") else { return };
    if steer == "1" {
        steer_clear_of_open_findings();
        return;
    }
    let named = |name: &str| steer.split(',').any(|s| s == name);
    input::avoid_open_findings(
        if named("overflows") { CEILING_WHILE_OVERFLOWS_ARE_OPEN } else { u64::MAX },
        SOLE_VOTER_RESTARTS_ARE_SAFE || !named("sole-voter-restarts"),
        LONE_VOTER_ELECTIONS_ARE_SAFE || !named("lone-voter-elections"),
    );
}

fn scenario(data: &[u8]) -> Option<Scenario> {
    Scenario::arbitrary(&mut Unstructured::new(data)).ok()
}

/// Runs the input against nodes driven through the core API.
pub fn core_events(data: &[u8]) {
    panics::install();
    steer_from_environment();
    let Some(scenario) = scenario(data) else { return };
    let mut cluster = Cluster::<core_node::CoreNode>::new(&scenario);
    cluster.run(&scenario.actions);
    if std::env::var_os("RAFT_FUZZ_STATS").is_some() {
        eprintln!("actions {} {}", scenario.actions.len(), cluster.summary());
    }
}

/// Runs the input against nodes driven through the C ABI, with a counting raft heap: every
/// payload the library takes is freed exactly once or handed back, and nothing leaks.
pub fn ffi_events(data: &[u8]) {
    panics::install();
    steer_from_environment();
    let Some(scenario) = scenario(data) else { return };
    let _heap = heap::Counting::install();
    let mut cluster = Cluster::<ffi_node::FfiNode>::new(&scenario);
    cluster.run(&scenario.actions);
    drop(cluster.into_nodes());
    heap::assert_no_leak();
}
