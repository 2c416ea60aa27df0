//! `raft/uv.h`: C-Raft's libuv back-end (`raft_uv_init`, `raft_uv_tcp_init`...) on the host's
//! `uv_loop_t` (docs/uv.md). The data directory is read and written by the safe
//! `crate::storage` layer (C-Raft's format, through `crate::codec::disk`) on libuv's thread
//! pool; messages are encoded and decoded by `crate::codec::wire`.
//!
//! - [`abi`]: the C types and functions of include/raft/uv.h (generated from that file alone).
//! - `io`: the `raft_io` methods, the instance's life cycle and the disk queue.
//! - `net`: connections to and from peers over the transport's streams.
//! - `ring`: appends through io_uring, where the kernel allows it.
//! - `tcp`: the TCP transport.
//! - [`stream`]: streamed snapshots into and out of the data directory, for the classic driver.
//! - `sys`: the libuv functions called, declared against the system library.

pub mod abi;
mod io;
mod net;
mod ring;
pub mod stream;
mod sys;
mod tcp;
