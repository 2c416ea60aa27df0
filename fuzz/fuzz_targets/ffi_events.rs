#![no_main]

#[path = "../cluster/mod.rs"]
mod cluster;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cluster::ffi_events(data));
