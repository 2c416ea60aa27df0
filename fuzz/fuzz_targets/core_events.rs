#![no_main]

#[path = "../cluster/mod.rs"]
mod cluster;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cluster::core_events(data));
