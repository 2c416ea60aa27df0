//! The node's tunables, from the command line.

use std::collections::BTreeMap;

use raft::core::Id;

#[derive(Clone, Debug)]
pub struct Options {
    pub id: Id,
    /// Every server this node may talk to (itself included), by ID: the address is where its
    /// gRPC server listens. Bootstrap founds a cluster of the first N of them.
    pub peers: BTreeMap<Id, String>,
    pub election_timeout: u32,
    pub heartbeat_timeout: u32,
    pub install_snapshot_timeout: u32,
    /// Take a snapshot every this many applied entries (0: never).
    pub snapshot_threshold: u64,
    /// Entries kept before a snapshot, for followers slightly behind.
    pub snapshot_trailing: u32,
    /// Bytes of every streamed snapshot chunk but the last (the same on every node: a
    /// receiver finds the chunk number from the offset).
    pub chunk_size: usize,
}

impl Options {
    pub fn address(&self) -> &str {
        self.peers.get(&self.id).map_or("", String::as_str)
    }
}
