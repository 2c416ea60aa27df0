//! Applying committed entries to the key-value store, answering the clients that wrote them,
//! and taking snapshots every `snapshot_threshold` applied entries.

use raft::codec::configuration as conf_codec;
use raft::core::{EntryType, SnapshotMetadata};

use super::command::PutOutcome;
use super::{fatal, Node, Pending};
use crate::storage::Snapshot;

impl Node {
    pub(super) fn apply(&mut self) {
        let commit = self.raft.commit_index();
        while self.last_applied < commit {
            let index = self.last_applied + 1;
            let Some(entry) = self.log.get(index).cloned() else {
                fatal(&format!("committed entry {index} is not in the log"));
            };
            match entry.kind {
                EntryType::Command => self.store.apply(&entry.payload),
                EntryType::Barrier => {}
                EntryType::Change => match conf_codec::decode(&entry.payload) {
                    Ok(conf) => {
                        self.applied_conf = (index, conf);
                        self.pending.push_back(Pending::Configuration(index));
                    }
                    Err(e) => fatal(&format!("committed configuration {index} is bad: {e}")),
                },
            }
            self.last_applied = index;
            if let Some((term, done)) = self.waiters.remove(&index) {
                let outcome = if term == entry.term {
                    PutOutcome::Applied(index)
                } else {
                    PutOutcome::Failed("the entry was replaced by another leader's".into())
                };
                let _ = done.send(outcome);
            }
        }
        self.answer_applied_reads();
        self.maybe_snapshot();
    }

    /// Answers the confirmed reads whose read index the store has applied.
    pub(super) fn answer_applied_reads(&mut self) {
        let applied = self.last_applied;
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.ready_reads).into_iter().partition(|(i, _)| *i <= applied);
        self.ready_reads = waiting;
        for (_, (key, done)) in due {
            let _ = done.send(Ok((self.store.get(&key).cloned(), applied)));
        }
    }

    fn maybe_snapshot(&mut self) {
        let threshold = self.options.snapshot_threshold;
        let taken = self.snapshot.as_ref().map_or(0, |m| m.index);
        let installing = self.pending.iter().any(|p| matches!(p, Pending::PersistedSnapshot(_)));
        if threshold == 0 || installing || self.last_applied < taken + threshold {
            return;
        }
        let index = self.last_applied;
        let Some(term) = self.log.get(index).map(|e| e.term) else {
            return;
        };
        let metadata = SnapshotMetadata {
            index,
            term,
            configuration: self.applied_conf.1.clone(),
            configuration_index: self.applied_conf.0,
        };
        let snapshot = Snapshot { metadata: metadata.clone(), data: self.store.snapshot().into() };
        let trailing = self.options.snapshot_trailing;
        let keep_from = index.saturating_sub(u64::from(trailing)) + 1;
        if let Err(e) = self.storage.store_snapshot(&snapshot, keep_from) {
            fatal(&format!("cannot store a snapshot: {e}"));
        }
        self.log.compact(keep_from);
        self.snapshot = Some(metadata.clone());
        self.pending.push_back(Pending::Snapshot(metadata, trailing));
        eprintln!("[{}] took a snapshot at index {index}", self.options.id);
    }
}
