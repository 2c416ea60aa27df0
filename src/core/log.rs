//! The log index ("term trail"): which indexes the log holds and the term of each, stored as runs
//! of equal terms. The core never keeps payloads, so memory is proportional to the number of
//! distinct terms in the retained log, and every lookup is a binary search over those runs.

use std::collections::VecDeque;

use super::types::{Index, Term, MAX_INDEX};

/// Whether `count` entries from `first` on all have indexes within [`MAX_INDEX`]: the check
/// every event or message that would grow the log passes first.
pub(crate) fn fits_below_max_index(first: Index, count: usize) -> bool {
    let count = Index::try_from(count).unwrap_or(Index::MAX);
    count == 0 || first.checked_add(count - 1).is_some_and(|last| last <= MAX_INDEX)
}

/// Consecutive entries of one term, starting at `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    first: Index,
    term: Term,
}

/// The terms of the entries `start ..= end`, and the position of the latest snapshot.
///
/// Entries at or below the snapshot may still be held (trailing entries kept for replication);
/// the snapshot position itself always has a known term even when its entry was compacted away.
#[derive(Clone, Debug, Default)]
pub(crate) struct Log {
    runs: VecDeque<Run>,
    /// First index held; `start > end` when no entry is held.
    start: Index,
    end: Index,
    snapshot_index: Index,
    snapshot_term: Term,
}

impl Log {
    /// An empty log whose first entry will be index 1.
    pub fn new() -> Log {
        Log { runs: VecDeque::new(), start: 1, end: 0, snapshot_index: 0, snapshot_term: 0 }
    }

    /// An empty log that ends at a snapshot: the next entry will be `index + 1`.
    pub fn restore(&mut self, index: Index, term: Term) {
        self.runs.clear();
        self.start = index + 1;
        self.end = index;
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Makes the log hold entries from `start` on (before anything is appended).
    pub fn set_start(&mut self, start: Index) {
        debug_assert!(self.runs.is_empty());
        self.start = start;
        self.end = start - 1;
    }

    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }

    /// First index held in the trail (meaningful only when not empty).
    pub fn first_held(&self) -> Index {
        self.start
    }

    pub fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    pub fn snapshot_term(&self) -> Term {
        self.snapshot_term
    }

    /// The index of the last entry, or of the snapshot when no later entry is held.
    pub fn last_index(&self) -> Index {
        if self.is_empty() {
            self.snapshot_index.max(self.end)
        } else {
            self.end
        }
    }

    pub fn last_term(&self) -> Term {
        self.term_of(self.last_index()).unwrap_or(0)
    }

    /// The term of the entry at `index`: 0 for index 0, `None` when the log neither holds it nor
    /// has it as its snapshot position.
    pub fn term_of(&self, index: Index) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        if index >= self.start && index <= self.end {
            let at = self.runs.partition_point(|run| run.first <= index);
            return Some(self.runs[at - 1].term);
        }
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        None
    }

    /// Whether the entry at `index` is known to be covered by the snapshot (and so committed).
    pub fn is_compacted(&self, index: Index) -> bool {
        index <= self.snapshot_index && (index < self.start || index > self.end)
    }

    /// Appends `count` entries of `term` after the last one.
    pub fn append(&mut self, term: Term, count: u64) {
        if count == 0 {
            return;
        }
        debug_assert!(self.runs.back().map_or(true, |run| term >= run.term));
        match self.runs.back() {
            Some(run) if run.term == term => {}
            _ => self.runs.push_back(Run { first: self.end + 1, term }),
        }
        self.end += count;
    }

    /// Drops every entry from `index` on. Never called at or below the snapshot.
    pub fn truncate(&mut self, index: Index) {
        debug_assert!(index > self.snapshot_index);
        if index > self.end {
            return;
        }
        while let Some(run) = self.runs.back() {
            if run.first >= index {
                self.runs.pop_back();
            } else {
                break;
            }
        }
        self.end = index - 1;
        if self.end < self.start {
            self.runs.clear();
            self.start = self.end + 1;
        }
    }

    /// Records a snapshot at `index` (which the log holds) and forgets entries up to `forget`.
    pub fn take_snapshot(&mut self, index: Index, term: Term, forget: Index) {
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.forget_up_to(forget);
    }

    /// Forgets entries at or below `index`.
    fn forget_up_to(&mut self, index: Index) {
        if index < self.start {
            return;
        }
        if index >= self.end {
            self.runs.clear();
            self.start = index + 1;
            self.end = index;
            return;
        }
        while self.runs.len() > 1 && self.runs[1].first <= index + 1 {
            self.runs.pop_front();
        }
        if let Some(front) = self.runs.front_mut() {
            front.first = index + 1;
        }
        self.start = index + 1;
    }

    /// The rejection hint for a failed consistency check at `prev_index`/`prev_term`: the last
    /// index at or below `prev_index` whose term is at most `prev_term` (the leader can skip a
    /// whole run of conflicting terms at once), never below the snapshot, whose prefix is
    /// committed and therefore matches any leader.
    pub fn conflict_hint(&self, prev_index: Index, prev_term: Term) -> Index {
        let last = self.last_index();
        if prev_index > last {
            return last;
        }
        let floor = self.snapshot_index.max(self.start - 1);
        if self.is_empty() || prev_index < self.start {
            return floor.min(prev_index.saturating_sub(1)).max(self.snapshot_index);
        }
        // Runs whose term is at most prev_term form a prefix (terms never decrease).
        let n = self.runs.partition_point(|run| run.term <= prev_term);
        let hint = if n == 0 {
            self.start - 1
        } else if n == self.runs.len() {
            self.end
        } else {
            self.runs[n].first - 1
        };
        hint.min(prev_index - 1).max(self.snapshot_index)
    }

    /// Number of term runs held (for tests of the memory bound).
    #[cfg(test)]
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(terms: &[(Term, u64)]) -> Log {
        let mut log = Log::new();
        for &(term, count) in terms {
            log.append(term, count);
        }
        log
    }

    #[test]
    fn stores_one_run_per_term() {
        let log = log_with(&[(1, 1000), (2, 5), (2, 5), (7, 1)]);
        assert_eq!(log.run_count(), 3);
        assert_eq!(log.last_index(), 1011);
        assert_eq!(log.term_of(1000), Some(1));
        assert_eq!(log.term_of(1001), Some(2));
        assert_eq!(log.term_of(1010), Some(2));
        assert_eq!(log.term_of(1011), Some(7));
        assert_eq!(log.term_of(1012), None);
        assert_eq!(log.term_of(0), Some(0));
    }

    #[test]
    fn truncation_drops_suffix_and_emptied_runs() {
        let mut log = log_with(&[(1, 3), (2, 3), (3, 3)]);
        log.truncate(5);
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.last_term(), 2);
        assert_eq!(log.run_count(), 2);
        log.truncate(1);
        assert!(log.is_empty());
        assert_eq!(log.last_index(), 0);
        log.append(4, 1);
        assert_eq!(log.term_of(1), Some(4));
    }

    #[test]
    fn snapshot_keeps_trailing_entries_and_its_own_term() {
        let mut log = log_with(&[(1, 10), (2, 10)]);
        log.take_snapshot(15, 2, 12);
        assert_eq!(log.term_of(12), None);
        assert_eq!(log.term_of(13), Some(2));
        assert_eq!(log.term_of(15), Some(2));
        assert!(log.is_compacted(12));
        assert!(!log.is_compacted(13));
        log.take_snapshot(20, 2, 20);
        assert!(log.is_empty());
        assert_eq!(log.last_index(), 20);
        assert_eq!(log.term_of(20), Some(2));
        log.append(3, 1);
        assert_eq!(log.term_of(21), Some(3));
    }

    #[test]
    fn restore_empties_log_at_snapshot() {
        let mut log = log_with(&[(1, 10)]);
        log.restore(50, 4);
        assert_eq!(log.last_index(), 50);
        assert_eq!(log.last_term(), 4);
        assert_eq!(log.term_of(10), None);
        log.append(5, 2);
        assert_eq!(log.last_index(), 52);
    }

    #[test]
    fn conflict_hint_skips_whole_conflicting_terms() {
        // Follower has terms 1,1,1,4,4,4 ; leader probes at 6 with term 5.
        let log = log_with(&[(1, 3), (4, 3)]);
        assert_eq!(log.conflict_hint(6, 5), 5);
        // Leader probes at 6 with term 2: the term-4 run cannot match.
        assert_eq!(log.conflict_hint(6, 2), 3);
        // Probe beyond the end: our last index.
        assert_eq!(log.conflict_hint(9, 4), 6);
    }

    #[test]
    fn conflict_hint_never_points_into_snapshot() {
        let mut log = log_with(&[(1, 10), (2, 10)]);
        log.take_snapshot(15, 2, 15);
        assert_eq!(log.conflict_hint(18, 1), 15);
        assert_eq!(log.conflict_hint(30, 1), 20);
    }

    #[test]
    fn lookups_do_not_depend_on_log_length() {
        let mut log = Log::new();
        for term in 1..=100 {
            log.append(term, 100_000_000);
        }
        assert_eq!(log.run_count(), 100);
        assert_eq!(log.term_of(5_000_000_001), Some(51));
    }
}
