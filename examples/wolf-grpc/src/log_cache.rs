//! The entries a node keeps in memory to fill outgoing AppendEntries and to apply: everything
//! after its compaction point, mirroring the core's log.

use raft::codec::Entry;
use raft::core::Index;

pub struct LogCache {
    /// Index of `entries[0]`.
    first: Index,
    entries: Vec<Entry>,
}

impl LogCache {
    pub fn new(first: Index, entries: Vec<Entry>) -> LogCache {
        LogCache { first, entries }
    }

    pub fn get(&self, index: Index) -> Option<&Entry> {
        let offset = index.checked_sub(self.first)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// The entries `from ..= to`, or None if any of them is not held.
    pub fn range(&self, from: Index, to: Index) -> Option<&[Entry]> {
        if from < self.first || to + 1 < from {
            return None;
        }
        let start = (from - self.first) as usize;
        let end = (to + 1 - self.first) as usize;
        self.entries.get(start..end)
    }

    /// Replaces everything from `index` on with `entries`.
    pub fn store(&mut self, index: Index, entries: &[Entry]) {
        let keep = index.saturating_sub(self.first) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }

    /// Forgets entries below `index`.
    pub fn compact(&mut self, index: Index) {
        if index > self.first {
            let n = ((index - self.first) as usize).min(self.entries.len());
            self.entries.drain(..n);
            self.first += n as u64;
        }
    }

    /// Empties the cache; the next entry will be `next`.
    pub fn reset(&mut self, next: Index) {
        self.entries.clear();
        self.first = next;
    }
}
