//! C-Raft's TCP protocol (`raft_uv_tcp`, docs/formats.md#wire): the connection handshake and the six
//! RPC messages, as pure functions over bytes plus an incremental [`StreamDecoder`].
//!
//! Encoding follows the format's rules for senders: preamble version byte 0, reserved bytes zero,
//! entry sizes multiples of 8. Decoding follows its rules for receivers: reserved bytes and the
//! preamble's bytes 1..7 are ignored, message versions are inferred from header lengths, and
//! every length is checked against [`Limits`] before anything is buffered or allocated for it.

mod decode;
mod encode;
mod handshake;
mod message;
mod stream;

pub use decode::{decode_header, decode_message, decode_preamble, MessageHead, Preamble};
pub use encode::{encode_message, encode_message_head, encode_message_into, payload_parts};
pub use handshake::{
    decode_handshake, decode_handshake_prefix, encode_handshake, Handshake, HANDSHAKE_PREFIX_LEN,
    PROTOCOL,
};
pub use message::{
    AppendEntries, AppendEntriesResult, InstallSnapshot, InstallSnapshotChunk,
    InstallSnapshotChunkResult, MessageType, ReadIndex, ReadIndexResult, RequestVote,
    RequestVoteResult, TimeoutNow, WireMessage, READ_ROUND_MARK,
};
pub use stream::{Frame, StreamDecoder};

/// Bytes of the preamble that starts every message (type, version byte, header length).
pub const PREAMBLE_LEN: usize = 16;

/// Upper bounds a decoder enforces on what a peer announces. C-Raft allocates whatever a peer
/// announces; these limits make a 16-byte preamble unable to make us reserve gigabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest handshake address field (the padded length L), in bytes.
    pub max_address_len: u64,
    /// Longest message header (H), in bytes. Bounds the number of entries of an AppendEntries
    /// (16 bytes each) and the configuration of an InstallSnapshot.
    pub max_header_len: u64,
    /// Longest message payload: the entries of an AppendEntries or the data of an
    /// InstallSnapshot.
    pub max_payload_len: u64,
    /// Refuse AppendEntries whose entry sizes are not multiples of 8 (docs/formats.md#alignment: C-Raft
    /// cannot handle them, so they are malformed). Only tests of the negative
    /// example vectors turn this off.
    pub reject_unaligned_entries: bool,
}

impl Default for Limits {
    /// 4 KiB addresses, 8 MiB headers (half a million entries per message), 1 GiB payloads,
    /// unaligned entries refused.
    fn default() -> Limits {
        Limits {
            max_address_len: 4096,
            max_header_len: 8 << 20,
            max_payload_len: 1 << 30,
            reject_unaligned_entries: true,
        }
    }
}
