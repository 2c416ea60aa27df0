//! The C ABI: the only module with `unsafe` code. It converts between the `#[repr(C)]` types
//! of `include/raft.h` and the core's safe types, checks every pointer, catches every panic,
//! and moves memory ownership across the boundary as the header documents.

mod boundary;
mod classic;
pub mod classic_types;
pub mod codec_types;
mod configuration;
mod decoder;
mod disk;
mod entries;
mod files;
/// Generated into include/raft/fixture.h on its own (cbindgen-fixture.toml), not into raft.h.
/// cbindgen:ignore
pub mod fixture;
mod heap;
mod instance;
mod message;
mod metrics;
mod published;
mod step;
mod tracer;
pub mod types;
mod util;
/// Generated into include/raft/uv.h on its own (cbindgen-uv.toml), not into raft.h.
/// cbindgen:ignore
pub mod uv;
mod wire;
