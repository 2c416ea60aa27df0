//! Quorums: every question of the form "do enough voters ...?" is answered here, against the
//! voters of the configuration in effect (Raft §5.2, §5.3; dissertation §4.1: a configuration
//! takes effect as soon as it is in the log). Only voters count; stand-bys and spares never do.

use super::raft::{Raft, Status};
use super::types::{Index, Role};

/// Whether `count` of `voters` voters are a majority (more than half).
pub(super) fn is_majority(count: usize, voters: usize) -> bool {
    count > voters / 2
}

/// The highest index stored by a majority of `stored` (one value per voter): the value with
/// `len / 2` values at or above it.
pub(super) fn quorum_index(stored: &mut [Index]) -> Index {
    if stored.is_empty() {
        return 0;
    }
    let rank = stored.len() - 1 - stored.len() / 2;
    if stored.len() <= SMALL_QUORUM {
        // The common clusters (3 to 7 voters): an insertion sort in place costs a handful of
        // comparisons, less than the general selection's set-up.
        insertion_sort(stored);
        return stored[rank];
    }
    // Larger configurations: selection in O(voters).
    *stored.select_nth_unstable(rank).1
}

/// Up to this many voters, [`quorum_index`] sorts instead of selecting.
const SMALL_QUORUM: usize = 8;

fn insertion_sort(values: &mut [Index]) {
    for i in 1..values.len() {
        let mut j = i;
        while j > 0 && values[j - 1] > values[j] {
            values.swap(j - 1, j);
            j -= 1;
        }
    }
}

impl Raft {
    /// Whether `votes` voters form a majority of the current configuration's voters.
    pub(super) fn has_majority(&self, votes: usize) -> bool {
        is_majority(votes, self.membership.current.voter_count())
    }

    /// Whether this server is the only voter of its configuration, so that its own vote is a
    /// majority.
    pub(crate) fn is_sole_voter(&self) -> bool {
        let conf = &self.membership.current;
        conf.voter_count() == 1 && conf.is_voter(self.id)
    }

    /// Leader: the highest index a majority of voters durably stores, in O(voters). The leader
    /// counts its own durable index, never what it has only appended.
    pub(super) fn quorum_match_index(&mut self) -> Index {
        let Status::Leader(leader) = &mut self.status else {
            return 0;
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
        let index = quorum_index(&mut stored);
        leader.scratch = stored;
        index
    }

    /// Leader: the highest read round a majority of voters echoed (`reads.rs`); the leader's
    /// own echo is the round it started last.
    pub(super) fn quorum_read_round(&mut self) -> u64 {
        let Status::Leader(leader) = &mut self.status else {
            return 0;
        };
        let mut echoed = std::mem::take(&mut leader.scratch);
        echoed.clear();
        for server in self.membership.current.voters() {
            echoed.push(if server.id == self.id {
                leader.reads.latest_round()
            } else {
                leader.progress.iter().find(|p| p.id == server.id).map_or(0, |p| p.read_echo)
            });
        }
        let round = quorum_index(&mut echoed);
        leader.scratch = echoed;
        round
    }

    /// Whether the voters that echo read rounds (this leader and the followers whose results
    /// set the read feature) are a majority, so that echoes can confirm reads.
    pub(super) fn echoes_can_confirm(&self) -> bool {
        let Status::Leader(leader) = &self.status else {
            return false;
        };
        let echoing = self
            .membership
            .current
            .voters()
            .filter(|s| {
                s.id == self.id || leader.progress.iter().any(|p| p.id == s.id && p.echoes_reads)
            })
            .count();
        self.has_majority(echoing)
    }

    /// Check-quorum's count: whether the leader heard from a majority of voters (itself
    /// included) since the period began.
    pub(super) fn heard_from_majority(&self) -> bool {
        let Status::Leader(leader) = &self.status else {
            return false;
        };
        let heard = self
            .membership
            .current
            .voters()
            .filter(|s| {
                s.id == self.id || leader.progress.iter().any(|p| p.id == s.id && p.recent_recv)
            })
            .count();
        self.has_majority(heard)
    }

    /// Whether the capacity threshold blocks submissions: a majority of voters reports its
    /// capacity, and no majority of voters reports at least the threshold.
    pub(super) fn lacks_capacity(&self) -> bool {
        let min = self.settings.capacity_threshold;
        if min == 0 {
            return false;
        }
        let mut reporting = 0;
        let mut enough = 0;
        for voter in self.membership.current.voters() {
            let capacity = if voter.id == self.id {
                Some(self.capacity)
            } else {
                self.peer_capacity.iter().find(|(id, _)| *id == voter.id).map(|(_, c)| *c)
            };
            if let Some(capacity) = capacity {
                reporting += 1;
                enough += usize::from(capacity >= min);
            }
        }
        self.has_majority(reporting) && !self.has_majority(enough)
    }
}

#[cfg(test)]
mod tests {
    use super::{is_majority, quorum_index};

    #[test]
    fn a_majority_is_more_than_half() {
        assert!(!is_majority(0, 1) && is_majority(1, 1));
        assert!(!is_majority(1, 2) && is_majority(2, 2));
        assert!(!is_majority(1, 3) && is_majority(2, 3));
        assert!(!is_majority(2, 4) && is_majority(3, 4));
    }

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

    /// Both ways of finding it (sorting the small configurations, selecting in the large
    /// ones) agree with the definition: the largest value that at least a majority reach.
    #[test]
    fn majority_index_is_the_largest_value_a_majority_reaches() {
        let mut seed = 7u32;
        for len in 1..=20usize {
            for _ in 0..200 {
                let stored: Vec<u64> = (0..len)
                    .map(|_| u64::from(crate::core::random::random(&mut seed, 0, 5)))
                    .collect();
                let expected = (0..=5u64)
                    .filter(|&v| is_majority(stored.iter().filter(|&&s| s >= v).count(), len))
                    .max()
                    .unwrap_or(0);
                assert_eq!(quorum_index(&mut stored.clone()), expected, "{stored:?}");
            }
        }
    }

    #[test]
    fn single_voter_is_its_own_majority() {
        assert_eq!(quorum_index(&mut [4]), 4);
    }
}
