//! C-Raft's formats as pure functions over bytes: no files, no sockets.
//!
//! - [`wire`]: the TCP handshake and messages, with an incremental stream decoder.
//! - [`disk`]: metadata files, segments and their batches, segment and snapshot file names,
//!   snapshot `.meta` files and (possibly LZ4-compressed) snapshot data.
//! - [`configuration`]: the configuration encoding both of them embed.
//! - [`checksum`]: C-Raft's CRC variant.
//!
//! Every decoder returns an [`Error`] for malformed, truncated or oversized input; none panics,
//! reads out of bounds, or allocates more than its input or its limits justify.

pub mod checksum;
pub mod configuration;
mod cursor;
pub mod disk;
pub mod entry;
pub mod error;
pub mod wire;

pub use entry::Entry;
pub use error::{Error, ErrorKind, Result};
