//! Acting on an update, in the order of docs/contract.md#update-order: term and vote, snapshot, entries,
//! messages, state, commit. Persistence completions become queued events.

use raft::codec::Entry;
use raft::core::{
    ChunkToStore, EntrySource, EntryType, Index, Message, NewEntries, Outgoing, ReadOutcome,
    ReadResult, SnapshotMetadata, State, Update,
};

use super::command::{Answer, PutOutcome};
use super::{fatal, Node, Pending};
use crate::snapshot_transfer;
use crate::transport::Call;
use crate::wire_json::{AppendEntriesJson, EntryJson};

/// An update copied out of the core, so that the node can step again while acting on it.
pub struct Owned {
    term_changed: bool,
    snapshot: Option<SnapshotMetadata>,
    snapshot_chunk: Option<ChunkToStore>,
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
            snapshot_chunk: u.snapshot_chunk,
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
    /// points into), `event_chunk` the data of the snapshot chunk it received, if any.
    pub(super) fn process(
        &mut self,
        u: Owned,
        event_entries: &[Entry],
        event_chunk: Option<Vec<u8>>,
    ) {
        if u.term_changed {
            let (term, vote) = (self.raft.current_term(), self.raft.voted_for());
            if let Err(e) = self.storage.save_term_and_vote(term, vote) {
                fatal(&format!("cannot store term and vote: {e}"));
            }
        }
        // The last chunk comes with the snapshot it completes: stored first, then installed.
        if let Some(chunk) = u.snapshot_chunk {
            self.store_chunk(chunk, event_chunk);
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

    /// Stores a chunk of the snapshot the leader streams (the core hands them out in order);
    /// its completion is queued, except the last one's, which the install completes.
    fn store_chunk(&mut self, c: ChunkToStore, data: Option<Vec<u8>>) {
        let Some(data) = data.filter(|d| d.len() as u64 == c.len) else {
            fatal("the core hands out a snapshot chunk other than the one received");
        };
        if let Err(e) = self.storage.store_snapshot_chunk(c.offset, &data) {
            fatal(&format!("cannot store a snapshot chunk: {e}"));
        }
        eprintln!(
            "[{}] stored {} bytes at offset {} of snapshot {}{}",
            self.options.id,
            c.len,
            c.offset,
            c.index,
            if c.last { " (last chunk)" } else { "" }
        );
        if !c.last {
            let (index, term, offset) = (c.index, c.term, c.offset);
            self.pending.push_back(Pending::PersistedSnapshotChunk { index, term, offset });
        }
    }

    /// Installs the snapshot whose chunks were all stored: it replaces the log and becomes the
    /// state machine's state.
    fn install_snapshot(&mut self, metadata: SnapshotMetadata) {
        let len = match self.storage.install_streamed_snapshot(&metadata) {
            Ok(len) => len,
            Err(e) => fatal(&format!("cannot install the received snapshot: {e}")),
        };
        // Completions of earlier writes would be dropped here; ours are synchronous.
        self.pending.retain(|p| !matches!(p, Pending::PersistedEntries(_)));
        self.log.reset(metadata.index + 1);
        eprintln!(
            "[{}] installed snapshot at index {} ({len} bytes, streamed in {} chunks)",
            self.options.id,
            metadata.index,
            len.div_ceil(self.options.chunk_size as u64).max(1)
        );
        self.restore(metadata.clone());
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
            Outgoing::SnapshotChunkResult(result) => {
                return self.reply(m.to, Answer::Chunk(result));
            }
            // The seed has no RPC for TimeoutNow; this node never transfers leadership.
            Outgoing::TimeoutNow(_) => return,
            // Nor for ReadIndex: its AppendEntries carry no read round, so followers refuse
            // reads (Get answers from their applied state) and never forward one.
            Outgoing::ReadIndex(_) | Outgoing::ReadIndexResult(_) => return,
            // Every wolf node streams snapshots, and each result the transport makes of a
            // peer's response says so; a peer not heard from in this term is asked first (the
            // core's rule). So the core never sends one whole; should it, the message is
            // dropped (a lost message: the core probes the peer again and streams).
            Outgoing::InstallSnapshot { last_index, .. } => {
                eprintln!(
                    "[{}] whole snapshot {last_index} for {} not sent: this node only streams",
                    self.options.id, m.to
                );
                return;
            }
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
            Outgoing::InstallSnapshotChunk {
                term,
                last_index,
                last_term,
                chunk,
                offset,
                len,
                last,
                ..
            } => match self.chunk_bytes(last_index, offset, len, last) {
                Ok(data) => {
                    Call::SnapshotChunk { term, last_index, last_term, chunk, offset, last, data }
                }
                Err(e) => {
                    // Our snapshot was replaced meanwhile: the message is lost, and the core
                    // streams the new one when it notices.
                    eprintln!("[{}] chunk {chunk} of snapshot {last_index}: {e}", self.options.id);
                    return;
                }
            },
        };
        self.transport.send(m.to, &m.address, call);
    }

    /// The bytes to send for a chunk, read from the stored snapshot: the data range the core
    /// names, and on the last chunk the trailer with the configuration.
    fn chunk_bytes(
        &self,
        index: Index,
        offset: u64,
        len: u64,
        last: bool,
    ) -> std::io::Result<Vec<u8>> {
        let mut data = self.storage.read_snapshot_data(index, offset, len)?;
        if last {
            let meta_file = self.storage.read_snapshot_meta_file(index)?;
            snapshot_transfer::append_trailer(&mut data, &meta_file);
        }
        Ok(data)
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
