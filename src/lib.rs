//! A Raft consensus library with a C-Raft compatible C ABI.
//!
//! Layers, with one-way dependencies: `vocab` is a leaf; `core` and `codec` each use `vocab`
//! and nothing else of the crate; `present` uses `core`; `ffi` uses them all.
//! - [`vocab`]: the words all layers share (IDs, terms, indexes, roles, configurations) and
//!   the [`vocab::ConfigurationFormat`] through which the core reads `Change` entries.
//! - [`core`]: the Raft protocol as a deterministic state machine in safe Rust. No I/O, no clock,
//!   no C types. Time and randomness come in as inputs.
//! - [`codec`]: C-Raft's wire and disk formats, as pure functions over byte slices. It does
//!   not know the core, and the core does not know it.
//! - [`present`]: text forms of the core's state (the metrics JSON); uses `core`.
//! - [`ffi`]: the C ABI of `include/raft.h`, the one module that handles raw pointers; it joins
//!   the core to the codec (handing the core C-Raft's configuration format).

// The header is generated from `ffi` alone (cbindgen:ignore keeps the safe layers out of it).

/// cbindgen:ignore
pub mod codec;
/// cbindgen:ignore
pub mod core;
pub mod ffi;
/// cbindgen:ignore
pub mod present;
pub mod storage;
/// cbindgen:ignore
pub mod vocab;
