//! The owned messages of the wire codec, one struct per C-Raft message struct (docs/contract.md#message-fields),
//! with payloads as [`Bytes`] so that decoded entries and snapshot data share the receive
//! buffer.

use bytes::Bytes;

use crate::codec::entry::Entry;
use crate::vocab::Configuration;
use crate::vocab::{Id, Index, Term};

/// The message type of the preamble's byte 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Type 1: replicate entries (or heartbeat).
    AppendEntries,
    /// Type 2: answer to AppendEntries and InstallSnapshot.
    AppendEntriesResult,
    /// Type 3: ask for a vote or pre-vote.
    RequestVote,
    /// Type 4: answer to RequestVote.
    RequestVoteResult,
    /// Type 5: a whole snapshot.
    InstallSnapshot,
    /// Type 6: start an election now (leadership transfer).
    TimeoutNow,
    /// Type 7 (libraft-rs): a follower asks its leader to confirm a read.
    ReadIndex,
    /// Type 8 (libraft-rs): the leader's answer to ReadIndex.
    ReadIndexResult,
    /// Type 9 (libraft-rs): one chunk of a streamed snapshot.
    InstallSnapshotChunk,
    /// Type 10 (libraft-rs): the chunks of a streamed snapshot a follower stored.
    InstallSnapshotChunkResult,
}

impl MessageType {
    /// C-Raft's number for this type (`RAFT_APPEND_ENTRIES` = 1 … `RAFT_TIMEOUT_NOW` = 6).
    pub fn code(self) -> u8 {
        match self {
            MessageType::AppendEntries => 1,
            MessageType::AppendEntriesResult => 2,
            MessageType::RequestVote => 3,
            MessageType::RequestVoteResult => 4,
            MessageType::InstallSnapshot => 5,
            MessageType::TimeoutNow => 6,
            MessageType::ReadIndex => 7,
            MessageType::ReadIndexResult => 8,
            MessageType::InstallSnapshotChunk => 9,
            MessageType::InstallSnapshotChunkResult => 10,
        }
    }

    /// The type with C-Raft's number `code`, if there is one.
    pub fn from_code(code: u8) -> Option<MessageType> {
        Some(match code {
            1 => MessageType::AppendEntries,
            2 => MessageType::AppendEntriesResult,
            3 => MessageType::RequestVote,
            4 => MessageType::RequestVoteResult,
            5 => MessageType::InstallSnapshot,
            6 => MessageType::TimeoutNow,
            7 => MessageType::ReadIndex,
            8 => MessageType::ReadIndexResult,
            9 => MessageType::InstallSnapshotChunk,
            10 => MessageType::InstallSnapshotChunkResult,
            _ => return None,
        })
    }
}

/// RequestVote (type 3). `version` 1 is the 32-byte header without flags; any other version is
/// encoded as the 40-byte version 2 that every C-Raft release sends. Decoding yields 1 or 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestVote {
    /// Message version (see the struct documentation for the layouts).
    pub version: u8,
    /// The candidate's term (its current term + 1 for a pre-vote request).
    pub term: Term,
    /// The candidate asking for the vote.
    pub candidate_id: Id,
    /// Index of the sender's last log entry.
    pub last_log_index: Index,
    /// Term of the sender's last log entry.
    pub last_log_term: Term,
    /// The election was started by TimeoutNow: voters ignore their current leader.
    pub disrupt_leader: bool,
    /// This is a pre-vote request (the candidate's term is not incremented yet).
    pub pre_vote: bool,
}

/// RequestVoteResult (type 4). `version` 1 is the 16-byte header (pre-vote status unknown,
/// `pre_vote`, `features` and `capacity` not sent); any other version is encoded as the 24-byte
/// version 2. Decoding yields 1 or 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestVoteResult {
    /// Message version (see the struct documentation for the layouts).
    pub version: u8,
    /// Sender's term.
    pub term: Term,
    /// Whether the vote (or pre-vote) is granted.
    pub vote_granted: bool,
    /// This answers a pre-vote request (must echo the request's flag).
    pub pre_vote: bool,
    /// Feature bits (bit 0: capacity is reported), cowsql ≥ 0.20; 0 from C-Raft 0.15.
    pub features: u16,
    /// Free pre-allocated log space in KiB, cowsql ≥ 0.20; 0 from C-Raft 0.15.
    pub capacity: u16,
}

/// The high half of an AppendEntries' trailing word when its low half is a read round.
pub const READ_ROUND_MARK: u32 = 0x5244_4E52;

/// AppendEntries (type 1). There is only version 0. Entry `i` has index
/// `prev_log_index + 1 + i`; an empty list is a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendEntries {
    /// Message version (see the struct documentation for the layouts).
    pub version: u8,
    /// Sender's term.
    pub term: Term,
    /// Index of the entry just before the new ones (0 when sending from index 1).
    pub prev_log_index: Index,
    /// Term of that entry (0 when sending from index 1).
    pub prev_log_term: Term,
    /// The leader's commit index.
    pub leader_commit: Index,
    /// The entries for indexes `prev_log_index + 1 ...`, payloads sharing the received buffer.
    pub entries: Vec<Entry>,
    /// The leader's read round (libraft-rs), in the trailing word that C-Raft reserves: the low
    /// 32 bits, with [`READ_ROUND_MARK`] in the high 32 bits. A decoder that does not find the
    /// mark (C-Raft writes zeros; 0.15 leaves garbage) yields 0, so a non-zero round also tells
    /// a follower that its leader answers ReadIndex.
    pub read_round: u32,
}

/// AppendEntriesResult (type 2). `version` 0 is the 24-byte header C-Raft 0.15 sends (no
/// `features`/`capacity`); any other version is encoded as the 32-byte version 2. Decoding
/// yields 0 or 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendEntriesResult {
    /// Message version (see the struct documentation for the layouts).
    pub version: u8,
    /// Sender's term.
    pub term: Term,
    /// 0 on success, else the index that was rejected.
    pub rejected: Index,
    /// Index of the sender's last log entry.
    pub last_log_index: Index,
    /// Feature bits (bit 0: capacity is reported), version 2 only.
    pub features: u16,
    /// Free pre-allocated log space in KiB, version 2 only.
    pub capacity: u16,
    /// The last read round the sender received from its leader (libraft-rs, feature bit 1),
    /// in bytes 28..31, which C-Raft writes as zero and never reads; version 2 only.
    pub read_echo: u32,
}

/// InstallSnapshot (type 5), version 0: the whole snapshot, uncompressed, in one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallSnapshot {
    /// Message version (see the struct documentation for the layouts).
    pub version: u8,
    /// Sender's term.
    pub term: Term,
    /// Index of the last entry the snapshot covers.
    pub last_index: Index,
    /// Term of the last entry the snapshot covers.
    pub last_term: Term,
    /// The configuration stored in the snapshot.
    pub conf: Configuration,
    /// Index of the configuration entry that configuration came from.
    pub conf_index: Index,
    /// The snapshot data.
    pub data: Bytes,
}

/// TimeoutNow (type 6), version 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutNow {
    /// Message version (see the struct documentation for the layouts).
    pub version: u8,
    /// Sender's term.
    pub term: Term,
    /// Index of the sender's last log entry.
    pub last_log_index: Index,
    /// Term of the sender's last log entry.
    pub last_log_term: Term,
}

/// ReadIndex (type 7, libraft-rs): header `term u64 | id u64` (16 bytes). Sent only to a leader
/// whose AppendEntries carry read rounds (see [`AppendEntries::read_round`]), so never to C-Raft,
/// which closes the connection on an unknown type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadIndex {
    /// Sender's term.
    pub term: Term,
    /// The follower host's read ID.
    pub id: u64,
}

/// ReadIndexResult (type 8, libraft-rs): header `term u64 | id u64 | index u64` (24 bytes);
/// `index` 0 means the read failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadIndexResult {
    /// Sender's term.
    pub term: Term,
    /// The read's ID, as the follower sent it.
    pub id: u64,
    /// The read index, or 0.
    pub index: Index,
}

/// InstallSnapshotChunk (type 9, libraft-rs): chunk `chunk` of a streamed snapshot. Header
/// `term | last_index | last_term | conf_index | chunk | flags (bit 0: last) | C | configuration
/// (C bytes; C = 0 except on the last chunk) | data length` (H = 64 + C), then the data. Sent
/// only to followers that advertise streamed snapshots (feature bit 2), so never to C-Raft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallSnapshotChunk {
    /// Sender's term.
    pub term: Term,
    /// Index and term of the last entry the snapshot covers.
    pub last_index: Index,
    pub last_term: Term,
    /// The snapshot's configuration (empty except on the last chunk) and its index.
    pub conf: Configuration,
    pub conf_index: Index,
    /// The chunk's number, from 0.
    pub chunk: u32,
    /// This is the last chunk.
    pub last: bool,
    /// The chunk's bytes.
    pub data: Bytes,
}

/// InstallSnapshotChunkResult (type 10, libraft-rs): header `term | last_index | next_chunk |
/// flags` (32 bytes; a 24-byte header without flags is read as flags 0): the follower stored
/// chunks `0 .. next_chunk` of the snapshot at `last_index`; flag bit 0 (`gap`): the chunk
/// answered came after one it lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallSnapshotChunkResult {
    /// Sender's term.
    pub term: Term,
    pub last_index: Index,
    pub next_chunk: u32,
    pub gap: bool,
}

/// One message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    /// Type 1: replicate entries (or heartbeat).
    AppendEntries(AppendEntries),
    /// Type 2: answer to AppendEntries and InstallSnapshot.
    AppendEntriesResult(AppendEntriesResult),
    /// Type 3: ask for a vote or pre-vote.
    RequestVote(RequestVote),
    /// Type 4: answer to RequestVote.
    RequestVoteResult(RequestVoteResult),
    /// Type 5: a whole snapshot.
    InstallSnapshot(InstallSnapshot),
    /// Type 6: start an election now (leadership transfer).
    TimeoutNow(TimeoutNow),
    /// Type 7 (libraft-rs, never sent to C-Raft): confirm a follower's read.
    ReadIndex(ReadIndex),
    /// Type 8 (libraft-rs): the answer to ReadIndex.
    ReadIndexResult(ReadIndexResult),
    /// Type 9 (libraft-rs, never sent to C-Raft): a chunk of a streamed snapshot.
    InstallSnapshotChunk(InstallSnapshotChunk),
    /// Type 10 (libraft-rs): the answer to InstallSnapshotChunk.
    InstallSnapshotChunkResult(InstallSnapshotChunkResult),
}

impl WireMessage {
    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            WireMessage::AppendEntries(_) => MessageType::AppendEntries,
            WireMessage::AppendEntriesResult(_) => MessageType::AppendEntriesResult,
            WireMessage::RequestVote(_) => MessageType::RequestVote,
            WireMessage::RequestVoteResult(_) => MessageType::RequestVoteResult,
            WireMessage::InstallSnapshot(_) => MessageType::InstallSnapshot,
            WireMessage::TimeoutNow(_) => MessageType::TimeoutNow,
            WireMessage::ReadIndex(_) => MessageType::ReadIndex,
            WireMessage::ReadIndexResult(_) => MessageType::ReadIndexResult,
            WireMessage::InstallSnapshotChunk(_) => MessageType::InstallSnapshotChunk,
            WireMessage::InstallSnapshotChunkResult(_) => MessageType::InstallSnapshotChunkResult,
        }
    }

    /// The message's version (as given to the encoder, or as inferred by the decoder).
    pub fn version(&self) -> u8 {
        match self {
            WireMessage::AppendEntries(m) => m.version,
            WireMessage::AppendEntriesResult(m) => m.version,
            WireMessage::RequestVote(m) => m.version,
            WireMessage::RequestVoteResult(m) => m.version,
            WireMessage::InstallSnapshot(m) => m.version,
            WireMessage::TimeoutNow(_)
            | WireMessage::ReadIndex(_)
            | WireMessage::ReadIndexResult(_)
            | WireMessage::InstallSnapshotChunk(_)
            | WireMessage::InstallSnapshotChunkResult(_) => 0,
        }
    }
}
