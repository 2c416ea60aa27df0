//! What a leader knows about each follower: how far its log matches, what to send next, and in
//! which mode (probing for the match point, pipelining entries, or installing a snapshot).

use std::sync::Arc;

use super::snapshot_chunks::Stream;
use super::types::{CatchUpStatus, Id, Index, Time};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The match point is unknown: one AppendEntries per heartbeat interval until one succeeds.
    Probe,
    /// The match point is known: send entries as soon as they exist, within the in-flight limit.
    Pipeline,
    /// The follower needs entries the leader compacted: an InstallSnapshot is out, whole
    /// (`stream` None) or in chunks. `sent_at` is when it was sent or last made progress.
    Snapshot { index: Index, sent_at: Time, stream: Option<Stream> },
}

/// A catch-up round of a server about to be promoted (docs/contract.md#raft_catch_up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CatchUp {
    pub status: CatchUpStatus,
    pub round: u32,
    pub target: Index,
    pub round_start: Time,
}

impl CatchUp {
    pub const NONE: CatchUp =
        CatchUp { status: CatchUpStatus::None, round: 0, target: 0, round_start: 0 };
}

#[derive(Clone, Debug)]
pub(crate) struct Progress {
    pub id: Id,
    pub address: Arc<str>,
    pub next: Index,
    /// Highest index known to be durably stored by the follower and matching our log.
    pub matched: Index,
    pub mode: Mode,
    /// When we last sent anything (None: never in this term).
    pub last_send: Option<Time>,
    /// Heard from since the start of the current quorum-check period.
    pub recent_recv: bool,
    pub catch_up: CatchUp,
    /// Whether a TimeoutNow was already sent for the pending transfer.
    pub timeout_now_sent: bool,
    /// The highest read round the follower echoed in this term (`reads.rs`).
    pub read_echo: u64,
    /// Its last result of this term set the read feature bit (it runs this library).
    pub echoes_reads: bool,
    /// Whether its last AppendEntries result of the term set
    /// [`super::message::FEATURE_SNAPSHOT_CHUNKS`]; None before its first one.
    pub takes_chunks: Option<bool>,
}

impl Progress {
    pub fn new(id: Id, address: Arc<str>, last_index: Index) -> Progress {
        Progress {
            id,
            address,
            next: last_index + 1,
            matched: 0,
            mode: Mode::Probe,
            last_send: None,
            recent_recv: false,
            catch_up: CatchUp::NONE,
            timeout_now_sent: false,
            read_echo: 0,
            echoes_reads: false,
            takes_chunks: None,
        }
    }

    pub fn heartbeat_due(&self, now: Time, heartbeat: u32) -> bool {
        match self.last_send {
            None => true,
            Some(t) => now.saturating_sub(t) >= u64::from(heartbeat),
        }
    }

    /// Records an acknowledgement of `index`. Returns whether the match index moved.
    pub fn acknowledge(&mut self, index: Index) -> bool {
        let moved = index > self.matched;
        if moved {
            self.matched = index;
        }
        self.next = self.next.max(index + 1);
        moved
    }

    /// Applies a rejection of `rejected` with the follower's `hint` (already below `rejected`),
    /// `last` being the leader's last index. Returns false when the rejection is stale (it
    /// answers a message we no longer care about), so that duplicated and reordered results
    /// are ignored. A rejection of an index beyond `last` answers nothing this leader sent
    /// (a forged result, or one addressed to an earlier life of this server): it is ignored too.
    pub fn reject(&mut self, rejected: Index, hint: Index, last: Index) -> bool {
        if rejected > last {
            return false;
        }
        match self.mode {
            Mode::Snapshot { .. } => false,
            Mode::Pipeline => {
                if rejected <= self.matched {
                    return false;
                }
                self.retry_from(rejected, hint);
                self.mode = Mode::Probe;
                true
            }
            Mode::Probe => {
                if rejected != self.next - 1 {
                    return false;
                }
                self.retry_from(rejected, hint);
                true
            }
        }
    }

    /// The next index to probe after `rejected` failed: at most the follower's hint plus one,
    /// never above what failed nor at or below what is known to match. With `rejected` at most
    /// the leader's last index, the probe always names an entry the leader holds or compacted.
    fn retry_from(&mut self, rejected: Index, hint: Index) {
        self.next = rejected.min(hint.saturating_add(1)).max(self.matched + 1);
    }

    /// Gives up waiting for a snapshot acknowledgement and probes again.
    pub fn abort_snapshot(&mut self) {
        self.mode = Mode::Probe;
        self.next = self.matched + 1;
        self.last_send = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> Progress {
        Progress::new(2, Arc::from("2"), 10)
    }

    #[test]
    fn probe_backs_off_to_follower_hint() {
        let mut p = progress();
        assert!(p.reject(10, 4, 10));
        assert_eq!(p.next, 5);
        assert_eq!(p.mode, Mode::Probe);
    }

    #[test]
    fn probe_ignores_rejection_of_another_index() {
        let mut p = progress();
        assert!(!p.reject(7, 3, 10));
        assert_eq!(p.next, 11);
    }

    #[test]
    fn pipeline_rejection_falls_back_to_probe_above_match() {
        let mut p = progress();
        p.acknowledge(8);
        p.mode = Mode::Pipeline;
        p.next = 20;
        assert!(!p.reject(8, 2, 20), "stale rejection at or below match is ignored");
        assert!(p.reject(15, 2, 20));
        assert_eq!(p.next, 9, "never back off below the match index");
        assert_eq!(p.mode, Mode::Probe);
    }

    #[test]
    fn rejection_beyond_the_leaders_last_index_is_ignored() {
        let mut p = progress();
        p.acknowledge(5);
        p.mode = Mode::Pipeline;
        assert!(!p.reject(50, 49, 10), "no AppendEntries of ours had prev 50");
        assert_eq!((p.next, p.mode), (11, Mode::Pipeline));
        assert!(p.reject(10, 49, 10), "a hint beyond the rejection does not push next past it");
        assert_eq!((p.next, p.mode), (10, Mode::Probe));
    }

    #[test]
    fn acknowledgement_never_moves_match_backwards() {
        let mut p = progress();
        assert!(p.acknowledge(9));
        assert!(!p.acknowledge(5));
        assert_eq!(p.matched, 9);
        assert_eq!(p.next, 11);
    }
}
