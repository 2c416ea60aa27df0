//! Message decoding in the three steps a transport reads a message in: the 16-byte preamble
//! (which announces the header length H), the header (which announces the payload length), and
//! the payload. [`decode_message`] chains them for a buffer holding one whole message.
//!
//! Versions are inferred from H as docs/formats.md#wire describes; the preamble's bytes 1..7 and every
//! reserved byte are ignored.

use bytes::Bytes;

use super::message::{
    AppendEntries, AppendEntriesResult, InstallSnapshot, InstallSnapshotChunk,
    InstallSnapshotChunkResult, MessageType, ReadIndex, ReadIndexResult, RequestVote,
    RequestVoteResult, TimeoutNow, WireMessage, READ_ROUND_MARK,
};
use super::{Limits, PREAMBLE_LEN};
use crate::codec::configuration;
use crate::codec::cursor::Cursor;
use crate::codec::entry::{
    announced_payload_len, check_aligned, decode_descriptors, slice_entries, Descriptor,
    DESCRIPTOR_LEN,
};
use crate::codec::error::{Error, Result};

/// What the 16-byte preamble of a message announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// The message type (byte 0).
    pub message_type: MessageType,
    /// Byte 2, the version cowsql ≥ 0.20 writes there; informative only (0 from C-Raft 0.15).
    pub version_byte: u8,
    /// H, the header length in bytes.
    pub header_len: u64,
}

/// Decodes a preamble. Only byte 0 is taken as the type: bytes 1..7 may carry a version (cowsql
/// ≥ 0.20) and are not validated.
///
/// Errors: [`Error::Truncated`] if `buf` is shorter than 16 bytes; [`Error::Malformed`] for an
/// unknown type or H = 0; [`Error::TooBig`] if H exceeds `limits.max_header_len`.
pub fn decode_preamble(buf: &[u8], limits: &Limits) -> Result<Preamble> {
    let mut cursor = Cursor::new(buf, "message preamble");
    let code = cursor.u8()?;
    cursor.skip(1)?;
    let version_byte = cursor.u8()?;
    cursor.skip(5)?;
    let header_len = cursor.u64()?;
    let message_type = MessageType::from_code(code)
        .ok_or_else(|| Error::malformed("message preamble", format!("unknown type {code}")))?;
    if header_len == 0 {
        return Err(Error::malformed("message preamble", "header length 0"));
    }
    if header_len > limits.max_header_len {
        return Err(Error::too_big("message header", header_len, limits.max_header_len));
    }
    Ok(Preamble { message_type, version_byte, header_len })
}

/// A decoded header: the message without its payload, and how long that payload is.
#[derive(Clone, Debug)]
pub struct MessageHead {
    message: WireMessage,
    descriptors: Vec<Descriptor>,
    payload_len: u64,
}

impl MessageHead {
    /// Bytes of payload that follow the header.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// Completes the message with its payload, which must be exactly [`Self::payload_len`]
    /// bytes. Entries and snapshot data become slices of `payload` (no copy).
    ///
    /// Errors: [`Error::Malformed`] if `payload` has the wrong length.
    pub fn finish(self, payload: Bytes) -> Result<WireMessage> {
        if payload.len() as u64 != self.payload_len {
            return Err(Error::malformed(
                "message payload",
                format!("{} bytes where {} were announced", payload.len(), self.payload_len),
            ));
        }
        let mut message = self.message;
        match &mut message {
            WireMessage::AppendEntries(m) => {
                m.entries = slice_entries(&self.descriptors, &payload, "AppendEntries payload")?
            }
            WireMessage::InstallSnapshot(m) => m.data = payload,
            WireMessage::InstallSnapshotChunk(m) => m.data = payload,
            _ => {}
        }
        Ok(message)
    }
}

/// Decodes the header of a message whose preamble is `preamble`; `header` must be exactly H
/// bytes.
///
/// Errors: [`Error::Truncated`] or [`Error::Malformed`] when H does not fit the type (or
/// `header` is not H bytes long); [`Error::Malformed`] for an entry type other than 1..3, an
/// unaligned entry size (when `limits.reject_unaligned_entries`), or a bad or empty
/// configuration;
/// [`Error::TooBig`] if the payload exceeds `limits.max_payload_len`.
pub fn decode_header(preamble: &Preamble, header: &[u8], limits: &Limits) -> Result<MessageHead> {
    if header.len() as u64 != preamble.header_len {
        return Err(Error::malformed(
            "message header",
            format!("{} bytes where {} were announced", header.len(), preamble.header_len),
        ));
    }
    let simple = |message| Ok(MessageHead { message, descriptors: Vec::new(), payload_len: 0 });
    match preamble.message_type {
        MessageType::RequestVote => simple(request_vote(header)?),
        MessageType::RequestVoteResult => simple(request_vote_result(header)?),
        MessageType::AppendEntriesResult => simple(append_entries_result(header)?),
        MessageType::TimeoutNow => simple(timeout_now(header)?),
        MessageType::ReadIndex => simple(read_index(header)?),
        MessageType::ReadIndexResult => simple(read_index_result(header)?),
        MessageType::AppendEntries => append_entries(header, limits),
        MessageType::InstallSnapshot => install_snapshot(header, limits),
        MessageType::InstallSnapshotChunk => install_snapshot_chunk(header, limits),
        MessageType::InstallSnapshotChunkResult => simple(install_snapshot_chunk_result(header)?),
    }
}

/// Decodes a buffer that holds exactly one whole message (preamble, header and payload).
/// Payloads are slices of `buf`.
///
/// Errors: those of [`decode_preamble`] and [`decode_header`]; [`Error::Truncated`] if the
/// buffer ends early, [`Error::Malformed`] if bytes follow the message.
pub fn decode_message(buf: &Bytes, limits: &Limits) -> Result<WireMessage> {
    let preamble = decode_preamble(buf, limits)?;
    // Bounded by max_header_len, which a caller sets below the address space.
    let header_end = PREAMBLE_LEN as u64 + preamble.header_len;
    let whole =
        |needed: u64| Error::Truncated { what: "message", needed, available: buf.len() as u64 };
    if (buf.len() as u64) < header_end {
        return Err(whole(header_end));
    }
    let header_end = header_end as usize;
    let head = decode_header(&preamble, &buf[PREAMBLE_LEN..header_end], limits)?;
    let end = header_end as u64 + head.payload_len();
    if (buf.len() as u64) < end {
        return Err(whole(end));
    }
    if buf.len() as u64 > end {
        return Err(Error::malformed(
            "message",
            format!("{} bytes after it", buf.len() as u64 - end),
        ));
    }
    head.finish(buf.slice(header_end..))
}

/// Refuses headers too short for their fixed fields, naming the message.
fn require_len(header: &[u8], min: usize, what: &'static str) -> Result<()> {
    if header.len() < min {
        return Err(Error::Truncated { what, needed: min as u64, available: header.len() as u64 });
    }
    Ok(())
}

fn request_vote(header: &[u8]) -> Result<WireMessage> {
    // 32 bytes is version 1 (no flags); anything else must hold the version 2 flags word.
    let version = if header.len() == 32 { 1 } else { 2 };
    require_len(header, if version == 1 { 32 } else { 40 }, "RequestVote header")?;
    let mut c = Cursor::new(header, "RequestVote header");
    let (term, candidate_id, last_log_index, last_log_term) =
        (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    let flags = if version == 2 { c.u64()? } else { 0 };
    Ok(WireMessage::RequestVote(RequestVote {
        version,
        term,
        candidate_id,
        last_log_index,
        last_log_term,
        disrupt_leader: flags & 1 != 0,
        pre_vote: flags & 2 != 0,
    }))
}

fn request_vote_result(header: &[u8]) -> Result<WireMessage> {
    let version = if header.len() == 16 { 1 } else { 2 };
    require_len(header, if version == 1 { 16 } else { 24 }, "RequestVoteResult header")?;
    let mut c = Cursor::new(header, "RequestVoteResult header");
    let term = c.u64()?;
    // C-Raft converts the whole word to a bool.
    let vote_granted = c.u64()? != 0;
    let (mut pre_vote, mut features, mut capacity) = (false, 0, 0);
    if version == 2 {
        pre_vote = c.u8()? & 1 != 0;
        c.skip(1)?;
        features = c.u16()?;
        capacity = c.u16()?;
    }
    Ok(WireMessage::RequestVoteResult(RequestVoteResult {
        version,
        term,
        vote_granted,
        pre_vote,
        features,
        capacity,
    }))
}

fn append_entries_result(header: &[u8]) -> Result<WireMessage> {
    // 24 bytes is version 0 (C-Raft 0.15); longer is read as cowsql's version 2.
    let version = if header.len() == 24 { 0 } else { 2 };
    require_len(header, if version == 0 { 24 } else { 28 }, "AppendEntriesResult header")?;
    let mut c = Cursor::new(header, "AppendEntriesResult header");
    let (term, rejected, last_log_index) = (c.u64()?, c.u64()?, c.u64()?);
    let (features, capacity) = if version == 2 { (c.u16()?, c.u16()?) } else { (0, 0) };
    // Bytes 28..31 are there in every header of 32 bytes or more (C-Raft writes zeros).
    let read_echo = if header.len() >= 32 { c.u32()? } else { 0 };
    Ok(WireMessage::AppendEntriesResult(AppendEntriesResult {
        version,
        term,
        rejected,
        last_log_index,
        features,
        capacity,
        read_echo,
    }))
}

fn read_index(header: &[u8]) -> Result<WireMessage> {
    require_len(header, 16, "ReadIndex header")?;
    let mut c = Cursor::new(header, "ReadIndex header");
    Ok(WireMessage::ReadIndex(ReadIndex { term: c.u64()?, id: c.u64()? }))
}

fn read_index_result(header: &[u8]) -> Result<WireMessage> {
    require_len(header, 24, "ReadIndexResult header")?;
    let mut c = Cursor::new(header, "ReadIndexResult header");
    Ok(WireMessage::ReadIndexResult(ReadIndexResult {
        term: c.u64()?,
        id: c.u64()?,
        index: c.u64()?,
    }))
}

fn install_snapshot_chunk_result(header: &[u8]) -> Result<WireMessage> {
    const WHAT: &str = "InstallSnapshotChunkResult header";
    require_len(header, 24, WHAT)?;
    let mut c = Cursor::new(header, WHAT);
    let (term, last_index, next) = (c.u64()?, c.u64()?, c.u64()?);
    let next_chunk = u32::try_from(next)
        .map_err(|_| Error::malformed(WHAT, format!("chunk count {next} beyond 2^32 - 1")))?;
    // The flags word came after the first version of the message: without it, no flag.
    let flags = if header.len() >= 32 { c.u64()? } else { 0 };
    if flags > 1 {
        return Err(Error::malformed(WHAT, format!("unknown flags {flags:#x}")));
    }
    Ok(WireMessage::InstallSnapshotChunkResult(InstallSnapshotChunkResult {
        term,
        last_index,
        next_chunk,
        gap: flags & 1 != 0,
    }))
}

fn install_snapshot_chunk(header: &[u8], limits: &Limits) -> Result<MessageHead> {
    const WHAT: &str = "InstallSnapshotChunk header";
    require_len(header, 64, WHAT)?;
    let mut c = Cursor::new(header, WHAT);
    let (term, last_index, last_term, conf_index) = (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    let (chunk, flags, conf_len) = (c.u64()?, c.u64()?, c.u64()?);
    if conf_len.checked_add(64) != Some(header.len() as u64) {
        return Err(Error::malformed(
            WHAT,
            format!(
                "a {conf_len}-byte configuration does not fit a header of {} bytes",
                header.len()
            ),
        ));
    }
    let chunk = u32::try_from(chunk)
        .map_err(|_| Error::malformed(WHAT, format!("chunk number {chunk} beyond 2^32 - 1")))?;
    let last = flags & 1 != 0;
    if !last && conf_len != 0 {
        return Err(Error::malformed(WHAT, "a configuration on a chunk before the last"));
    }
    let conf = if conf_len == 0 {
        crate::vocab::Configuration::default()
    } else {
        configuration::decode(c.take(conf_len as usize)?)
            .map_err(|source| Error::Configuration { what: "InstallSnapshotChunk", source })?
    };
    if last && conf.is_empty() {
        return Err(Error::malformed(WHAT, "last chunk without configuration"));
    }
    let data_len = c.u64()?;
    if data_len > limits.max_payload_len {
        return Err(Error::too_big("InstallSnapshotChunk data", data_len, limits.max_payload_len));
    }
    let message = WireMessage::InstallSnapshotChunk(InstallSnapshotChunk {
        term,
        last_index,
        last_term,
        conf,
        conf_index,
        chunk,
        last,
        data: Bytes::new(),
    });
    Ok(MessageHead { message, descriptors: Vec::new(), payload_len: data_len })
}

fn timeout_now(header: &[u8]) -> Result<WireMessage> {
    require_len(header, 24, "TimeoutNow header")?;
    let mut c = Cursor::new(header, "TimeoutNow header");
    Ok(WireMessage::TimeoutNow(TimeoutNow {
        version: 0,
        term: c.u64()?,
        last_log_index: c.u64()?,
        last_log_term: c.u64()?,
    }))
}

fn append_entries(header: &[u8], limits: &Limits) -> Result<MessageHead> {
    const WHAT: &str = "AppendEntries header";
    require_len(header, 48, WHAT)?;
    let mut c = Cursor::new(header, WHAT);
    let (term, prev_log_index, prev_log_term, leader_commit) =
        (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    let n = c.u64()?;
    // H = 48 + 16·n exactly: the descriptors and the reserved trailing word.
    let expected = n.checked_mul(DESCRIPTOR_LEN as u64).and_then(|d| d.checked_add(48));
    if expected != Some(header.len() as u64) {
        return Err(Error::malformed(
            WHAT,
            format!("{n} entries do not fit a header of {} bytes", header.len()),
        ));
    }
    let descriptors = decode_descriptors(&mut c, n as usize, WHAT)?;
    // The reserved trailing word: a read round only under its mark (see `AppendEntries`).
    let word = c.u64()?;
    let read_round = if (word >> 32) as u32 == READ_ROUND_MARK { word as u32 } else { 0 };
    if limits.reject_unaligned_entries {
        check_aligned(&descriptors, WHAT)?;
    }
    let payload_len = announced_payload_len(&descriptors);
    if payload_len > limits.max_payload_len {
        return Err(Error::too_big("AppendEntries payload", payload_len, limits.max_payload_len));
    }
    let message = WireMessage::AppendEntries(AppendEntries {
        version: 0,
        term,
        prev_log_index,
        prev_log_term,
        leader_commit,
        entries: Vec::new(),
        read_round,
    });
    Ok(MessageHead { message, descriptors, payload_len })
}

fn install_snapshot(header: &[u8], limits: &Limits) -> Result<MessageHead> {
    const WHAT: &str = "InstallSnapshot header";
    require_len(header, 56, WHAT)?;
    let mut c = Cursor::new(header, WHAT);
    let (term, last_index, last_term, conf_index) = (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    let conf_len = c.u64()?;
    // H = 56 + C exactly: the configuration, the data length and the reserved trailing word.
    if conf_len.checked_add(56) != Some(header.len() as u64) {
        return Err(Error::malformed(
            WHAT,
            format!(
                "a {conf_len}-byte configuration does not fit a header of {} bytes",
                header.len()
            ),
        ));
    }
    let conf_bytes = c.take(conf_len as usize)?;
    let conf = configuration::decode(conf_bytes)
        .map_err(|source| Error::Configuration { what: "InstallSnapshot", source })?;
    if conf.is_empty() {
        return Err(Error::malformed(WHAT, "empty configuration"));
    }
    let data_len = c.u64()?;
    if data_len > limits.max_payload_len {
        return Err(Error::too_big("InstallSnapshot data", data_len, limits.max_payload_len));
    }
    let message = WireMessage::InstallSnapshot(InstallSnapshot {
        version: 0,
        term,
        last_index,
        last_term,
        conf,
        conf_index,
        data: Bytes::new(),
    });
    Ok(MessageHead { message, descriptors: Vec::new(), payload_len: data_len })
}
