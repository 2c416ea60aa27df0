//! A Raft consensus library with a C-Raft compatible C ABI.
//!
//! Layers:
//! - [`core`]: the Raft protocol as a deterministic state machine in safe Rust. No I/O, no clock,
//!   no C types. Time and randomness come in as inputs.
//! - [`codec`]: C-Raft's wire and disk formats, as pure functions over byte slices.
//! - [`ffi`]: the C ABI of `include/raft.h`, the one module that handles raw pointers.

// The header is generated from `ffi` alone (cbindgen:ignore keeps the safe layers out of it).

/// cbindgen:ignore
pub mod codec;
/// cbindgen:ignore
pub mod core;
pub mod ffi;
