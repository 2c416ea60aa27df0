//! The wire codec in C: the handshake, `raft_message` to C-Raft's bytes and back, and the
//! release of what a decoded message holds. The incremental decoder is in `decoder.rs`.

use std::ffi::{c_char, c_int};
use std::ptr;

use bytes::Bytes;

use super::boundary::{self, codec_call, guard, Failure};
use super::configuration::{self as conf_ffi, copy_to_heap};
use super::entries::{self, Origin};
use super::heap;
use super::message::{self, MessageView};
use super::types::*;
use crate::codec::wire::{self, Handshake, Limits, WireMessage};

/// Encodes the handshake a node sends first on each connection it opens: its own `id` and
/// listening `address` (borrowed for the call). On success `out->base` is a `raft_malloc`
/// buffer the caller frees with `raft_free`; on error `out` is untouched.
///
/// Errors: `RAFT_INVALID` (NULL `out` or `address`, `id` 0, address not UTF-8), `RAFT_NOMEM`.
/// `errmsg`, when not NULL, is a caller buffer of `RAFT_ERRMSG_BUF_SIZE` bytes that receives a
/// description of any error (this convention holds for every codec function).
#[no_mangle]
pub extern "C" fn raft_encode_handshake(
    id: raft_id,
    address: *const c_char,
    out: *mut raft_buffer,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let out = boundary::non_null_mut(out, "out")?;
            let address = boundary::text(address, "address")?;
            let bytes =
                wire::encode_handshake(&Handshake { server_id: id, address: address.to_owned() })?;
            *out = copy_to_heap(&bytes)?;
            Ok(())
        }
    })
}

/// Decodes a whole handshake: `buf` must hold exactly its 24-byte prefix and address field.
/// On success `*id` is the peer's ID and `*address` a NUL-terminated copy of its address,
/// allocated with `raft_malloc` (the caller frees it with `raft_free`); on error both are
/// untouched. Hosts reading a socket use `raft_decoder` instead, which finds the boundaries.
///
/// Errors: `RAFT_INVALID` (NULL argument), `RAFT_MALFORMED` (protocol not 1, truncated, ID 0,
/// address without NUL or not UTF-8, trailing bytes), `RAFT_TOOBIG` (address field above
/// 4 KiB), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_decode_handshake(
    buf: *const raft_buffer,
    id: *mut raft_id,
    address: *mut *mut c_char,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let bytes = boundary::input_bytes(buf, "buffer")?;
            let id = boundary::non_null_mut(id, "id")?;
            let address = boundary::non_null_mut(address, "address")?;
            let handshake = wire::decode_handshake(bytes, &Limits::default())?;
            let copy = heap::copy_string(handshake.address.as_bytes())?;
            *id = handshake.server_id;
            *address = copy;
            Ok(())
        }
    })
}

/// Encodes `message` as C-Raft's wire bytes (preamble, header, payload) into `out->base`, a
/// `raft_malloc` buffer the caller frees with `raft_free`; on error `out` is untouched.
/// `server_id`/`server_address` are not encoded (the connection's handshake names the
/// sender). Everything `message` points to is borrowed for the call: for AppendEntries the
/// `n_entries` entries the host attached (payload sizes must be multiples of 8: C-Raft's wire
/// format cannot carry others, although `raft_step` accepts any length), for InstallSnapshot
/// the attached `conf` (not empty) and `data`. `version` selects the layout where there are
/// several: RequestVote 1 → 32-byte header, else 40; RequestVoteResult 1 → 16, else 24;
/// AppendEntriesResult 0 → 24 (what C-Raft 0.15 sends), else 32 with `features` and
/// `capacity`. Messages emitted by `raft_step` carry the versions C-Raft writes.
///
/// Errors: `RAFT_INVALID` (NULL argument, unknown type, NULL entries with `n_entries > 0`,
/// unknown entry type, unaligned or over-4-GiB entry — `errmsg` names its log index and its
/// length —, bad or empty configuration), `RAFT_NOMEM`.
#[no_mangle]
pub extern "C" fn raft_encode_message(
    message: *const raft_message,
    out: *mut raft_buffer,
    errmsg: *mut c_char,
) -> c_int {
    codec_call(errmsg, || {
        // SAFETY: the pointers are the caller's, valid for the call.
        unsafe {
            let message = boundary::non_null(message, "message")?;
            let out = boundary::non_null_mut(out, "out")?;
            let wire_message = from_c(message)?;
            let bytes = wire::encode_message(&wire_message)?;
            *out = copy_to_heap(&bytes)?;
            Ok(())
        }
    })
}

/// Releases what a message filled by `raft_decoder_next` holds, and zeroes its body so that a
/// second call is harmless. The AppendEntries `entries` array and the InstallSnapshot (and
/// InstallSnapshotChunk) `conf` are always released; the entries' batch and the snapshot (or
/// chunk) `data` only when
/// `payload_taken` is false. Pass `payload_taken = true` after `raft_step` returned 0 for a
/// `RAFT_RECEIVE` of this message (the library then owns, or handed back in the update, the
/// batch and data) and false when the message was never stepped or the step failed. Other
/// message types hold nothing. NULL is ignored. Never call this on a message whose memory was
/// not allocated by `raft_decoder_next`.
#[no_mangle]
pub extern "C" fn raft_message_release(message: *mut raft_message, payload_taken: bool) {
    guard(|| {
        // SAFETY: a non-NULL message was filled by raft_decoder_next (the caller's contract).
        if let Some(m) = unsafe { message.as_mut() } {
            // SAFETY: as above.
            unsafe { release(m, payload_taken) }
        }
    })
}

/// # Safety
/// `m` must have been filled by [`to_c`] and not released since.
unsafe fn release(m: &mut raft_message, payload_taken: bool) {
    match raft_message_type::try_from(m.r#type) {
        Ok(raft_message_type::RAFT_APPEND_ENTRIES) => {
            // SAFETY: the type selects append_entries, filled by to_c.
            let ae = unsafe { &mut m.body.append_entries };
            // SAFETY: the array and batch come from entries::to_c.
            unsafe { entries::free(ae.entries, ae.n_entries as usize, !payload_taken) };
            ae.entries = ptr::null_mut();
            ae.n_entries = 0;
        }
        _ => {
            // SAFETY: what to_c filled in, raft heap memory.
            unsafe { message::release_snapshot_carried(m, payload_taken) };
        }
    }
}

/// Reads a host message into the codec's form, copying payloads.
///
/// # Safety
/// `m` and everything its active member points to must be valid for the call.
unsafe fn from_c(m: &raft_message) -> Result<WireMessage, Failure> {
    use crate::codec::wire::*;
    // SAFETY: forwarded to the caller.
    Ok(match unsafe { MessageView::read(m, Origin::Host) }? {
        MessageView::AppendEntries(ae, carried) => WireMessage::AppendEntries(AppendEntries {
            version: ae.version,
            term: ae.term,
            prev_log_index: ae.prev_log_index,
            prev_log_term: ae.prev_log_term,
            leader_commit: ae.leader_commit,
            // SAFETY: forwarded to the caller.
            entries: unsafe { entries::from_c(carried, "entry") }?,
            read_round: ae.read_round,
        }),
        MessageView::AppendEntriesResult(r) => {
            WireMessage::AppendEntriesResult(AppendEntriesResult {
                version: r.version,
                term: r.term,
                rejected: r.rejected,
                last_log_index: r.last_log_index,
                features: r.features,
                capacity: r.capacity,
                read_echo: r.read_echo,
            })
        }
        MessageView::RequestVote(rv) => WireMessage::RequestVote(RequestVote {
            version: rv.version,
            term: rv.term,
            candidate_id: rv.candidate_id,
            last_log_index: rv.last_log_index,
            last_log_term: rv.last_log_term,
            disrupt_leader: rv.disrupt_leader != 0,
            pre_vote: rv.pre_vote != 0,
        }),
        MessageView::RequestVoteResult(r) => WireMessage::RequestVoteResult(RequestVoteResult {
            version: r.version,
            term: r.term,
            vote_granted: r.vote_granted != 0,
            pre_vote: r.pre_vote != 0,
            features: r.features,
            capacity: r.capacity,
        }),
        MessageView::InstallSnapshot(is) => {
            // SAFETY: forwarded to the caller.
            let data = unsafe { boundary::buffer_bytes(&is.data, "snapshot data") }?;
            WireMessage::InstallSnapshot(InstallSnapshot {
                version: is.version,
                term: is.term,
                last_index: is.last_index,
                last_term: is.last_term,
                // SAFETY: forwarded to the caller.
                conf: unsafe { conf_ffi::from_c(&is.conf) }?,
                conf_index: is.conf_index,
                data: Bytes::copy_from_slice(data),
            })
        }
        MessageView::TimeoutNow(tn) => WireMessage::TimeoutNow(TimeoutNow {
            version: tn.version,
            term: tn.term,
            last_log_index: tn.last_log_index,
            last_log_term: tn.last_log_term,
        }),
        MessageView::ReadIndex(r) => WireMessage::ReadIndex(ReadIndex { term: r.term, id: r.id }),
        MessageView::ReadIndexResult(r) => {
            WireMessage::ReadIndexResult(ReadIndexResult { term: r.term, id: r.id, index: r.index })
        }
        MessageView::InstallSnapshotChunk(c) => {
            // SAFETY: forwarded to the caller.
            let data = unsafe { boundary::buffer_bytes(&c.data, "snapshot chunk") }?;
            // SAFETY: forwarded to the caller.
            let conf = unsafe { message::chunk_configuration(c) }?;
            WireMessage::InstallSnapshotChunk(InstallSnapshotChunk {
                term: c.term,
                last_index: c.last_index,
                last_term: c.last_term,
                conf,
                conf_index: c.conf_index,
                chunk: c.chunk,
                last: c.last != 0,
                data: Bytes::copy_from_slice(data),
            })
        }
        MessageView::InstallSnapshotChunkResult(r) => {
            let next_chunk = message::next_chunk(r).map_err(Failure::invalid)?;
            WireMessage::InstallSnapshotChunkResult(InstallSnapshotChunkResult {
                term: r.term,
                last_index: r.last_index,
                next_chunk,
                gap: message::gap(r).map_err(Failure::invalid)?,
            })
        }
    })
}

/// The C forms of a received snapshot's (or chunk's) configuration, when it carries one, and
/// data: both on the raft heap, or neither.
fn snapshot_to_c(
    conf: Option<&crate::vocab::Configuration>,
    data: &Bytes,
) -> Result<(raft_configuration, raft_buffer), Failure> {
    let mut c = raft_configuration { servers: ptr::null_mut(), n: 0 };
    if let Some(conf) = conf {
        conf_ffi::to_c(conf, &mut c)?;
    }
    match copy_to_heap(data) {
        Ok(data) => Ok((c, data)),
        Err(failure) => {
            conf_ffi::close(&mut c);
            Err(failure)
        }
    }
}

/// The C form of a decoded message, ready for `RAFT_RECEIVE` except for the sender, which
/// stays 0/NULL: AppendEntries entries in a `raft_malloc` array sharing one `raft_malloc`
/// batch, InstallSnapshot `conf` decoded and `data` in a `raft_malloc` buffer, `version` as
/// inferred from the encoding. On failure nothing stays allocated.
pub fn to_c(message: &WireMessage) -> Result<raft_message, Failure> {
    // SAFETY: all-zero bytes are a valid raft_message (NULL pointers, zero integers).
    let mut out: raft_message = unsafe { std::mem::zeroed() };
    out.r#type = raft_message_type::from(message.message_type()) as message_type_field;
    match message {
        WireMessage::AppendEntries(m) => {
            let (array, n) = entries::to_c(&m.entries)?;
            out.body.append_entries = raft_append_entries {
                version: m.version,
                term: m.term,
                prev_log_index: m.prev_log_index,
                prev_log_term: m.prev_log_term,
                leader_commit: m.leader_commit,
                entries: array,
                n_entries: n as _,
                read_round: m.read_round,
            };
        }
        WireMessage::AppendEntriesResult(m) => {
            out.body.append_entries_result = raft_append_entries_result {
                version: m.version,
                term: m.term,
                rejected: m.rejected,
                last_log_index: m.last_log_index,
                features: m.features,
                capacity: m.capacity,
                read_echo: m.read_echo,
            };
        }
        WireMessage::RequestVote(m) => {
            out.body.request_vote = raft_request_vote {
                version: m.version,
                term: m.term,
                candidate_id: m.candidate_id,
                last_log_index: m.last_log_index,
                last_log_term: m.last_log_term,
                disrupt_leader: m.disrupt_leader.into(),
                pre_vote: m.pre_vote.into(),
            };
        }
        WireMessage::RequestVoteResult(m) => {
            out.body.request_vote_result = raft_request_vote_result {
                version: m.version,
                term: m.term,
                vote_granted: m.vote_granted.into(),
                pre_vote: m.pre_vote.into(),
                features: m.features,
                capacity: m.capacity,
            };
        }
        WireMessage::InstallSnapshot(m) => {
            let (conf, data) = snapshot_to_c(Some(&m.conf), &m.data)?;
            out.body.install_snapshot = raft_install_snapshot {
                version: m.version,
                term: m.term,
                last_index: m.last_index,
                last_term: m.last_term,
                conf,
                conf_index: m.conf_index,
                data,
            };
        }
        WireMessage::TimeoutNow(m) => {
            out.body.timeout_now = raft_timeout_now {
                version: m.version,
                term: m.term,
                last_log_index: m.last_log_index,
                last_log_term: m.last_log_term,
            };
        }
        WireMessage::ReadIndex(m) => {
            out.body.read_index = raft_read_index { version: 0, term: m.term, id: m.id };
        }
        WireMessage::ReadIndexResult(m) => {
            out.body.read_index_result =
                raft_read_index_result { version: 0, term: m.term, id: m.id, index: m.index };
        }
        WireMessage::InstallSnapshotChunk(m) => {
            let (conf, data) = snapshot_to_c(m.last.then_some(&m.conf), &m.data)?;
            out.body.install_snapshot_chunk = raft_install_snapshot_chunk {
                version: 0,
                last: u8::from(m.last),
                chunk: m.chunk,
                term: m.term,
                last_index: m.last_index,
                last_term: m.last_term,
                conf,
                conf_index: m.conf_index,
                data,
            };
        }
        WireMessage::InstallSnapshotChunkResult(m) => {
            out.body.install_snapshot_chunk_result = raft_install_snapshot_chunk_result {
                version: 0,
                gap: u8::from(m.gap),
                term: m.term,
                last_index: m.last_index,
                next_chunk: u64::from(m.next_chunk),
            };
        }
    }
    Ok(out)
}
