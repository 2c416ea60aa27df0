//! Streamed snapshots (a libraft-rs extension; docs/snapshots.md): a leader sends its snapshot
//! in chunks of a configured size to a follower that advertises
//! [`FEATURE_SNAPSHOT_CHUNKS`], with at most a window of chunks unacknowledged; the follower
//! hands each chunk to its host to store as it arrives, in order, and acknowledges the chunks
//! its host made durable. Neither side ever needs the whole snapshot in memory. C-Raft peers
//! never advertise the feature and keep receiving the whole snapshot in one InstallSnapshot.
//!
//! The rules, in brief:
//! - A stream belongs to one snapshot of one leader in one term. A follower accepts chunk k
//!   only after chunks 0..k of the same stream; a chunk 0 of another stream starts over, once
//!   every chunk handed to the host is durable (so completions never mix streams). It answers
//!   a chunk out of order with how many it holds, and a duplicate of a chunk still being
//!   stored not at all (the acknowledgement follows).
//! - The last chunk installs the snapshot exactly as a whole InstallSnapshot does, and is
//!   acknowledged the same way (an AppendEntries result naming the snapshot's index).
//! - The leader restarts a stream when its own snapshot changed, goes back to the first
//!   unacknowledged chunk when the follower made no progress for an election timeout, and
//!   gives up (probing again) after the install-snapshot timeout without progress.

use std::collections::VecDeque;

use super::error::Error;
use super::event::{ChunkToStore, SnapshotMetadata};
use super::message::{Outgoing, SnapshotChunk, SnapshotChunkResult, FEATURE_SNAPSHOT_CHUNKS};
use super::progress::Mode;
use super::raft::{Ctx, Follower, Raft, Status};
use super::snapshot::{
    check_install_snapshot_form, check_snapshot_sender, InstallPlan, InstallSnapshot,
};
use super::trace::LEVEL_INFO;
use super::types::{Id, Index, Term, Time};
use crate::raft_trace;

/// A leader's stream of its snapshot to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stream {
    /// Length of the snapshot's data and of every chunk but the last.
    pub len: u64,
    pub chunk_size: u64,
    /// How many chunks the snapshot makes (at least 1: an empty snapshot is one empty chunk).
    pub chunks: u32,
    /// The next chunk to send.
    pub next: u32,
    /// Chunks the follower reported durable.
    pub acked: u32,
    /// When `acked` last moved, or the stream (re)started.
    pub progress_at: Time,
    /// The value of `acked` at the last fast rewind (see [`Raft::on_chunk_result`]).
    pub rewound_at: Option<u32>,
}

impl Stream {
    /// A stream of `len` bytes in chunks of `chunk_size`, or None when that makes more chunks
    /// than a chunk number can count (the snapshot then goes whole).
    fn new(len: u64, chunk_size: u64, now: Time) -> Option<Stream> {
        let chunks = u32::try_from(len.div_ceil(chunk_size).max(1)).ok()?;
        Some(Stream {
            len,
            chunk_size,
            chunks,
            next: 0,
            acked: 0,
            progress_at: now,
            rewound_at: None,
        })
    }

    /// Offset and length of chunk `k`.
    fn range(&self, k: u32) -> (u64, u64) {
        let offset = u64::from(k) * self.chunk_size;
        (offset, self.chunk_size.min(self.len - offset))
    }
}

/// A follower's stream being received: the chunks handed to the host so far.
#[derive(Debug)]
pub(crate) struct Staging {
    pub leader: Id,
    pub term: Term,
    pub index: Index,
    pub last_term: Term,
    /// Bytes handed to the host so far (where the next chunk goes).
    pub offset: u64,
    /// Chunks the host made durable (the first `stored` of the stream).
    pub stored: u32,
    /// Offsets of the chunks handed out and not yet durable, in order.
    pub pending: VecDeque<u64>,
}

impl Staging {
    /// Chunks handed to the host: the durable ones and those it is still storing.
    fn handed(&self) -> u32 {
        self.stored + self.pending.len() as u32
    }

    fn is_stream_of(&self, from: Id, c: &SnapshotChunk) -> bool {
        (self.leader, self.term, self.index, self.last_term)
            == (from, c.term, c.last_index, c.last_term)
    }
}

/// A received chunk, as decided during validation.
#[derive(Debug)]
pub(crate) enum ChunkPlan {
    /// As for a whole InstallSnapshot: drop, or acknowledge a snapshot we already cover.
    Whole(InstallPlan),
    /// The next chunk of the stream in progress, or chunk 0 of a new one.
    Store { new_stream: bool },
    /// A chunk after a missing one (`gap`), or one whose acknowledgement the leader lost: tell
    /// it how many chunks we hold of this stream (0: none).
    Report { next_chunk: u32, gap: bool },
    /// Again a chunk the host is still storing: its acknowledgement will follow, and a report
    /// now would send the leader back for nothing.
    Pending,
}

/// What is wrong with the form of a chunk, whatever our state: what is wrong with an
/// InstallSnapshot, except that only the last chunk carries the configuration.
pub(crate) fn check_chunk_form(c: &SnapshotChunk) -> Result<(), Error> {
    if c.last {
        return check_install_snapshot_form(&as_whole(c));
    }
    check_snapshot_sender(c.term, c.last_index, c.last_term)
        .map_err(|why| Error::Malformed(format!("InstallSnapshotChunk: {why}")))
}

/// A chunk seen as the InstallSnapshot it is part of, for the rules both share (whether the
/// follower needs the snapshot at all, what installing it does).
fn as_whole(c: &SnapshotChunk) -> InstallSnapshot<'_> {
    InstallSnapshot {
        term: c.term,
        last_index: c.last_index,
        last_term: c.last_term,
        conf: &c.conf,
        conf_index: c.conf_index,
    }
}

impl Raft {
    /// Whether this server's host takes part in streamed snapshots.
    pub(crate) fn streams_snapshots(&self) -> bool {
        self.settings.snapshot_chunk_size > 0
    }

    /// The features we advertise in our results.
    pub(crate) fn features(&self) -> u16 {
        let chunks = if self.streams_snapshots() { FEATURE_SNAPSHOT_CHUNKS } else { 0 };
        super::message::FEATURES | chunks
    }

    /// The host tells us the length of the data of its snapshot at `index`, which must be our
    /// latest: needed to stream it.
    pub fn note_snapshot_len(&mut self, index: Index, len: u64) -> Result<(), String> {
        if index == 0 || index != self.log.snapshot_index() {
            return Err(format!(
                "snapshot {index} is not the latest (that is {})",
                self.log.snapshot_index()
            ));
        }
        self.snapshot_len = Some((index, len));
        Ok(())
    }

    /// Streamed snapshots on (`chunk_size` > 0) or off, and how many chunks may be in flight.
    pub fn set_snapshot_chunks(&mut self, chunk_size: u64, window: u32) {
        self.settings.snapshot_chunk_size = chunk_size;
        self.settings.snapshot_chunk_window = window.max(1);
    }

    // ---- leader side ----

    /// A stream of our snapshot at `index` to follower `i`, if both sides stream snapshots and
    /// we know the snapshot's length.
    pub(super) fn stream_for(&self, i: usize, index: Index, now: Time) -> Option<Stream> {
        let Status::Leader(leader) = &self.status else {
            return None;
        };
        let takes_chunks = leader.progress[i].takes_chunks == Some(true);
        match self.snapshot_len {
            Some((at, len)) if at == index && takes_chunks && self.streams_snapshots() => {
                Stream::new(len, self.settings.snapshot_chunk_size, now)
            }
            _ => None,
        }
    }

    /// Sends follower `i` the chunks of its stream that fit in the window; a stream of a
    /// snapshot we replaced since starts over with the new one.
    pub(super) fn send_chunks(&mut self, cx: &mut Ctx<'_>, i: usize) {
        let (term, snapshot_index, snapshot_term) =
            (self.term, self.log.snapshot_index(), self.log.snapshot_term());
        let (conf_index, window) = (self.snapshot_conf_index, self.settings.snapshot_chunk_window);
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        let Mode::Snapshot { index, sent_at, stream: Some(mut s) } = p.mode else {
            return;
        };
        if index != snapshot_index {
            raft_trace!(cx.tracer, LEVEL_INFO, "  snapshot {index} replaced: stream anew");
            self.send_snapshot(cx, i);
            return;
        }
        let limit = s.chunks.min(s.acked.saturating_add(window));
        while s.next < limit {
            let (offset, len) = s.range(s.next);
            let last = s.next + 1 == s.chunks;
            let body = Outgoing::InstallSnapshotChunk {
                term,
                last_index: index,
                last_term: snapshot_term,
                conf_index,
                chunk: s.next,
                offset,
                len,
                last,
            };
            cx.send(p.id, p.address.clone(), body);
            s.next += 1;
            p.last_send = Some(cx.now);
        }
        p.mode = Mode::Snapshot { index, sent_at, stream: Some(s) };
    }

    /// Goes back to the first unacknowledged chunk of follower `i`'s stream when it made no
    /// progress for an election timeout (the last chunks out, or their results, were lost;
    /// an earlier loss is noticed sooner, see [`Raft::on_chunk_result`]). Not sooner: a
    /// chunk may take that long to cross a slow link and be stored, and going back early
    /// would send the window again and again. Returns whether there is something to send.
    pub(super) fn rewind_stalled_stream(&mut self, i: usize, now: Time) -> bool {
        let stall = u64::from(self.settings.election_timeout);
        let Status::Leader(leader) = &mut self.status else {
            return false;
        };
        let p = &mut leader.progress[i];
        if let Mode::Snapshot { stream: Some(s), .. } = &mut p.mode {
            if s.next > s.acked && now.saturating_sub(s.progress_at) >= stall {
                s.next = s.acked;
                s.progress_at = now;
                return true;
            }
        }
        false
    }

    /// A follower's account of the stream it receives.
    pub(super) fn on_chunk_result(&mut self, cx: &mut Ctx<'_>, from: Id, r: SnapshotChunkResult) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> snapshot {} chunk result from {from}: holds {}",
            r.last_index,
            r.next_chunk
        );
        let Some(i) = self.progress_position(from) else {
            return;
        };
        let now = cx.now;
        let Status::Leader(leader) = &mut self.status else {
            return;
        };
        let p = &mut leader.progress[i];
        p.recent_recv = true;
        let Mode::Snapshot { index, sent_at, stream: Some(mut s) } = p.mode else {
            return;
        };
        if index != r.last_index {
            return;
        }
        let mut sent_at = sent_at;
        if r.next_chunk > s.acked {
            s.acked = r.next_chunk.min(s.chunks);
            s.next = s.next.max(s.acked);
            s.progress_at = now;
            sent_at = now;
        } else if r.next_chunk == 0 && s.acked > 0 {
            // The follower holds nothing of the stream any more: it restarted. Start over,
            // which is also the resend its other answers of 0 ask for.
            // (Any other result below `acked` was overtaken by a later one: ignored.)
            s.acked = 0;
            s.next = 0;
            s.rewound_at = Some(0);
            s.progress_at = now;
        } else if r.gap && r.next_chunk == s.acked && s.rewound_at != Some(s.acked) {
            // The follower received a chunk after the one it waits for (it takes them only in
            // order): that one was lost or is late. Send again from there at once, once per
            // stall point; the stall timer covers the rest. A result that does not move
            // without a gap answers a duplicate: resending for it would send the window again
            // for every duplicate, each bringing more.
            s.rewound_at = Some(s.acked);
            s.next = s.acked;
        }
        p.mode = Mode::Snapshot { index, sent_at, stream: Some(s) };
        self.send_chunks(cx, i);
    }

    // ---- follower side ----

    /// What to do with a chunk that is not stale (see `receive.rs`).
    pub(super) fn check_chunk(&self, from: Id, c: &SnapshotChunk) -> Result<ChunkPlan, Error> {
        if !self.streams_snapshots() {
            // We never advertised the feature: our host does not expect chunks.
            return Err(Error::Malformed(
                "InstallSnapshotChunk to a server that does not stream snapshots".into(),
            ));
        }
        match self.check_install_snapshot(&as_whole(c))? {
            InstallPlan::Install => {}
            plan => return Ok(ChunkPlan::Whole(plan)),
        }
        match &self.staging {
            Some(s) if s.is_stream_of(from, c) && c.chunk == s.handed() => {
                Ok(ChunkPlan::Store { new_stream: false })
            }
            Some(s) if s.is_stream_of(from, c) && (s.stored..s.handed()).contains(&c.chunk) => {
                Ok(ChunkPlan::Pending)
            }
            Some(s) if s.is_stream_of(from, c) => {
                Ok(ChunkPlan::Report { next_chunk: s.stored, gap: c.chunk > s.handed() })
            }
            Some(s) if c.chunk == 0 && !s.pending.is_empty() => {
                // The host is still storing chunks of another stream: wait for them.
                Ok(ChunkPlan::Whole(InstallPlan::Drop))
            }
            _ if c.chunk == 0 => Ok(ChunkPlan::Store { new_stream: true }),
            _ => Ok(ChunkPlan::Report { next_chunk: 0, gap: true }),
        }
    }

    pub(super) fn on_chunk(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Id,
        from_address: &str,
        c: SnapshotChunk,
        plan: ChunkPlan,
    ) {
        raft_trace!(
            cx.tracer,
            LEVEL_INFO,
            "> snapshot {}/{} chunk {} ({} bytes{}) from {from}",
            c.last_index,
            c.last_term,
            c.chunk,
            c.len,
            if c.last { ", last" } else { "" }
        );
        match plan {
            ChunkPlan::Whole(plan) => {
                self.on_install_snapshot(cx, from, from_address, as_whole(&c), plan);
            }
            ChunkPlan::Pending => {
                self.follow(cx, from, from_address);
                raft_trace!(cx.tracer, LEVEL_INFO, "  being stored already");
            }
            ChunkPlan::Report { next_chunk, gap } => {
                self.follow(cx, from, from_address);
                let why = if gap { "after a gap" } else { "held already" };
                raft_trace!(cx.tracer, LEVEL_INFO, "  out of order ({why}): we hold {next_chunk}");
                self.reply_chunks(cx, from, from_address, c.last_index, next_chunk, gap);
            }
            ChunkPlan::Store { new_stream } => {
                self.follow(cx, from, from_address);
                self.store_chunk(cx, from, c, new_stream);
            }
        }
    }

    /// Hands chunk `c` to the host; the last one installs the snapshot.
    fn store_chunk(&mut self, cx: &mut Ctx<'_>, from: Id, c: SnapshotChunk, new_stream: bool) {
        if new_stream || self.staging.is_none() {
            self.staging = Some(Staging {
                leader: from,
                term: c.term,
                index: c.last_index,
                last_term: c.last_term,
                offset: 0,
                stored: 0,
                pending: VecDeque::new(),
            });
        }
        let Some(s) = &mut self.staging else {
            return;
        };
        let offset = s.offset;
        s.offset = s.offset.saturating_add(c.len);
        s.pending.push_back(offset);
        let (index, term) = (c.last_index, c.last_term);
        cx.update.snapshot_chunk =
            Some(ChunkToStore { index, term, offset, len: c.len, last: c.last });
        if c.last {
            raft_trace!(cx.tracer, LEVEL_INFO, "  last chunk: replace the log with the snapshot");
            let metadata = SnapshotMetadata {
                index,
                term,
                configuration: c.conf,
                configuration_index: c.conf_index,
            };
            self.begin_install(cx, metadata);
        }
    }

    /// Sends a chunk result: we hold `next_chunk` chunks of the snapshot at `index`.
    fn reply_chunks(
        &mut self,
        cx: &mut Ctx<'_>,
        to: Id,
        to_address: &str,
        index: Index,
        next: u32,
        gap: bool,
    ) {
        let result =
            SnapshotChunkResult { term: self.term, last_index: index, next_chunk: next, gap };
        let address = self.reply_address(to, to_address);
        cx.send(to, address, Outgoing::SnapshotChunkResult(result));
    }

    /// A chunk other than the last is durable: it must be the oldest one handed out and not
    /// yet durable (chunks complete in order; the last completes with `PersistedSnapshot`).
    pub(super) fn check_persisted_chunk(
        &self,
        index: Index,
        term: Term,
        offset: u64,
    ) -> Result<(), Error> {
        let Some(s) = self.staging.as_ref().filter(|s| s.index == index && s.last_term == term)
        else {
            return Err(Error::Invalid(format!("no chunk of snapshot {index}/{term} is pending")));
        };
        let last_only = s.pending.len() == 1 && self.installing_stream(s);
        if s.pending.front() != Some(&offset) || last_only {
            return Err(Error::Invalid(format!(
                "persisted chunk at offset {offset} of snapshot {index} is not the oldest pending one"
            )));
        }
        Ok(())
    }

    /// Whether chunks before the last of the stream being installed are still not durable
    /// (the last one must complete after them).
    pub(super) fn chunks_still_pending(&self, index: Index) -> bool {
        matches!(&self.staging, Some(s) if s.index == index && s.pending.len() > 1)
    }

    /// Whether the last chunk of `s` was handed out (its completion is `PersistedSnapshot`).
    fn installing_stream(&self, s: &Staging) -> bool {
        matches!(&self.installing, Some(m) if m.index == s.index && m.term == s.last_term)
    }

    /// RAFT_PERSISTED_SNAPSHOT for a chunk other than the last: acknowledge it to the leader
    /// of the stream if we still follow it in its term.
    pub(super) fn on_persisted_chunk(&mut self, cx: &mut Ctx<'_>, offset: u64) {
        let term = self.term;
        let Some(s) = &mut self.staging else {
            return;
        };
        s.pending.pop_front();
        s.stored += 1;
        let (leader, stream_term, index, stored) = (s.leader, s.term, s.index, s.stored);
        raft_trace!(cx.tracer, LEVEL_INFO, "> snapshot {index} chunk at {offset} persisted");
        if let Status::Follower(Follower { leader: Some((id, address)), .. }) = &self.status {
            if *id == leader && stream_term == term {
                let address = address.clone();
                self.reply_chunks(cx, leader, &address, index, stored, false);
            }
        }
    }

    /// The streamed snapshot was installed (its last chunk is durable): we know its length.
    pub(super) fn finish_stream(&mut self, index: Index) {
        if let Some(s) = self.staging.take() {
            if s.index == index {
                self.snapshot_len = Some((index, s.offset));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::Error;
    use crate::core::event::{ChunkToStore, Event, SnapshotMetadata};
    use crate::core::message::{
        AppendEntriesResult, Incoming, Outgoing, SnapshotChunk, SnapshotChunkResult, FEATURES,
        FEATURE_SNAPSHOT_CHUNKS,
    };
    use crate::core::raft::Raft;
    use crate::core::testing::*;
    use crate::core::types::{Index, Term, Time};

    const SIZE: u64 = 100;

    fn metadata(index: Index, term: Term) -> SnapshotMetadata {
        SnapshotMetadata { index, term, configuration: conf(&[1, 2, 3]), configuration_index: 1 }
    }

    /// An AppendEntries result from a follower that does (or does not) take chunks.
    fn result(last: Index, takes_chunks: bool) -> Incoming<'static> {
        let chunks = if takes_chunks { FEATURE_SNAPSHOT_CHUNKS } else { 0 };
        Incoming::AppendEntriesResult(AppendEntriesResult {
            term: 2,
            rejected: 0,
            last_log_index: last,
            features: FEATURES | chunks,
            capacity: 100,
        })
    }

    fn rejection(rejected: Index, takes_chunks: bool) -> Incoming<'static> {
        let chunks = if takes_chunks { FEATURE_SNAPSHOT_CHUNKS } else { 0 };
        Incoming::AppendEntriesResult(AppendEntriesResult {
            term: 2,
            rejected,
            last_log_index: 0,
            features: FEATURES | chunks,
            capacity: 100,
        })
    }

    fn chunk_result(next_chunk: u32) -> Incoming<'static> {
        Incoming::SnapshotChunkResult(SnapshotChunkResult {
            term: 2,
            last_index: 4,
            next_chunk,
            gap: false,
        })
    }

    /// The answer to a chunk that came after a missing one.
    fn gap_result(next_chunk: u32) -> Incoming<'static> {
        Incoming::SnapshotChunkResult(SnapshotChunkResult {
            term: 2,
            last_index: 4,
            next_chunk,
            gap: true,
        })
    }

    /// The chunks in `out` for server `to`: (chunk, offset, len, last).
    fn chunks(out: &Out, to: u64) -> Vec<(u32, u64, u64, bool)> {
        out.to(to)
            .into_iter()
            .filter_map(|m| match m {
                Outgoing::InstallSnapshotChunk { chunk, offset, len, last, .. } => {
                    Some((*chunk, *offset, *len, *last))
                }
                _ => None,
            })
            .collect()
    }

    /// Leader 1 of {1,2,3} streaming in chunks of 100 bytes (window 2), with a snapshot of
    /// `len` bytes at index 4 that servers 2 and 3 need: 3 acknowledged everything, 2 nothing.
    fn streaming_leader(len: u64) -> (Raft, Time) {
        let (mut r, now) = leader(&[1, 2, 3]);
        r.set_snapshot_chunks(SIZE, 2);
        let entries = [entry(2), entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        step(&mut r, now, Event::PersistedEntries { index: 4 }).unwrap();
        receive(&mut r, now, 3, append_result(2, 0, 4)).unwrap();
        step(&mut r, now, Event::Snapshot { metadata: metadata(4, 2), trailing: 0 }).unwrap();
        r.note_snapshot_len(4, len).unwrap();
        (r, now)
    }

    /// A follower (server 2 of {1,2,3}, leader 1 in term 2) whose host streams snapshots.
    fn streaming_follower() -> Raft {
        let mut r = follower(&[entry(2)]);
        r.set_snapshot_chunks(SIZE, 2);
        r
    }

    fn chunk(k: u32, len: u64, last: bool) -> Incoming<'static> {
        Incoming::InstallSnapshotChunk(SnapshotChunk {
            term: 2,
            last_index: 10,
            last_term: 2,
            conf: if last { conf(&[1, 2, 3]) } else { Default::default() },
            conf_index: 1,
            chunk: k,
            len,
            last,
        })
    }

    fn gap(out: &Out) -> Option<bool> {
        out.to(1).into_iter().find_map(|m| match m {
            Outgoing::SnapshotChunkResult(r) => Some(r.gap),
            _ => None,
        })
    }

    fn ack(out: &Out) -> Option<u32> {
        out.to(1).into_iter().find_map(|m| match m {
            Outgoing::SnapshotChunkResult(r) => Some(r.next_chunk),
            _ => None,
        })
    }

    #[test]
    fn leader_streams_only_to_followers_that_take_chunks() {
        let (mut r, now) = streaming_leader(250);
        let out = receive(&mut r, now, 2, rejection(1, true)).unwrap();
        assert_eq!(chunks(&out, 2), [(0, 0, 100, false), (1, 100, 100, false)], "a window of 2");
        let (mut r, now) = streaming_leader(250);
        let out = receive(&mut r, now, 2, rejection(1, false)).unwrap();
        assert!(chunks(&out, 2).is_empty());
        assert!(matches!(out.to(2)[0], Outgoing::InstallSnapshot { last_index: 4, .. }));
    }

    #[test]
    fn a_follower_not_heard_from_this_term_is_asked_before_any_snapshot() {
        let (mut r, now) = streaming_leader(250);
        // Server 2 never answered an AppendEntries of this term: the heartbeat that finds its
        // entries compacted asks it, anchored at the snapshot, instead of sending it whole.
        let later = now + u64::from(r.settings().heartbeat_timeout);
        let out = step(&mut r, later, Event::Timeout).unwrap();
        let to_2 = out.to(2);
        assert!(!to_2.iter().any(|m| matches!(m, Outgoing::InstallSnapshot { .. })));
        assert!(chunks(&out, 2).is_empty());
        assert!(to_2.iter().any(|m| matches!(
            m,
            Outgoing::AppendEntries { prev_log_index: 4, prev_log_term: 2, n_entries: 0, .. }
        )));
        // Its answer says it takes chunks: the snapshot is streamed.
        let out = receive(&mut r, later, 2, rejection(1, true)).unwrap();
        assert_eq!(chunks(&out, 2), [(0, 0, 100, false), (1, 100, 100, false)]);
    }

    #[test]
    fn leader_without_the_snapshot_length_sends_it_whole() {
        let (mut r, now) = streaming_leader(250);
        // The host took a new snapshot and did not say how long it is.
        let entries = [entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        step(&mut r, now, Event::PersistedEntries { index: 5 }).unwrap();
        receive(&mut r, now, 3, append_result(2, 0, 5)).unwrap();
        step(&mut r, now, Event::Snapshot { metadata: metadata(5, 2), trailing: 0 }).unwrap();
        assert!(r.note_snapshot_len(4, 250).is_err(), "not the latest snapshot");
        let out = receive(&mut r, now, 2, rejection(1, true)).unwrap();
        assert!(chunks(&out, 2).is_empty(), "a length given for an older snapshot is ignored");
        assert!(matches!(out.to(2)[0], Outgoing::InstallSnapshot { last_index: 5, .. }));
    }

    #[test]
    fn acknowledged_chunks_slide_the_window_up_to_the_last() {
        let (mut r, now) = streaming_leader(250);
        receive(&mut r, now, 2, rejection(1, true)).unwrap();
        let out = receive(&mut r, now + 1, 2, chunk_result(1)).unwrap();
        assert_eq!(chunks(&out, 2), [(2, 200, 50, true)], "the last chunk is the rest");
        let out = receive(&mut r, now + 2, 2, chunk_result(2)).unwrap();
        assert!(chunks(&out, 2).is_empty(), "nothing is left to send");
        receive(&mut r, now + 3, 2, result(4, true)).unwrap();
        assert_eq!(r.match_index(2), Ok(4), "the follower installed it");
    }

    #[test]
    fn an_empty_snapshot_is_one_empty_last_chunk() {
        let (mut r, now) = streaming_leader(0);
        let out = receive(&mut r, now, 2, rejection(1, true)).unwrap();
        assert_eq!(chunks(&out, 2), [(0, 0, 0, true)]);
    }

    #[test]
    fn a_result_that_does_not_move_sends_again_from_the_missing_chunk_once() {
        let (mut r, now) = streaming_leader(1000);
        receive(&mut r, now, 2, rejection(1, true)).unwrap();
        // Chunk 0 was lost: the follower reports holding nothing when chunk 1 arrives.
        let out = receive(&mut r, now + 1, 2, gap_result(0)).unwrap();
        assert_eq!(chunks(&out, 2), [(0, 0, 100, false), (1, 100, 100, false)]);
        let out = receive(&mut r, now + 2, 2, gap_result(0)).unwrap();
        assert!(chunks(&out, 2).is_empty(), "once per stall point");
    }

    #[test]
    fn a_restarted_follower_gets_the_stream_from_chunk_0_once() {
        let (mut r, now) = streaming_leader(1000);
        receive(&mut r, now, 2, rejection(1, true)).unwrap();
        receive(&mut r, now + 1, 2, chunk_result(2)).unwrap();
        // Chunks 2 and 3 reach a follower that restarted meanwhile: both answered with 0.
        let out = receive(&mut r, now + 2, 2, gap_result(0)).unwrap();
        assert_eq!(chunks(&out, 2), [(0, 0, 100, false), (1, 100, 100, false)]);
        let out = receive(&mut r, now + 3, 2, gap_result(0)).unwrap();
        assert!(chunks(&out, 2).is_empty(), "the second answer is the same news");
    }

    #[test]
    fn the_answer_to_a_duplicate_sends_nothing_again() {
        let (mut r, now) = streaming_leader(1000);
        receive(&mut r, now, 2, rejection(1, true)).unwrap();
        receive(&mut r, now + 1, 2, gap_result(0)).unwrap();
        // The late chunks 0 and 1 are acknowledged, then their copies arrive: answered with
        // what the follower holds, without a gap.
        let out = receive(&mut r, now + 2, 2, chunk_result(2)).unwrap();
        assert_eq!(chunks(&out, 2), [(2, 200, 100, false), (3, 300, 100, false)]);
        let out = receive(&mut r, now + 3, 2, chunk_result(2)).unwrap();
        assert!(chunks(&out, 2).is_empty(), "a duplicate is not a gap");
        let out = receive(&mut r, now + 4, 2, gap_result(2)).unwrap();
        assert_eq!(chunks(&out, 2), [(2, 200, 100, false), (3, 300, 100, false)], "a gap is");
    }

    #[test]
    fn a_stalled_stream_goes_back_to_the_first_unacknowledged_chunk() {
        let (mut r, now) = streaming_leader(1000);
        receive(&mut r, now, 2, rejection(1, true)).unwrap();
        receive(&mut r, now + 1, 2, chunk_result(1)).unwrap();
        // Chunks 1 and 2 are out; nothing comes back for an election timeout.
        let soon = now + 1 + 2 * u64::from(r.settings().heartbeat_timeout);
        let out = step(&mut r, soon, Event::Timeout).unwrap();
        assert!(chunks(&out, 2).is_empty(), "a slow chunk is not a lost one");
        let later = now + 1 + u64::from(r.settings().election_timeout);
        let out = step(&mut r, later, Event::Timeout).unwrap();
        assert_eq!(chunks(&out, 2), [(1, 100, 100, false), (2, 200, 100, false)]);
    }

    #[test]
    fn a_new_snapshot_restarts_the_stream_with_it() {
        let (mut r, now) = streaming_leader(1000);
        receive(&mut r, now, 2, rejection(1, true)).unwrap();
        let entries = [entry(2)];
        step(&mut r, now, Event::Submit { entries: &entries }).unwrap();
        step(&mut r, now, Event::PersistedEntries { index: 5 }).unwrap();
        receive(&mut r, now, 3, append_result(2, 0, 5)).unwrap();
        step(&mut r, now, Event::Snapshot { metadata: metadata(5, 2), trailing: 0 }).unwrap();
        r.note_snapshot_len(5, 150).unwrap();
        let out = receive(&mut r, now + 1, 2, chunk_result(1)).unwrap();
        let restarted: Vec<_> = out
            .to(2)
            .into_iter()
            .filter_map(|m| match m {
                Outgoing::InstallSnapshotChunk { last_index, chunk, .. } => {
                    Some((*last_index, *chunk))
                }
                _ => None,
            })
            .collect();
        assert_eq!(restarted, [(5, 0), (5, 1)], "from chunk 0 of the new snapshot");
    }

    #[test]
    fn follower_stores_chunks_in_order_and_installs_with_the_last() {
        let mut r = streaming_follower();
        let out = receive(&mut r, 20, 1, chunk(0, 100, false)).unwrap();
        let stored = ChunkToStore { index: 10, term: 2, offset: 0, len: 100, last: false };
        assert_eq!(out.snapshot_chunk, Some(stored));
        assert!(out.snapshot.is_none() && out.messages.is_empty(), "acknowledged once durable");
        assert_eq!(r.last_index(), 2, "the log is untouched until the last chunk");
        let out = step(&mut r, 21, Event::PersistedSnapshotChunk { index: 10, term: 2, offset: 0 })
            .unwrap();
        assert_eq!(ack(&out), Some(1));
        let out = receive(&mut r, 22, 1, chunk(2, 50, true)).unwrap();
        assert_eq!(ack(&out), Some(1), "out of order: what we hold");
        assert_eq!(gap(&out), Some(true), "after a gap");
        assert!(out.snapshot_chunk.is_none());
        let out = receive(&mut r, 23, 1, chunk(1, 100, false)).unwrap();
        assert_eq!(out.snapshot_chunk.map(|c| c.offset), Some(100));
        let out = receive(&mut r, 24, 1, chunk(1, 100, false)).unwrap();
        assert!(out.snapshot_chunk.is_none(), "a duplicate is not stored twice");
        assert_eq!(ack(&out), None, "nor answered while it is being stored");
        let out = receive(&mut r, 24, 1, chunk(0, 100, false)).unwrap();
        assert_eq!(ack(&out), Some(1), "a stored chunk again: its acknowledgement was lost");
        assert_eq!(gap(&out), Some(false), "a duplicate");
        let out = receive(&mut r, 25, 1, chunk(2, 50, true)).unwrap();
        let last = ChunkToStore { index: 10, term: 2, offset: 200, len: 50, last: true };
        assert_eq!((out.snapshot_chunk, out.snapshot), (Some(last), Some(metadata(10, 2))));
        assert_eq!(r.last_index(), 10, "the last chunk replaces the log");
        let err = step(&mut r, 26, Event::PersistedSnapshot { metadata: metadata(10, 2) });
        assert!(matches!(err, Err(Error::Invalid(_))), "chunk 1 is not durable yet");
        step(&mut r, 26, Event::PersistedSnapshotChunk { index: 10, term: 2, offset: 100 })
            .unwrap();
        let out = step(&mut r, 27, Event::PersistedSnapshot { metadata: metadata(10, 2) }).unwrap();
        assert_eq!(r.commit_index(), 10);
        assert!(matches!(
            out.to(1)[0],
            Outgoing::AppendEntriesResult(res) if res.rejected == 0 && res.last_log_index == 10
        ));
    }

    #[test]
    fn persisted_chunks_must_be_the_oldest_pending() {
        let mut r = streaming_follower();
        receive(&mut r, 20, 1, chunk(0, 100, false)).unwrap();
        receive(&mut r, 20, 1, chunk(1, 100, false)).unwrap();
        for (index, term, offset) in [(10, 2, 100), (9, 2, 0), (10, 1, 0)] {
            let event = Event::PersistedSnapshotChunk { index, term, offset };
            assert!(matches!(step(&mut r, 21, event), Err(Error::Invalid(_))), "{offset}");
        }
        step(&mut r, 21, Event::PersistedSnapshotChunk { index: 10, term: 2, offset: 0 }).unwrap();
    }

    #[test]
    fn a_new_stream_waits_for_the_chunks_of_the_old_one() {
        let mut r = streaming_follower();
        receive(&mut r, 20, 1, chunk(0, 100, false)).unwrap();
        // Leader 3 of term 3 streams another snapshot while chunk 0 is being written.
        let other = |k| {
            Incoming::InstallSnapshotChunk(SnapshotChunk {
                term: 3,
                last_index: 12,
                last_term: 3,
                conf: Default::default(),
                conf_index: 1,
                chunk: k,
                len: 100,
                last: false,
            })
        };
        let out = receive(&mut r, 21, 3, other(0)).unwrap();
        assert!(out.snapshot_chunk.is_none() && out.messages.is_empty(), "dropped");
        step(&mut r, 22, Event::PersistedSnapshotChunk { index: 10, term: 2, offset: 0 }).unwrap();
        let out = receive(&mut r, 23, 3, other(0)).unwrap();
        assert_eq!(out.snapshot_chunk.map(|c| (c.index, c.offset)), Some((12, 0)));
        let out = receive(&mut r, 24, 1, chunk(1, 100, false));
        assert!(out.unwrap().snapshot_chunk.is_none(), "the old leader's stream is over");
    }

    #[test]
    fn a_server_whose_host_does_not_stream_refuses_chunks() {
        let mut r = follower(&[entry(2)]);
        let err = receive(&mut r, 20, 1, chunk(0, 100, false)).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)));
        assert_eq!(r.last_index(), 2);
    }

    #[test]
    fn a_last_chunk_without_configuration_is_malformed() {
        let mut r = streaming_follower();
        let mut bad = chunk(0, 10, true);
        if let Incoming::InstallSnapshotChunk(c) = &mut bad {
            c.conf = Default::default();
        }
        assert!(matches!(receive(&mut r, 20, 1, bad), Err(Error::Malformed(_))));
    }
}
