//! The commit rules, on both sides (Raft §5.3, §5.4.2): the leader commits an entry of its
//! current term once a majority of voters durably stores it, earlier entries with it; a
//! follower commits what its leader says is committed, but never beyond the entries that
//! leader vouched for in this term. Neither ever lowers the commit index.

use super::raft::{Ctx, Raft, Status};
use super::trace::LEVEL_INFO;
use super::types::Index;
use crate::raft_trace;

impl Raft {
    /// Leader: advances the commit index to what a majority of voters stores (see
    /// [`Raft::quorum_match_index`]).
    pub(super) fn maybe_commit(&mut self, cx: &mut Ctx<'_>) {
        let candidate = self.quorum_match_index();
        // Only an entry of the current term is committed by counting (Raft §5.4.2): an older
        // one could still be overwritten by a leader that never saw it.
        if candidate > self.commit && self.log.term_of(candidate) == Some(self.term) {
            self.set_commit(cx, candidate);
            self.on_commit_for_reads(cx);
        }
    }

    /// Follower: the leader of this term vouched that our log matches its own up to
    /// `vouched` and says it committed up to `leader_commit`. Entries beyond what it vouched
    /// for may still differ from its log, so they are not committed yet.
    pub(super) fn follow_leader_commit(
        &mut self,
        cx: &mut Ctx<'_>,
        leader_commit: Index,
        vouched: Index,
    ) {
        self.mark_verified(vouched);
        self.set_commit(cx, leader_commit.min(vouched));
    }

    /// Follower: our log matches the leader's up to `index` (what it sent, or a snapshot it
    /// sent, which holds committed entries only). Acknowledgements never go beyond it.
    pub(super) fn mark_verified(&mut self, index: Index) {
        if let Status::Follower(f) = &mut self.status {
            f.verified = Some(f.verified.unwrap_or(0).max(index));
        }
    }

    /// Moves the commit index up to `index`; never down (a committed entry stays committed).
    pub(crate) fn set_commit(&mut self, cx: &mut Ctx<'_>, index: Index) {
        if index > self.commit {
            raft_trace!(cx.tracer, LEVEL_INFO, "  commit index {} -> {index}", self.commit);
            self.commit = index;
            cx.update.commit_index_changed = true;
        }
    }
}
