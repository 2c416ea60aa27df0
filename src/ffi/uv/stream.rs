//! Streamed snapshots through `raft_uv` (libraft-rs extension, docs/snapshots.md): what the
//! classic driver needs to store a received snapshot's chunks straight into the data directory
//! and to read the chunks it sends from there. `raft_io` has no method for either (its
//! `snapshot_put`/`snapshot_get` take whole snapshots), so the driver uses these only when the
//! instance's `raft_io` is ours ([`is_raft_uv`]). The work runs on the disk queue, in order
//! with appends and snapshot writes; the completion runs on the loop thread.

use super::super::boundary::Failure;
use super::super::classic_types::raft_io;
use super::super::types::{raft_index, raft_term};
use super::io::{self, instance, Job};
pub use super::io::{Chunk, ChunkDone};
use crate::storage::SnapshotHeader;

/// True when `io` was set up by `raft_uv_init` (its methods are ours).
///
/// # Safety
/// `io` must be a valid `raft_io`.
pub unsafe fn is_raft_uv(io: *mut raft_io) -> bool {
    // Compared as addresses: a `raft_io` whose `append` is this library's is one that
    // `raft_uv_init` filled in.
    // SAFETY: per the caller.
    unsafe { (*io).append }.map(|f| f as usize) == Some(io::io_append_address())
}

/// Queues the storing of a received chunk at `offset` of the snapshot `term`/`index`; with
/// `last`, the chunk completes the snapshot, which then replaces the log, and `done` receives
/// its whole data for the state machine.
///
/// # Safety
/// `io` must be a `raft_io` for which [`is_raft_uv`] holds.
pub unsafe fn store_chunk(
    io: *mut raft_io,
    term: raft_term,
    index: raft_index,
    offset: u64,
    data: Vec<u8>,
    last: Option<SnapshotHeader>,
    done: ChunkDone,
) -> Result<(), Failure> {
    // SAFETY: per the caller.
    let uv = unsafe { instance(io) }.ok_or_else(|| Failure::invalid("not a raft_uv instance"))?;
    // SAFETY: the instance's loop, alive while the instance is; the timestamp orders
    // snapshots of equal term and index, as in `snapshot_put`.
    let last = last.map(|s| (s, unsafe { super::sys::uv_now(uv.r#loop) }));
    io::queue_job(uv, Job::StoreChunk { term, index, offset, data, last, done })
}

/// Queues the reading of bytes `offset .. offset + len` of the stored snapshot at `index`,
/// with its configuration when the chunk is the `last`.
///
/// # Safety
/// As [`store_chunk`].
pub unsafe fn read_chunk(
    io: *mut raft_io,
    index: raft_index,
    offset: u64,
    len: u64,
    last: bool,
    done: ChunkDone,
) -> Result<(), Failure> {
    // SAFETY: per the caller.
    let uv = unsafe { instance(io) }.ok_or_else(|| Failure::invalid("not a raft_uv instance"))?;
    io::queue_job(uv, Job::ReadChunk { index, offset, len, last, done })
}
