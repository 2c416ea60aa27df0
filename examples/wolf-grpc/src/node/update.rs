//! Acting on an update, in the order of docs/contract.md#update-order: term and vote, snapshot, entries,
//! messages, state, commit. Persistence completions become queued events.

use raft::codec::Entry;
use raft::core::{
    EntrySource, EntryType, Index, Message, NewEntries, Outgoing, ReadOutcome, ReadResult,
    SnapshotMetadata, State, Update,
};

use super::command::{Answer, PutOutcome};
use super::{fatal, Node, Pending};
use crate::transport::Call;
use crate::wire_json::{AppendEntriesJson, EntryJson};

/// An update copied out of the core, so that the node can step again while acting on it.
pub struct Owned {
    term_changed: bool,
    snapshot: Option<SnapshotMetadata>,
    entries: Option<NewEntries>,
    messages: Vec<Message>,
    state_changed: bool,
    commit_index_changed: bool,
    reads: Vec<ReadResult>,
}

impl Owned {
    pub fn of(u: &Update) -> Owned {
        Owned {
            term_changed: u.term_changed || u.vote_changed,
            snapshot: u.snapshot.clone(),
            entries: u.entries,
            messages: u.messages.clone(),
            state_changed: u.state_changed,
            commit_index_changed: u.commit_index_changed,
            reads: u.reads.clone(),
        }
    }
}

impl Node {
    /// `event_entries` are the entries of the event just stepped (what `EntrySource::Event`
    /// points into).
    pub(super) fn process(&mut self, u: Owned, event_entries: &[Entry]) {
        if u.term_changed {
            let (term, vote) = (self.raft.current_term(), self.raft.voted_for());
            if let Err(e) = self.storage.save_term_and_vote(term, vote) {
                fatal(&format!("cannot store term and vote: {e}"));
            }
        }
        if let Some(metadata) = u.snapshot {
            self.install_snapshot(metadata);
        }
        if let Some(new) = u.entries {
            self.store_entries(new, event_entries);
        }
        for message in u.messages {
            self.dispatch(message);
        }
        if u.state_changed {
            self.on_state_change();
        }
        if u.commit_index_changed {
            self.apply();
        }
        for read in u.reads {
            self.on_read(read);
        }
    }

    /// A read the core confirmed (answered once applied up to its index) or failed.
    fn on_read(&mut self, read: ReadResult) {
        let Some(waiter) = self.reads.remove(&read.id) else {
            return;
        };
        match read.outcome {
            ReadOutcome::Ready { index } => {
                self.ready_reads.push((index, waiter));
                self.answer_applied_reads();
            }
            ReadOutcome::LeadershipLost => {
                let _ = waiter.1.send(Err("leadership lost before the read was confirmed".into()));
            }
        }
    }

    fn install_snapshot(&mut self, metadata: SnapshotMetadata) {
        let Some(mut snapshot) = self.receiving.take() else {
            fatal("the core installs a snapshot that was not received");
        };
        snapshot.metadata = metadata.clone();
        if let Err(e) = self.storage.store_snapshot(&snapshot, Index::MAX) {
            fatal(&format!("cannot store the received snapshot: {e}"));
        }
        // Completions of earlier writes would be dropped here; ours are synchronous.
        self.pending.retain(|p| !matches!(p, Pending::PersistedEntries(_)));
        self.log.reset(metadata.index + 1);
        eprintln!(
            "[{}] installed snapshot at index {} ({} bytes)",
            self.options.id,
            metadata.index,
            snapshot.data.len()
        );
        self.restore(snapshot);
        self.pending.push_back(Pending::PersistedSnapshot(metadata));
    }

    fn store_entries(&mut self, new: NewEntries, event_entries: &[Entry]) {
        let entries: Vec<Entry> = match new.source {
            EntrySource::Event { skip } => event_entries[skip..].to_vec(),
            EntrySource::Barrier { term } => {
                vec![Entry::new(term, EntryType::Barrier, vec![0u8; 8])]
            }
        };
        self.log.store(new.index, &entries);
        if let Err(e) = self.storage.append(new.index, &entries) {
            fatal(&format!("cannot store entries: {e}"));
        }
        let last = new.index + entries.len() as u64 - 1;
        self.pending.push_back(Pending::PersistedEntries(last));
    }

    /// Replies go to the handler waiting for them; requests go to the transport.
    fn dispatch(&mut self, m: Message) {
        let call = match m.body {
            Outgoing::AppendEntriesResult(result) => {
                let hint_term = self.raft.term_of(result.last_log_index).unwrap_or(0);
                return self.reply(m.to, Answer::Append { result, hint_term });
            }
            Outgoing::RequestVoteResult(result) => return self.reply(m.to, Answer::Vote(result)),
            // The seed has no RPC for TimeoutNow; this node never transfers leadership.
            Outgoing::TimeoutNow(_) => return,
            // Nor for ReadIndex: its AppendEntries carry no read round, so followers refuse
            // reads (Get answers from their applied state) and never forward one.
            Outgoing::ReadIndex(_) | Outgoing::ReadIndexResult(_) => return,
            // This node does not stream snapshots through the core (it never sets a chunk
            // size, so no peer sends it chunks and it sends none): its transport splits the
            // whole snapshot into the seed's offset/done chunks itself.
            Outgoing::InstallSnapshotChunk { .. } | Outgoing::SnapshotChunkResult(_) => return,
            Outgoing::RequestVote(request) => Call::Vote(request),
            Outgoing::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                n_entries,
            } => {
                let last = prev_log_index + u64::from(n_entries);
                let Some(entries) = self.log.range(prev_log_index + 1, last) else {
                    eprintln!(
                        "[{}] entries {}..={last} are not held",
                        self.options.id,
                        prev_log_index + 1
                    );
                    return;
                };
                let json = AppendEntriesJson {
                    leader_id: self.options.id,
                    term,
                    prev_log_index,
                    prev_log_term,
                    leader_commit,
                    entries: entries.iter().map(EntryJson::from_entry).collect(),
                };
                let json = serde_json::to_string(&json).expect("plain data always serialises");
                Call::AppendEntries { prev_log_index, n_entries, json }
            }
            Outgoing::InstallSnapshot { term, last_index, last_term, .. } => {
                match self.snapshot.as_ref().filter(|s| s.metadata.index == last_index) {
                    Some(s) => {
                        Call::InstallSnapshot { term, last_index, last_term, snapshot: s.clone() }
                    }
                    None => return,
                }
            }
        };
        self.transport.send(m.to, &m.address, call);
    }

    fn reply(&mut self, to: raft::core::Id, answer: Answer) {
        match self.answer.take() {
            Some((from, sender)) if from == to => {
                let _ = sender.send(answer);
            }
            other => self.answer = other,
        }
    }

    fn on_state_change(&mut self) {
        let state = self.raft.state();
        eprintln!("[{}] now {state:?} in term {}", self.options.id, self.raft.current_term());
        if state != State::Leader {
            // Their entries may still commit under the next leader: the outcome is unknown.
            for (_, (_, done)) in std::mem::take(&mut self.waiters) {
                let _ = done.send(PutOutcome::Failed("leadership lost; outcome unknown".into()));
            }
        }
    }
}
