//! Replays the event-sequence fuzz targets (fuzz/cluster) under a normal `cargo test`: every
//! saved input of `fuzz/regressions/{core_events,ffi_events}/` and a few thousand seeded
//! random inputs, so that the cluster properties hold on stable Rust too.

#[path = "../fuzz/cluster/mod.rs"]
mod cluster;
mod common;

use std::path::Path;

use common::Rng;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 2] =
    [("core_events", cluster::core_events), ("ffi_events", cluster::ffi_events)];

fn saved_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files.iter().map(|f| (f.display().to_string(), std::fs::read(f).unwrap())).collect()
}

#[test]
fn saved_inputs_pass_the_event_checks() {
    for (target, check) in TARGETS {
        for (name, input) in saved_inputs(target) {
            eprintln!("replaying {name}");
            check(&input);
        }
    }
}

/// Random bytes decode into random scenarios: a mix of honest rounds and forged events. A
/// failing input is saved under target/ for `cargo fuzz run TARGET FILE` and minimisation.
fn random_inputs(name: &str, target: Target, seed: u64, count: usize) {
    let mut rng = Rng::new(seed);
    for _ in 0..count {
        let len = 16 + rng.below(1024) as usize;
        let input = rng.bytes(len);
        let outcome = std::panic::catch_unwind(|| target(&input));
        if let Err(panic) = outcome {
            let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-failure"));
            std::fs::write(&file, &input).unwrap();
            eprintln!("failing input saved to {}", file.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn random_event_sequences_through_the_core_keep_raft_safe() {
    random_inputs("core_events", cluster::core_events, 0xE7E0, 2000);
}

#[test]
fn random_event_sequences_through_the_c_abi_keep_raft_safe_and_memory_owned() {
    random_inputs("ffi_events", cluster::ffi_events, 0xE7E1, 2000);
}

/// `RAFT_FUZZ_INPUT=FILE cargo test --test fuzz_events replay_one -- --nocapture` replays one
/// input file on both targets (with RAFT_FUZZ_TRACE=1 to see every step).
#[test]
fn replay_one() {
    if let Some(file) = std::env::var_os("RAFT_FUZZ_INPUT") {
        let input = std::fs::read(file).unwrap();
        let target = std::env::var("RAFT_FUZZ_TARGET").unwrap_or_default();
        for (name, check) in TARGETS {
            if target.is_empty() || target == name {
                check(&input);
            }
        }
    }
}
