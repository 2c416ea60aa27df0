//! The classic driver's copy of the log with payloads: what a `raft_step` host keeps to fill
//! outgoing AppendEntries and to apply committed entries (docs/contract.md, "Send", "Apply").
//!
//! Payload memory comes in batches (one `raft_malloc` allocation shared by the entries of a
//! received AppendEntries, or one per submitted entry). A batch is freed when the last user
//! lets go of it: the log itself, an append being written, a message being sent.

use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::rc::Rc;

use crate::ffi::heap;
use crate::ffi::types::*;

/// One raft-heap allocation holding payloads; freed on drop.
pub struct Batch(*mut c_void);

impl Drop for Batch {
    fn drop(&mut self) {
        heap::free(self.0);
    }
}

/// An entry of the log, its payload kept alive by its batch.
#[derive(Clone)]
pub struct Cached {
    pub term: raft_term,
    pub kind: c_int,
    pub buf: raft_buffer,
    pub batch: Rc<Batch>,
}

impl Cached {
    /// The entry as C sees it; valid while `self.batch` lives.
    pub fn as_c(&self) -> raft_entry {
        raft_entry { term: self.term, r#type: self.kind, buf: self.buf, batch: self.batch.0 }
    }
}

/// Entries `first ..` with their payloads, after a snapshot (index and term) if any.
pub struct EntryCache {
    snapshot_index: raft_index,
    snapshot_term: raft_term,
    first: raft_index,
    entries: VecDeque<Cached>,
}

/// Entries lent to `raft_io` (an append or a message): the C array and what keeps it alive.
pub struct Lent {
    pub entries: Vec<raft_entry>,
    _batches: Vec<Rc<Batch>>,
}

impl EntryCache {
    pub fn new() -> EntryCache {
        EntryCache { snapshot_index: 0, snapshot_term: 0, first: 1, entries: VecDeque::new() }
    }

    /// Takes over entries loaded at start: `entries[0]` is at `start`, after the snapshot
    /// (`index`, `term`) when there is one. Each distinct batch becomes one owner.
    ///
    /// # Safety
    /// Every entry's `batch` must be a raft-heap allocation now owned by the caller, shared only
    /// by consecutive entries of `entries`.
    pub unsafe fn load(
        &mut self,
        snapshot: (raft_index, raft_term),
        start: raft_index,
        entries: &[raft_entry],
    ) {
        self.snapshot_index = snapshot.0;
        self.snapshot_term = snapshot.1;
        self.first = start.max(1);
        self.entries.clear();
        // SAFETY: forwarded to the caller.
        unsafe { self.push_all(entries) };
    }

    /// Appends `entries`, taking over their batches (as [`Self::load`]).
    ///
    /// # Safety
    /// As [`Self::load`].
    pub unsafe fn push_all(&mut self, entries: &[raft_entry]) {
        let mut owner: Option<Rc<Batch>> = None;
        for e in entries {
            let batch = match &owner {
                Some(b) if b.0 == e.batch => b.clone(),
                _ => {
                    let b = Rc::new(Batch(e.batch));
                    owner = Some(b.clone());
                    b
                }
            };
            self.entries.push_back(Cached { term: e.term, kind: e.r#type, buf: e.buf, batch });
        }
    }

    pub fn last_index(&self) -> raft_index {
        self.first + self.entries.len() as u64 - 1
    }

    pub fn snapshot_index(&self) -> raft_index {
        self.snapshot_index
    }

    pub fn get(&self, index: raft_index) -> Option<&Cached> {
        if index < self.first {
            return None;
        }
        self.entries.get((index - self.first) as usize)
    }

    pub fn term_of(&self, index: raft_index) -> Option<raft_term> {
        match self.get(index) {
            Some(e) => Some(e.term),
            None if index != 0 && index == self.snapshot_index => Some(self.snapshot_term),
            None => None,
        }
    }

    /// Drops every entry from `index` on (a conflicting suffix).
    pub fn truncate_from(&mut self, index: raft_index) {
        if index <= self.first {
            self.entries.clear();
            self.first = index.max(1);
        } else {
            self.entries.truncate((index - self.first) as usize);
        }
    }

    /// A snapshot replaced the whole log (received from the leader).
    pub fn restore(&mut self, index: raft_index, term: raft_term) {
        self.entries.clear();
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.first = index + 1;
    }

    /// A snapshot up to `index` was taken: forget the entries before `index - trailing`.
    pub fn compact(&mut self, index: raft_index, term: raft_term, trailing: u32) {
        self.snapshot_index = index;
        self.snapshot_term = term;
        let keep_from = index.saturating_sub(trailing as u64) + 1;
        while self.first < keep_from && !self.entries.is_empty() {
            self.entries.pop_front();
            self.first += 1;
        }
    }

    /// `n` entries from `index`, lent out; None when the log does not hold them all.
    pub fn lend(&self, index: raft_index, n: usize) -> Option<Lent> {
        let mut entries = Vec::with_capacity(n);
        let mut batches: Vec<Rc<Batch>> = Vec::new();
        for i in 0..n as u64 {
            let e = self.get(index + i)?;
            if !batches.last().is_some_and(|b| Rc::ptr_eq(b, &e.batch)) {
                batches.push(e.batch.clone());
            }
            entries.push(e.as_c());
        }
        Some(Lent { entries, _batches: batches })
    }
}
