//! The commit rule: an entry of the leader's current term is committed once a majority of
//! voters durably stores it; earlier entries commit with it.

use super::raft::{Ctx, Raft, Status};
use super::types::Role;

impl Raft {
    /// Advances the leader's commit index from the voters' match indexes, in O(voters): the
    /// leader counts its own durable index, never what it has only appended.
    pub(super) fn maybe_commit(&mut self, cx: &mut Ctx<'_>) {
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let mut stored = std::mem::take(&mut leader.scratch);
        stored.clear();
        let servers = &self.membership.current.servers;
        for (i, server) in servers.iter().enumerate() {
            if server.role != Role::Voter {
                continue;
            }
            // The progress list follows the configuration's order, so position i is the
            // server's own entry; the search is only a fallback should they ever differ.
            let progress = match leader.progress.get(i) {
                Some(p) if p.id == server.id => Some(p),
                _ => leader.progress.iter().find(|p| p.id == server.id),
            };
            stored.push(match progress {
                _ if server.id == self.id => self.durable,
                Some(p) => p.matched,
                None => 0,
            });
        }
        let candidate = quorum_index(&mut stored);
        leader.scratch = stored;
        // Only an entry of the current term is committed by counting (Raft §5.4.2): an older
        // one could still be overwritten by a leader that never saw it.
        if candidate > self.commit && self.log.term_of(candidate) == Some(self.term) {
            self.set_commit(cx, candidate);
        }
    }
}

/// The highest index stored by a majority of `stored` (one value per voter), found by
/// selection in O(voters): the value with `len / 2` values at or above it.
fn quorum_index(stored: &mut [u64]) -> u64 {
    if stored.is_empty() {
        return 0;
    }
    let rank = stored.len() - 1 - stored.len() / 2;
    *stored.select_nth_unstable(rank).1
}

#[cfg(test)]
mod tests {
    use super::quorum_index;

    #[test]
    fn majority_index_of_three_is_the_median() {
        assert_eq!(quorum_index(&mut [5, 9, 7]), 7);
    }

    #[test]
    fn majority_index_of_four_needs_three() {
        assert_eq!(quorum_index(&mut [10, 9, 2, 1]), 2);
    }

    #[test]
    fn majority_index_of_five_and_nine() {
        assert_eq!(quorum_index(&mut [1, 9, 3, 7, 5]), 5);
        assert_eq!(quorum_index(&mut [9, 8, 7, 6, 5, 4, 3, 2, 1]), 5);
        assert_eq!(quorum_index(&mut [4, 4, 1, 1, 4]), 4);
    }

    #[test]
    fn single_voter_is_its_own_majority() {
        assert_eq!(quorum_index(&mut [4]), 4);
    }
}
