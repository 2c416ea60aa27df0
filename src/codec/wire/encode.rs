//! Message encoding. The preamble's bytes 1..7 are always zero (version byte 0: every C-Raft
//! release understands it, while a non-zero byte 2 makes C-Raft ≤ 0.16 drop the connection),
//! and every reserved byte is written as zero.

use bytes::Bytes;

use super::message::{
    AppendEntries, AppendEntriesResult, InstallSnapshot, InstallSnapshotChunk, RequestVote,
    RequestVoteResult, TimeoutNow, WireMessage, READ_ROUND_MARK,
};
use crate::codec::configuration;
use crate::codec::entry::{encode_descriptors, total_payload_len, EntryNames};
use crate::codec::error::{Error, Result};

/// Encodes a whole message: preamble, header and payload.
///
/// Errors: [`Error::Invalid`] if an entry's payload is not a multiple of 8 bytes or longer than
/// 4 GiB (C-Raft peers would mis-read it; the message names the entry's log index and length),
/// or an InstallSnapshot's configuration is empty.
pub fn encode_message(msg: &WireMessage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_message_into(msg, &mut out)?;
    Ok(out)
}

/// Appends the encoding of a whole message to `out`. On error `out` is left as it was.
///
/// Errors: as [`encode_message`].
pub fn encode_message_into(msg: &WireMessage, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    encode_message_head(msg, out)?;
    for part in payload_parts(msg) {
        out.extend_from_slice(part);
    }
    debug_assert!(out.len() > start);
    Ok(())
}

/// Appends only the preamble and header of `msg` to `out`: a transport can then send the
/// [`payload_parts`] from where they already are (vectored write) instead of copying them.
/// On error `out` is left as it was.
///
/// Errors: as [`encode_message`].
pub fn encode_message_head(msg: &WireMessage, out: &mut Vec<u8>) -> Result<()> {
    let header = encode_header(msg)?;
    out.reserve(16 + header.len());
    out.push(msg.message_type().code());
    out.extend_from_slice(&[0u8; 7]);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    Ok(())
}

/// The payload of `msg` as the buffers to send after its head, in order: the entries' payloads
/// of an AppendEntries, the data of an InstallSnapshot, nothing for the other messages.
pub fn payload_parts(msg: &WireMessage) -> Vec<&Bytes> {
    match msg {
        WireMessage::AppendEntries(m) => m.entries.iter().map(|e| &e.payload).collect(),
        WireMessage::InstallSnapshot(m) => vec![&m.data],
        WireMessage::InstallSnapshotChunk(m) => vec![&m.data],
        _ => Vec::new(),
    }
}

fn encode_header(msg: &WireMessage) -> Result<Vec<u8>> {
    let mut h = Header(Vec::with_capacity(64));
    match msg {
        WireMessage::RequestVote(m) => request_vote(m, &mut h),
        WireMessage::RequestVoteResult(m) => request_vote_result(m, &mut h),
        WireMessage::AppendEntries(m) => append_entries(m, &mut h)?,
        WireMessage::AppendEntriesResult(m) => append_entries_result(m, &mut h),
        WireMessage::InstallSnapshot(m) => install_snapshot(m, &mut h)?,
        WireMessage::TimeoutNow(m) => timeout_now(m, &mut h),
        WireMessage::ReadIndex(m) => {
            h.u64(m.term);
            h.u64(m.id);
        }
        WireMessage::ReadIndexResult(m) => {
            h.u64(m.term);
            h.u64(m.id);
            h.u64(m.index);
        }
        WireMessage::InstallSnapshotChunk(m) => install_snapshot_chunk(m, &mut h)?,
        WireMessage::InstallSnapshotChunkResult(m) => {
            h.u64(m.term);
            h.u64(m.last_index);
            h.u64(u64::from(m.next_chunk));
            h.u64(u64::from(m.gap));
        }
    }
    Ok(h.0)
}

struct Header(Vec<u8>);

impl Header {
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u16(&mut self, value: u16) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn zeros(&mut self, n: usize) {
        self.0.resize(self.0.len() + n, 0);
    }
}

fn request_vote(m: &RequestVote, h: &mut Header) {
    h.u64(m.term);
    h.u64(m.candidate_id);
    h.u64(m.last_log_index);
    h.u64(m.last_log_term);
    if m.version != 1 {
        h.u64(u64::from(m.disrupt_leader) | (u64::from(m.pre_vote) << 1));
    }
}

fn request_vote_result(m: &RequestVoteResult, h: &mut Header) {
    h.u64(m.term);
    h.u64(u64::from(m.vote_granted));
    if m.version != 1 {
        h.0.push(u8::from(m.pre_vote));
        h.zeros(1);
        h.u16(m.features);
        h.u16(m.capacity);
        h.zeros(2);
    }
}

fn append_entries(m: &AppendEntries, h: &mut Header) -> Result<()> {
    let names = EntryNames::LogIndex { first: m.prev_log_index.saturating_add(1) };
    total_payload_len(&m.entries, names, "AppendEntries")?;
    h.u64(m.term);
    h.u64(m.prev_log_index);
    h.u64(m.prev_log_term);
    h.u64(m.leader_commit);
    h.u64(m.entries.len() as u64);
    encode_descriptors(&m.entries, &mut h.0);
    let marked = if m.read_round == 0 { 0 } else { u64::from(READ_ROUND_MARK) << 32 };
    h.u64(marked | u64::from(m.read_round));
    Ok(())
}

fn append_entries_result(m: &AppendEntriesResult, h: &mut Header) {
    h.u64(m.term);
    h.u64(m.rejected);
    h.u64(m.last_log_index);
    if m.version != 0 {
        h.u16(m.features);
        h.u16(m.capacity);
        h.u32(m.read_echo);
    }
}

fn install_snapshot(m: &InstallSnapshot, h: &mut Header) -> Result<()> {
    if m.conf.is_empty() {
        return Err(Error::invalid("InstallSnapshot", "empty configuration"));
    }
    h.u64(m.term);
    h.u64(m.last_index);
    h.u64(m.last_term);
    h.u64(m.conf_index);
    h.u64(configuration::encoded_len(&m.conf) as u64);
    configuration::encode_into(&m.conf, &mut h.0);
    h.u64(m.data.len() as u64);
    h.zeros(8);
    Ok(())
}

fn install_snapshot_chunk(m: &InstallSnapshotChunk, h: &mut Header) -> Result<()> {
    if m.last && m.conf.is_empty() {
        return Err(Error::invalid("InstallSnapshotChunk", "last chunk without configuration"));
    }
    h.u64(m.term);
    h.u64(m.last_index);
    h.u64(m.last_term);
    h.u64(m.conf_index);
    h.u64(u64::from(m.chunk));
    h.u64(u64::from(m.last));
    if m.last {
        h.u64(configuration::encoded_len(&m.conf) as u64);
        configuration::encode_into(&m.conf, &mut h.0);
    } else {
        h.u64(0);
    }
    h.u64(m.data.len() as u64);
    Ok(())
}

fn timeout_now(m: &TimeoutNow, h: &mut Header) {
    h.u64(m.term);
    h.u64(m.last_log_index);
    h.u64(m.last_log_term);
}
