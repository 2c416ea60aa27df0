//! A simulated host: durable disk, in-memory log with payloads, write queue, state machine.
//! It drives one `Raft` through the public core API exactly as a C host would drive
//! `raft_step`.

use std::collections::VecDeque;

use raft::codec::configuration as codec;
use raft::core::message::FEATURE_READ;
use raft::core::{
    Configuration, EntrySource, EntryType, EntryView, Error, Event, Incoming, Outgoing, Raft,
    ReadResult, Received, SnapshotChunk, SnapshotMetadata, State, Tracer, Update,
};

use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub kind: EntryType,
    pub payload: Vec<u8>,
}

/// The snapshot data: the applied entries folded into a digest, plus the apply count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotData {
    pub digest: u64,
    pub applied: u64,
}

/// Chunk size of streamed snapshots: snapshots are about 1,000 chunks long.
pub const CHUNK: u64 = 8;

/// The bytes of a snapshot: digest and apply count, then filler derived from the digest up to
/// about 1,000 chunks (not a whole number of them), so that a byte out of place anywhere is
/// caught by [`decode_snapshot`].
pub fn encode_snapshot(data: &SnapshotData) -> Vec<u8> {
    let len = 1000 * CHUNK + data.digest % CHUNK;
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend_from_slice(&data.digest.to_le_bytes());
    bytes.extend_from_slice(&data.applied.to_le_bytes());
    let mut x = data.digest | 1;
    while (bytes.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(x as u8);
    }
    bytes
}

/// The snapshot whose bytes are `bytes`, which must be exactly what [`encode_snapshot`] makes
/// of it: a streamed snapshot is installed byte for byte.
pub fn decode_snapshot(bytes: &[u8]) -> SnapshotData {
    assert!(bytes.len() >= 16, "streamed snapshot of {} bytes", bytes.len());
    let word = |k: usize| u64::from_le_bytes(bytes[k..k + 8].try_into().unwrap());
    let data = SnapshotData { digest: word(0), applied: word(8) };
    assert!(encode_snapshot(&data) == bytes, "streamed snapshot differs from the leader's");
    data
}

#[derive(Clone, Debug)]
pub struct Disk {
    pub term: u64,
    pub vote: u64,
    pub snapshot: Option<(SnapshotMetadata, SnapshotData)>,
    /// Index of `entries[0]`.
    pub start: u64,
    pub entries: Vec<Entry>,
}

impl Disk {
    pub fn last_index(&self) -> u64 {
        self.start + self.entries.len() as u64 - 1
    }
}

/// A message in flight, owning everything the receiver will borrow.
#[derive(Clone, Debug)]
pub struct Packet {
    pub from: u64,
    pub from_address: String,
    pub to: u64,
    pub body: Body,
    /// The read round or its echo (`Message::read_context`).
    pub read: u32,
}

#[derive(Clone, Debug)]
pub enum Body {
    Plain(Outgoing),
    Append { term: u64, prev_index: u64, prev_term: u64, commit: u64, entries: Vec<Entry> },
    Install { term: u64, meta: SnapshotMetadata, data: SnapshotData },
    Chunk { chunk: SnapshotChunk, data: Vec<u8> },
}

struct Write {
    first: u64,
    entries: Vec<Entry>,
    /// Part of the write that no later truncation replaced.
    valid_end: u64,
    done_at: u64,
}

pub struct Host {
    pub id: u64,
    pub address: String,
    pub raft: Raft,
    pub alive: bool,
    pub disk: Disk,
    /// In-memory log from `mem_start` (what outgoing AppendEntries are filled from).
    pub mem_start: u64,
    pub mem: Vec<Entry>,
    /// Configurations of the log's Change entries (and of the snapshot), in index order.
    pub confs: Vec<(u64, Configuration)>,
    writes: VecDeque<Write>,
    pending_snapshot: Option<(SnapshotMetadata, SnapshotData, u64)>,
    /// Streamed snapshots: this host takes part (see `settings`).
    pub streams: bool,
    /// The streamed snapshot being received (index, term, bytes so far), and the chunks
    /// before the last being written (index, term, offset, done at).
    staging: Option<(u64, u64, Vec<u8>)>,
    pending_chunks: VecDeque<(u64, u64, u64, u64)>,
    /// Snapshots installed from a stream.
    pub streamed_installs: u64,
    pub last_applied: u64,
    pub sm: SnapshotData,
    /// Committed configuration changes to report, in order.
    pub config_events: VecDeque<u64>,
    pub last_commit: u64,
    /// The last step appended a configuration entry (read and cleared by the cluster).
    pub change_landed: bool,
    /// Reads confirmed or failed, not yet checked by the cluster.
    pub reads: Vec<ReadResult>,
    /// Answers like a C-Raft peer: no read feature bit, no echo (as our codec would carry it
    /// from C-Raft: zeros).
    pub craft_like: bool,
}

pub fn settings(raft: &mut Raft, rng: &mut Rng) {
    raft.set_election_timeout(1000, None);
    raft.set_heartbeat_timeout(100);
    raft.set_install_snapshot_timeout(3000);
    raft.set_pre_vote(rng.chance(0.5));
    raft.set_max_inflight_entries(1 + rng.below(8) as u32);
}

pub fn fold(digest: u64, index: u64, entry: &Entry) -> u64 {
    let mut h = digest ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ entry.term;
    for &b in &entry.payload {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Host {
    pub fn new(id: u64, disk: Disk, seed: u32, rng: &mut Rng) -> Host {
        let address = format!("node-{id}");
        let mut raft = Raft::new(id, &address, &codec::CRAFT);
        raft.seed(seed);
        settings(&mut raft, rng);
        Host {
            id,
            address,
            raft,
            alive: true,
            mem_start: disk.start,
            mem: disk.entries.clone(),
            confs: Vec::new(),
            disk,
            writes: VecDeque::new(),
            pending_snapshot: None,
            streams: false,
            staging: None,
            pending_chunks: VecDeque::new(),
            streamed_installs: 0,
            last_applied: 0,
            sm: SnapshotData { digest: 0, applied: 0 },
            config_events: VecDeque::new(),
            last_commit: 0,
            change_landed: false,
            reads: Vec::new(),
            craft_like: false,
        }
    }

    pub fn mem_last(&self) -> u64 {
        self.mem_start + self.mem.len() as u64 - 1
    }

    pub fn mem_entry(&self, index: u64) -> Option<&Entry> {
        if index < self.mem_start {
            return None;
        }
        self.mem.get((index - self.mem_start) as usize)
    }

    /// Loads the durable state and steps RAFT_START.
    pub fn start(&mut self, now: u64, out: &mut Vec<Packet>) {
        // The snapshot may have been taken of entries applied before they were durable here,
        // and a crash lost their write: entries that all precede the snapshot are covered by
        // it, and entries that disagree with it at its index are older than what it covers
        // (those after a disagreeing one were never committed, by log matching). Either way,
        // load the snapshot alone, as the lost write would have replaced them.
        if let Some((meta, _)) = &self.disk.snapshot {
            let ends_before = self.disk.start + self.disk.entries.len() as u64 <= meta.index;
            let at_index = meta
                .index
                .checked_sub(self.disk.start)
                .and_then(|k| self.disk.entries.get(k as usize));
            if ends_before || at_index.is_some_and(|e| e.term != meta.term) {
                self.disk.entries.clear();
                self.disk.start = meta.index + 1;
            }
        }
        self.mem_start = self.disk.start;
        self.mem = self.disk.entries.clone();
        self.writes.clear();
        self.pending_snapshot = None;
        self.staging = None;
        self.pending_chunks.clear();
        self.config_events.clear();
        self.confs.clear();
        self.sm = SnapshotData { digest: 0, applied: 0 };
        self.last_applied = 0;
        self.last_commit = 0;
        if let Some((meta, data)) = &self.disk.snapshot {
            self.confs.push((meta.configuration_index, meta.configuration.clone()));
            self.sm = data.clone();
            self.last_applied = meta.index;
        }
        for (i, e) in self.mem.iter().enumerate() {
            let index = self.mem_start + i as u64;
            if e.kind == EntryType::Change && self.confs.last().map_or(true, |(c, _)| *c < index) {
                self.confs.push((index, codec::decode(&e.payload).unwrap()));
            }
        }
        let views: Vec<EntryView> = self.disk.entries.iter().map(view).collect();
        let event = Event::Start {
            term: self.disk.term,
            voted_for: self.disk.vote,
            snapshot: self.disk.snapshot.as_ref().map(|(m, _)| m.clone()),
            start_index: self.disk.start,
            entries: &views,
        };
        let mut printer = Printer { node: self.id, now };
        let tracer: Option<&mut dyn Tracer> = if tracing() { Some(&mut printer) } else { None };
        let update = self.raft.step(now, 100, event, tracer).expect("start");
        let update = clone_update(update);
        self.note_snapshot_len();
        self.process(now, update, Extra::None, out);
    }

    /// Streamed snapshots: lets the library know the length of our snapshot.
    fn note_snapshot_len(&mut self) {
        if let (true, Some((meta, data))) = (self.streams, &self.disk.snapshot) {
            let len = encode_snapshot(data).len() as u64;
            self.raft.note_snapshot_len(meta.index, len).expect("our latest snapshot");
        }
    }

    /// Streamed snapshots on, with a window of `window` chunks.
    pub fn stream_snapshots(&mut self, window: u32) {
        self.streams = true;
        self.raft.set_snapshot_chunks(CHUNK, window);
    }

    /// Steps one event and processes its update. Returns the error, if any.
    pub fn step(
        &mut self,
        now: u64,
        event: Event<'_>,
        extra: Extra,
        out: &mut Vec<Packet>,
    ) -> Result<(), Error> {
        let mut printer = Printer { node: self.id, now };
        let tracer: Option<&mut dyn Tracer> = if tracing() { Some(&mut printer) } else { None };
        let update = clone_update(self.raft.step(now, 100, event, tracer)?);
        self.process(now, update, extra, out);
        Ok(())
    }

    pub fn receive(
        &mut self,
        now: u64,
        packet: Packet,
        out: &mut Vec<Packet>,
    ) -> Result<(), Error> {
        let Packet { from, from_address, body, read, .. } = packet;
        match body {
            Body::Plain(o) => {
                let body = match o {
                    Outgoing::RequestVote(m) => Incoming::RequestVote(m),
                    Outgoing::RequestVoteResult(m) => Incoming::RequestVoteResult(m),
                    Outgoing::AppendEntriesResult(m) => Incoming::AppendEntriesResult(m),
                    Outgoing::TimeoutNow(m) => Incoming::TimeoutNow(m),
                    Outgoing::ReadIndex(m) => Incoming::ReadIndex(m),
                    Outgoing::ReadIndexResult(m) => Incoming::ReadIndexResult(m),
                    Outgoing::SnapshotChunkResult(m) => Incoming::SnapshotChunkResult(m),
                    _ => unreachable!(),
                };
                let event = Event::Receive(Received {
                    from,
                    from_address: &from_address,
                    body,
                    read_context: read,
                });
                self.step(now, event, Extra::None, out)
            }
            Body::Append { term, prev_index, prev_term, commit, entries } => {
                let views: Vec<EntryView> = entries.iter().map(view).collect();
                let body = Incoming::AppendEntries {
                    term,
                    prev_log_index: prev_index,
                    prev_log_term: prev_term,
                    leader_commit: commit,
                    entries: &views,
                };
                let event = Event::Receive(Received {
                    from,
                    from_address: &from_address,
                    body,
                    read_context: read,
                });
                self.step(now, event, Extra::Entries(entries.clone()), out)
            }
            Body::Install { term, meta, data } => {
                let body = Incoming::InstallSnapshot {
                    term,
                    last_index: meta.index,
                    last_term: meta.term,
                    conf: meta.configuration.clone(),
                    conf_index: meta.configuration_index,
                };
                let event = Event::Receive(Received {
                    from,
                    from_address: &from_address,
                    body,
                    read_context: read,
                });
                self.step(now, event, Extra::Snapshot(data), out)
            }
            Body::Chunk { chunk, data } => {
                let event = Event::Receive(Received {
                    from,
                    from_address: &from_address,
                    body: Incoming::InstallSnapshotChunk(chunk),
                    read_context: read,
                });
                self.step(now, event, Extra::Chunk(data), out)
            }
        }
    }

    fn process(&mut self, now: u64, u: Update, extra: Extra, out: &mut Vec<Packet>) {
        self.reads.extend(u.reads.iter().copied());
        if u.term_changed || u.vote_changed {
            self.disk.term = self.raft.current_term();
            self.disk.vote = self.raft.voted_for();
        }
        if let Some(c) = u.snapshot_chunk {
            let Extra::Chunk(data) = &extra else { panic!("chunk without data") };
            assert!(self.streams, "node {}: a chunk although it does not stream", self.id);
            assert_eq!(data.len() as u64, c.len);
            if c.offset == 0 {
                assert!(self.pending_chunks.is_empty(), "a new stream while chunks are written");
                self.staging = Some((c.index, c.term, Vec::new()));
            }
            let staging = self.staging.as_mut().expect("a chunk after the first");
            assert_eq!(
                (staging.0, staging.1, staging.2.len() as u64),
                (c.index, c.term, c.offset),
                "node {}: chunks in order",
                self.id
            );
            staging.2.extend_from_slice(data);
            if !c.last {
                let done =
                    self.pending_chunks.back().map_or(now, |p| p.3).max(now) + 1 + c.offset % 3;
                self.pending_chunks.push_back((c.index, c.term, c.offset, done));
            }
        }
        if let Some(meta) = u.snapshot {
            let data = match (&extra, &self.staging) {
                (Extra::Snapshot(data), _) => data.clone(),
                (Extra::Chunk(_), Some((_, _, bytes))) => decode_snapshot(bytes),
                _ => panic!("snapshot without data"),
            };
            self.mem_start = meta.index + 1;
            self.mem.clear();
            self.writes.clear();
            self.confs = vec![(meta.configuration_index, meta.configuration.clone())];
            let done = self.pending_chunks.back().map_or(now, |p| p.3).max(now) + 5;
            self.pending_snapshot = Some((meta, data, done));
        }
        if let Some(new) = u.entries {
            let entries = match (new.source, &extra) {
                (EntrySource::Event { skip }, Extra::Entries(es)) => es[skip..].to_vec(),
                (EntrySource::Barrier { term }, _) => {
                    vec![Entry { term, kind: EntryType::Barrier, payload: vec![0; 8] }]
                }
                (source, _) => panic!("entries {source:?} without event entries"),
            };
            assert!(
                new.index >= self.mem_start && new.index <= self.mem_last() + 1,
                "entries index"
            );
            self.mem.truncate((new.index - self.mem_start) as usize);
            self.confs.retain(|(i, _)| *i < new.index);
            for (i, e) in entries.iter().enumerate() {
                if e.kind == EntryType::Change {
                    self.confs.push((new.index + i as u64, codec::decode(&e.payload).unwrap()));
                    self.change_landed = true;
                }
            }
            self.mem.extend(entries.iter().cloned());
            for w in self.writes.iter_mut() {
                w.valid_end = w.valid_end.min(new.index - 1);
            }
            let end = new.index + entries.len() as u64 - 1;
            let done_at = self.writes.back().map_or(now, |w| w.done_at).max(now) + 1 + (end % 7);
            self.writes.push_back(Write { first: new.index, entries, valid_end: end, done_at });
        }
        for m in u.messages {
            let body = match m.body {
                Outgoing::AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    leader_commit,
                    n_entries,
                } => {
                    let entries: Vec<Entry> = (prev_log_index + 1
                        ..=prev_log_index + u64::from(n_entries))
                        .map(|i| {
                            self.mem_entry(i).cloned().unwrap_or_else(|| {
                                panic!("node {} lacks entry {i} to send", self.id)
                            })
                        })
                        .collect();
                    Body::Append {
                        term,
                        prev_index: prev_log_index,
                        prev_term: prev_log_term,
                        commit: leader_commit,
                        entries,
                    }
                }
                Outgoing::InstallSnapshot { term, last_index, last_term, conf_index } => {
                    let (meta, data) = self.disk.snapshot.clone().expect("snapshot to send");
                    assert_eq!(
                        (meta.index, meta.term, meta.configuration_index),
                        (last_index, last_term, conf_index)
                    );
                    Body::Install { term, meta, data }
                }
                Outgoing::InstallSnapshotChunk {
                    term,
                    last_index,
                    last_term,
                    conf_index,
                    chunk,
                    offset,
                    len,
                    last,
                } => {
                    let (meta, data) = self.disk.snapshot.clone().expect("snapshot to stream");
                    assert_eq!(
                        (meta.index, meta.term, meta.configuration_index),
                        (last_index, last_term, conf_index)
                    );
                    let bytes = encode_snapshot(&data);
                    let end = offset + len;
                    assert_eq!(offset, u64::from(chunk) * CHUNK, "chunk offset");
                    assert!(end <= bytes.len() as u64, "chunk beyond the snapshot");
                    assert_eq!(last, end == bytes.len() as u64, "last chunk ends the snapshot");
                    let conf = if last { meta.configuration.clone() } else { Configuration::new() };
                    let chunk = SnapshotChunk {
                        term,
                        last_index,
                        last_term,
                        conf,
                        conf_index,
                        chunk,
                        len,
                        last,
                    };
                    Body::Chunk { chunk, data: bytes[offset as usize..end as usize].to_vec() }
                }
                other => Body::Plain(other),
            };
            assert_eq!(&*m.address, format!("node-{}", m.to), "destination address");
            let (from, from_address, mut read) = (self.id, self.address.clone(), m.read_context);
            let mut body = body;
            if let (true, Body::Plain(Outgoing::AppendEntriesResult(r))) =
                (self.craft_like, &mut body)
            {
                r.features &= !FEATURE_READ;
                read = 0;
            }
            out.push(Packet { from, from_address, to: m.to, body, read });
        }
        if u.commit_index_changed {
            self.apply();
        }
    }

    /// Applies newly committed entries to the state machine.
    fn apply(&mut self) {
        let commit = self.raft.commit_index();
        assert!(
            commit >= self.last_commit,
            "node {}: commit index went from {} to {commit}",
            self.id,
            self.last_commit
        );
        self.last_commit = commit;
        if self.raft.state() == State::Leader {
            if let Some(term) = self.raft.term_of(commit) {
                crate::invariants::record_commit(self.raft.current_term(), commit, term);
            }
        }
        if let Some((meta, data)) = &self.disk.snapshot {
            if meta.index > self.last_applied && meta.index <= commit {
                self.sm = data.clone();
                self.last_applied = meta.index;
                crate::invariants::record_digest(self.id, meta.index, data.digest);
            }
        }
        while self.last_applied < commit {
            let index = self.last_applied + 1;
            let entry = self.mem_entry(index).cloned().unwrap_or_else(|| {
                panic!("node {}: committed entry {index} not in the log", self.id)
            });
            crate::invariants::record_applied(self.id, index, &entry);
            self.sm.digest = fold(self.sm.digest, index, &entry);
            self.sm.applied = index;
            crate::invariants::record_digest(self.id, index, self.sm.digest);
            if entry.kind == EntryType::Change {
                codec::decode(&entry.payload).expect("a committed change decodes");
                self.config_events.push_back(index);
            }
            self.last_applied = index;
        }
    }

    /// The earliest time at which a disk operation completes.
    pub fn next_disk_time(&self) -> Option<u64> {
        let w = self.writes.front().map(|w| w.done_at);
        let s = self.pending_snapshot.as_ref().map(|s| s.2);
        let c = self.pending_chunks.front().map(|c| c.3);
        w.into_iter().chain(s).chain(c).min()
    }

    /// Completes the due disk operations (writes in order, then a snapshot).
    pub fn complete_disk(&mut self, now: u64, out: &mut Vec<Packet>) {
        while self.pending_chunks.front().is_some_and(|c| c.3 <= now) {
            let (index, term, offset, _) = self.pending_chunks.pop_front().unwrap();
            let event = Event::PersistedSnapshotChunk { index, term, offset };
            self.step(now, event, Extra::None, out)
                .unwrap_or_else(|e| panic!("node {}: persisted chunk at {offset}: {e}", self.id));
        }
        if let Some((meta, data, done)) = self.pending_snapshot.clone() {
            if done <= now {
                self.pending_snapshot = None;
                let streamed = self.staging.take().is_some_and(|s| s.0 == meta.index);
                self.streamed_installs += u64::from(streamed);
                self.disk.snapshot = Some((meta.clone(), data));
                self.disk.start = meta.index + 1;
                self.disk.entries.clear();
                let event = Event::PersistedSnapshot { metadata: meta };
                self.step(now, event, Extra::None, out).expect("persisted snapshot");
                if !streamed {
                    self.note_snapshot_len();
                }
                return;
            }
        }
        while self.writes.front().is_some_and(|w| w.done_at <= now) {
            let mut w = self.writes.pop_front().unwrap();
            // Entries past `valid_end` were superseded by a later write, which truncates them:
            // writing them now could resurrect them behind a snapshot taken meanwhile (a write
            // held back by a paused server, seed 193 of 7 servers).
            let valid = (w.valid_end + 1).saturating_sub(w.first) as usize;
            w.entries.truncate(valid);
            if w.entries.is_empty() {
                continue;
            }
            let keep = (w.first.max(self.disk.start) - self.disk.start) as usize;
            if w.first < self.disk.start {
                // The write starts inside a snapshot taken since: keep only what follows it.
                let skip = (self.disk.start - w.first) as usize;
                self.disk.entries.truncate(0);
                self.disk.entries.extend(w.entries.iter().skip(skip).cloned());
            } else {
                assert!(
                    w.first <= self.disk.last_index() + 1,
                    "node {}: write leaves a gap",
                    self.id
                );
                self.disk.entries.truncate(keep);
                self.disk.entries.extend(w.entries.iter().cloned());
            }
            crate::invariants::check_disk_log(self);
            let end = w.valid_end.min(w.first + w.entries.len() as u64 - 1);
            if end >= w.first && end > self.raft.persisted_index() {
                self.step(now, Event::PersistedEntries { index: end }, Extra::None, out)
                    .unwrap_or_else(|e| panic!("node {} persisted {end}: {e}", self.id));
            }
        }
    }

    /// Steps the queued RAFT_CONFIGURATION events.
    pub fn report_configurations(&mut self, now: u64, out: &mut Vec<Packet>) {
        while let Some(index) = self.config_events.pop_front() {
            self.step(now, Event::Configuration { index }, Extra::None, out)
                .expect("configuration");
        }
    }

    /// Takes a snapshot at the last applied index, keeping `trailing` entries.
    pub fn take_snapshot(&mut self, now: u64, trailing: u32, out: &mut Vec<Packet>) {
        let index = self.last_applied;
        let current = self.disk.snapshot.as_ref().map_or(0, |(m, _)| m.index);
        if self.pending_snapshot.is_some() || index <= current || index < self.mem_start {
            return;
        }
        let Some(term) = self.mem_entry(index).map(|e| e.term) else {
            return;
        };
        let (conf_index, conf) =
            self.confs.iter().rev().find(|(i, _)| *i <= index).cloned().expect("configuration");
        let meta =
            SnapshotMetadata { index, term, configuration: conf, configuration_index: conf_index };
        let data = self.sm.clone();
        assert_eq!(data.applied.max(index), index);
        self.disk.snapshot = Some((meta.clone(), data));
        let event = Event::Snapshot { metadata: meta, trailing };
        self.step(now, event, Extra::None, out)
            .unwrap_or_else(|e| panic!("snapshot at {index}: {e}"));
        self.note_snapshot_len();
        // Drop what the library forgot, from memory and disk.
        let forget = index.saturating_sub(u64::from(trailing));
        if forget >= self.mem_start && self.mem_entry(forget).is_some() {
            let n = (forget + 1 - self.mem_start) as usize;
            self.mem.drain(..n);
            self.mem_start = forget + 1;
        }
        if forget >= self.disk.start && forget <= self.disk.last_index() {
            let n = (forget + 1 - self.disk.start) as usize;
            self.disk.entries.drain(..n);
            self.disk.start = forget + 1;
        } else if forget > self.disk.last_index() {
            // Unpersisted entries may still be in flight; the snapshot covers the rest.
            self.disk.entries.clear();
            self.disk.start = forget + 1;
        }
    }

    pub fn crash(&mut self) {
        self.alive = false;
        self.writes.clear();
        self.pending_snapshot = None;
        self.staging = None;
        self.pending_chunks.clear();
    }

    pub fn is_leader(&self) -> bool {
        self.alive && self.raft.state() == State::Leader
    }
}

/// Payload data an event lends to the step and the update may refer to.
pub enum Extra {
    None,
    Entries(Vec<Entry>),
    Snapshot(SnapshotData),
    Chunk(Vec<u8>),
}

pub fn view(e: &Entry) -> EntryView<'_> {
    EntryView { term: e.term, kind: e.kind, payload: &e.payload }
}

fn clone_update(u: &Update) -> Update {
    Update {
        term_changed: u.term_changed,
        vote_changed: u.vote_changed,
        snapshot: u.snapshot.clone(),
        snapshot_chunk: u.snapshot_chunk,
        entries: u.entries,
        messages: u.messages.clone(),
        state_changed: u.state_changed,
        commit_index_changed: u.commit_index_changed,
        timeout_changed: u.timeout_changed,
        reads: u.reads.clone(),
    }
}

fn tracing() -> bool {
    std::env::var_os("RAFT_SIM_TRACE").is_some()
}

/// Prints the core's diagnostics, prefixed with the time and the node.
struct Printer {
    node: u64,
    now: u64,
}

impl Tracer for Printer {
    fn trace(
        &mut self,
        _level: u8,
        _file: &'static str,
        _line: u32,
        message: std::fmt::Arguments<'_>,
    ) {
        eprintln!("{:>7} [{}] {message}", self.now, self.node);
    }
}
