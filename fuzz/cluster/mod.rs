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

fn scenario(data: &[u8]) -> Option<Scenario> {
    Scenario::arbitrary(&mut Unstructured::new(data)).ok()
}

/// Runs the input against nodes driven through the core API.
pub fn core_events(data: &[u8]) {
    panics::install();
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
    let Some(scenario) = scenario(data) else { return };
    let _heap = heap::Counting::install();
    let mut cluster = Cluster::<ffi_node::FfiNode>::new(&scenario);
    cluster.run(&scenario.actions);
    drop(cluster.into_nodes());
    heap::assert_no_leak();
}
