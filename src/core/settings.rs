//! Tunables, with C-Raft's defaults (docs/contract.md#defaults).

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Base election timeout in ms; each reset draws uniformly in [T, 2T].
    pub election_timeout: u32,
    pub heartbeat_timeout: u32,
    pub install_snapshot_timeout: u32,
    pub pre_vote: bool,
    pub max_catch_up_rounds: u32,
    pub max_catch_up_round_duration: u32,
    /// Most entries sent to one follower beyond its acknowledged index.
    pub max_inflight_entries: u32,
    /// 0 disables the capacity check of submissions.
    pub capacity_threshold: u16,
    /// Serve reads from the leader's lease, without a round of acknowledgements (`reads.rs`).
    pub read_lease: bool,
    /// The most the clocks of two servers may drift apart over one election timeout, in ms: the
    /// lease is that much shorter than the election timeout.
    pub max_clock_drift: u32,
    /// Streamed snapshots (`snapshot_chunks.rs`): the size of the chunks this server sends as
    /// leader, and whether it takes chunks as follower. 0 (the default): snapshots travel
    /// whole, as with C-Raft.
    pub snapshot_chunk_size: u64,
    /// The most chunks a leader sends to one follower beyond those it acknowledged.
    pub snapshot_chunk_window: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            election_timeout: 1000,
            heartbeat_timeout: 100,
            install_snapshot_timeout: 30_000,
            pre_vote: false,
            max_catch_up_rounds: 10,
            max_catch_up_round_duration: 5000,
            max_inflight_entries: 32,
            capacity_threshold: 0,
            read_lease: false,
            max_clock_drift: 100,
            snapshot_chunk_size: 0,
            snapshot_chunk_window: 4,
        }
    }
}
