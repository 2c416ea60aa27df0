//! C-Raft's data directory formats (`raft_uv`, docs/formats.md#disk), as pure functions over the
//! contents of files: the caller reads, writes, renames and deletes the files.
//!
//! - [`metadata`]: `metadata1`/`metadata2` (term and vote) and how to pick the current one.
//! - [`batch`]: the batches of entries segments are made of, with their two checksums.
//! - [`bootstrap`]: the files that found a new cluster.
//! - [`segment`]: closed segments (strict) and open segments (crash recovery of torn tails).
//! - [`names`]: the file names of segments, snapshots and metadata.
//! - [`snapshot`]: snapshot `.meta` files and snapshot data (raw or LZ4 frame).

pub mod batch;
pub mod bootstrap;
pub mod metadata;
pub mod names;
pub mod segment;
pub mod snapshot;

/// The only disk format version that exists; the first word of every file.
pub const FORMAT: u64 = 1;
