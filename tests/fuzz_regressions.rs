//! Replays the fuzz targets' checks (fuzz/harness.rs) under a normal `cargo test`: on every saved
//! crash input (fuzz/regressions/TARGET/), on every seed (fuzz/seeds/TARGET/), and on a bounded
//! number of seeded random mutations of the seeds, so that the properties the fuzzers check
//! hold on stable Rust too.

mod common;
#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

use common::Rng;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("stream", harness::stream),
    ("batch", harness::batch),
    ("segment", harness::segment),
    ("configuration", harness::configuration),
    ("metadata", harness::metadata),
    ("snapshot", harness::snapshot),
];

fn inputs(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn saved_crash_inputs_and_seeds_pass_the_fuzz_checks() {
    let mut seeds = 0;
    for (target, check) in TARGETS {
        for input in inputs("regressions", target) {
            check(&input);
        }
        let target_seeds = inputs("seeds", target);
        assert!(!target_seeds.is_empty(), "no seeds for {target}");
        seeds += target_seeds.len();
        for input in target_seeds {
            check(&input);
        }
    }
    assert!(seeds >= 40);
}

/// Flips, overwrites, inserts, deletes and duplicates bytes, as a mutation fuzzer would.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len() as u64;
        let at = if len == 0 { 0 } else { rng.below(len) as usize };
        match rng.below(6) {
            0 if len > 0 => input[at] ^= 1 << rng.below(8),
            1 if len > 0 => input[at] = [0, 0xff, 1, 8, 0x80][rng.below(5) as usize],
            2 => input.insert(at, rng.next() as u8),
            3 if len > 0 => {
                let end = (at + 1 + rng.below(16) as usize).min(input.len());
                input.drain(at..end);
            }
            4 if len >= 8 => {
                let at = at.min(input.len() - 8);
                input[at..at + 8].copy_from_slice(&rng.below(1 << 20).to_le_bytes());
            }
            _ => input.truncate(at),
        }
    }
}

#[test]
fn random_mutations_of_the_seeds_pass_the_fuzz_checks() {
    for (i, (target, check)) in TARGETS.iter().enumerate() {
        let seeds = inputs("seeds", target);
        let mut rng = Rng::new(0xF022 + i as u64);
        for _ in 0..3000 {
            let mut input = seeds[rng.below(seeds.len() as u64) as usize].clone();
            mutate(&mut rng, &mut input);
            check(&input);
        }
    }
}
