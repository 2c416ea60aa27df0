//! The one reader of `raft_message` ([`MessageView`]), received messages in the core's form,
//! and the core's emitted messages in C form.

use std::ffi::{c_char, c_int, c_void};

use super::boundary::{self, Failure};
use super::configuration;
use super::entries::{self, Origin};
use super::heap;
use super::instance::AddressBook;
use super::types::*;
use crate::core::message::{
    AppendEntriesResult, ReadIndex, ReadIndexResult, RequestVote, RequestVoteResult, TimeoutNow,
};
use crate::core::{
    EntryView, Incoming, Message, Outgoing, Received, SnapshotChunk, SnapshotChunkResult,
};

/// Message versions this library writes, as C-Raft does (docs/contract.md#message-versions).
const VERSION_REQUEST_VOTE: u8 = 2;
const VERSION_REQUEST_VOTE_RESULT: u8 = 2;
const VERSION_APPEND_ENTRIES: u8 = 0;
const VERSION_APPEND_ENTRIES_RESULT: u8 = 2;
const VERSION_INSTALL_SNAPSHOT: u8 = 0;
const VERSION_TIMEOUT_NOW: u8 = 0;

/// A `raft_message` read once, for every use: its type checked, the member of the union it
/// selects borrowed, and an AppendEntries' entries as a slice. Receiving (view → core, here)
/// and encoding (view → codec, `wire.rs`) both start from it, and after a step the payloads the
/// library took are found through it again.
#[derive(Clone, Copy)]
pub enum MessageView<'a> {
    AppendEntries(&'a raft_append_entries, &'a [raft_entry]),
    AppendEntriesResult(&'a raft_append_entries_result),
    RequestVote(&'a raft_request_vote),
    RequestVoteResult(&'a raft_request_vote_result),
    InstallSnapshot(&'a raft_install_snapshot),
    TimeoutNow(&'a raft_timeout_now),
    ReadIndex(&'a raft_read_index),
    ReadIndexResult(&'a raft_read_index_result),
    InstallSnapshotChunk(&'a raft_install_snapshot_chunk),
    InstallSnapshotChunkResult(&'a raft_install_snapshot_chunk_result),
}

impl<'a> MessageView<'a> {
    /// Reads `m`; `origin` decides whether a bad type or entry array is the host's invalid
    /// argument or malformed input.
    ///
    /// # Safety
    /// The union member that `m.type` selects must be initialised, and an AppendEntries'
    /// `entries` must be NULL or point to `n_entries` entries, valid for `'a`.
    pub unsafe fn read(m: &'a raft_message, origin: Origin) -> Result<MessageView<'a>, Failure> {
        use raft_message_type as T;
        let kind = T::try_from(m.r#type)
            .map_err(|code| origin.failure(format!("unknown message type {code}")))?;
        // SAFETY: `kind` selects the member the writer filled; pointers per the caller.
        Ok(unsafe {
            match kind {
                T::RAFT_APPEND_ENTRIES => {
                    let ae = &m.body.append_entries;
                    let entries = boundary::slice(ae.entries, ae.n_entries as usize, "entries")
                        .map_err(|f| origin.refuse(f))?;
                    MessageView::AppendEntries(ae, entries)
                }
                T::RAFT_APPEND_ENTRIES_RESULT => {
                    MessageView::AppendEntriesResult(&m.body.append_entries_result)
                }
                T::RAFT_REQUEST_VOTE => MessageView::RequestVote(&m.body.request_vote),
                T::RAFT_REQUEST_VOTE_RESULT => {
                    MessageView::RequestVoteResult(&m.body.request_vote_result)
                }
                T::RAFT_INSTALL_SNAPSHOT => MessageView::InstallSnapshot(&m.body.install_snapshot),
                T::RAFT_TIMEOUT_NOW => MessageView::TimeoutNow(&m.body.timeout_now),
                T::RAFT_READ_INDEX => MessageView::ReadIndex(&m.body.read_index),
                T::RAFT_READ_INDEX_RESULT => {
                    MessageView::ReadIndexResult(&m.body.read_index_result)
                }
                T::RAFT_INSTALL_SNAPSHOT_CHUNK => {
                    MessageView::InstallSnapshotChunk(&m.body.install_snapshot_chunk)
                }
                T::RAFT_INSTALL_SNAPSHOT_CHUNK_RESULT => {
                    MessageView::InstallSnapshotChunkResult(&m.body.install_snapshot_chunk_result)
                }
            }
        })
    }

    /// The entries an AppendEntries carries (none for other messages).
    pub fn entries(self) -> &'a [raft_entry] {
        match self {
            MessageView::AppendEntries(_, entries) => entries,
            _ => &[],
        }
    }

    /// The batch the carried entries share, NULL when there are none.
    pub fn entries_batch(self) -> *mut c_void {
        self.entries().first().map_or(std::ptr::null_mut(), |e| e.batch)
    }

    /// The data buffer of an InstallSnapshot.
    pub fn snapshot_data(self) -> Option<raft_buffer> {
        match self {
            MessageView::InstallSnapshot(is) => Some(is.data),
            MessageView::InstallSnapshotChunk(c) => Some(c.data),
            _ => None,
        }
    }
}

/// A received message, read (never written: events are read-only) into the core's form, with
/// its view, through which the update finds the payloads it may hand back to the host.
///
/// # Safety
/// `m` and everything it points to must be valid for `'a` as the header documents for
/// `RAFT_RECEIVE`.
pub unsafe fn received<'a: 'v, 'v>(
    m: &'a raft_message,
    views: &'v mut Vec<EntryView<'a>>,
) -> Result<(Received<'v>, MessageView<'a>), Failure> {
    let malformed = Origin::Network;
    // SAFETY: a non-NULL sender address is the host's NUL-terminated string.
    let from_address = unsafe { boundary::text(m.server_address, "sender address") }
        .map_err(|f| malformed.refuse(f))?;
    // SAFETY: forwarded to the caller.
    let view = unsafe { MessageView::read(m, malformed) }?;
    let body = match view {
        MessageView::AppendEntries(ae, entries) => {
            check_single_batch(entries)?;
            // SAFETY: forwarded to the caller.
            unsafe { entries::views(entries, malformed, "received entry", views) }?;
            Incoming::AppendEntries {
                term: ae.term,
                prev_log_index: ae.prev_log_index,
                prev_log_term: ae.prev_log_term,
                leader_commit: ae.leader_commit,
                entries: views.as_slice(),
            }
        }
        MessageView::AppendEntriesResult(r) => Incoming::AppendEntriesResult(AppendEntriesResult {
            term: r.term,
            rejected: r.rejected,
            last_log_index: r.last_log_index,
            features: r.features,
            capacity: r.capacity,
        }),
        MessageView::RequestVote(rv) => Incoming::RequestVote(RequestVote {
            term: rv.term,
            candidate_id: rv.candidate_id,
            last_log_index: rv.last_log_index,
            last_log_term: rv.last_log_term,
            disrupt_leader: rv.disrupt_leader != 0,
            pre_vote: rv.pre_vote != 0,
        }),
        MessageView::RequestVoteResult(r) => Incoming::RequestVoteResult(RequestVoteResult {
            term: r.term,
            vote_granted: r.vote_granted != 0,
            // Senders before version 2 did not have the flag (docs/contract.md#message-versions).
            pre_vote: r.version > 1 && r.pre_vote != 0,
            features: r.features,
            capacity: r.capacity,
        }),
        MessageView::InstallSnapshot(is) => {
            // SAFETY: forwarded to the caller.
            let conf = unsafe { configuration::from_c(&is.conf) }.map_err(|f| {
                Failure::malformed(format!("snapshot configuration: {}", f.message))
            })?;
            Incoming::InstallSnapshot {
                term: is.term,
                last_index: is.last_index,
                last_term: is.last_term,
                conf,
                conf_index: is.conf_index,
            }
        }
        MessageView::TimeoutNow(tn) => Incoming::TimeoutNow(TimeoutNow {
            term: tn.term,
            last_log_index: tn.last_log_index,
            last_log_term: tn.last_log_term,
        }),
        MessageView::ReadIndex(r) => Incoming::ReadIndex(ReadIndex { term: r.term, id: r.id }),
        MessageView::ReadIndexResult(r) => {
            Incoming::ReadIndexResult(ReadIndexResult { term: r.term, id: r.id, index: r.index })
        }
        MessageView::InstallSnapshotChunk(c) => {
            // SAFETY: forwarded to the caller.
            let conf = unsafe { chunk_configuration(c) }.map_err(|f| {
                Failure::malformed(format!("snapshot configuration: {}", f.message))
            })?;
            Incoming::InstallSnapshotChunk(SnapshotChunk {
                term: c.term,
                last_index: c.last_index,
                last_term: c.last_term,
                conf,
                conf_index: c.conf_index,
                chunk: c.chunk,
                len: c.data.len as u64,
                last: c.last != 0,
            })
        }
        MessageView::InstallSnapshotChunkResult(r) => {
            let next_chunk = next_chunk(r).map_err(Failure::malformed)?;
            Incoming::SnapshotChunkResult(SnapshotChunkResult {
                term: r.term,
                last_index: r.last_index,
                next_chunk,
                gap: gap(r).map_err(Failure::malformed)?,
            })
        }
    };
    let read_context = match view {
        MessageView::AppendEntries(ae, _) => ae.read_round,
        MessageView::AppendEntriesResult(r) => r.read_echo,
        _ => 0,
    };
    Ok((Received { from: m.server_id, from_address, body, read_context }, view))
}

/// The configuration a chunk carries: the last chunk's, read; none on the others.
///
/// # Safety
/// On the last chunk, `conf` must be a valid configuration for the call.
pub unsafe fn chunk_configuration(
    c: &raft_install_snapshot_chunk,
) -> Result<crate::core::Configuration, Failure> {
    if c.last == 0 {
        return Ok(Default::default());
    }
    // SAFETY: per the caller.
    unsafe { configuration::from_c(&c.conf) }
}

/// Frees what a received InstallSnapshot or snapshot chunk carries: its configuration always,
/// its data unless the step took it (`payload_taken`). Other types are left alone (false).
///
/// # Safety
/// `m`'s configuration and data must be raft heap memory owned by the caller.
pub unsafe fn release_snapshot_carried(m: &mut raft_message, payload_taken: bool) -> bool {
    // SAFETY: the member selected by the type; per the caller.
    let (conf, data) = unsafe {
        if m.r#type == raft_message_type::RAFT_INSTALL_SNAPSHOT as c_int {
            (&mut m.body.install_snapshot.conf, &mut m.body.install_snapshot.data)
        } else if m.r#type == raft_message_type::RAFT_INSTALL_SNAPSHOT_CHUNK as c_int {
            (&mut m.body.install_snapshot_chunk.conf, &mut m.body.install_snapshot_chunk.data)
        } else {
            return false;
        }
    };
    configuration::close(conf);
    if !payload_taken {
        heap::free(data.base);
    }
    *data = raft_buffer { base: std::ptr::null_mut(), len: 0 };
    true
}

/// A chunk result's gap flag, 0 or 1.
pub fn gap(r: &raft_install_snapshot_chunk_result) -> Result<bool, String> {
    match r.gap {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("chunk result gap flag {other}, not 0 or 1")),
    }
}

/// A chunk result's count, which must fit the 32 bits chunks are numbered in.
pub fn next_chunk(r: &raft_install_snapshot_chunk_result) -> Result<u32, String> {
    u32::try_from(r.next_chunk).map_err(|_| format!("chunk count {} beyond 2^32 - 1", r.next_chunk))
}

/// All entries of one AppendEntries share one batch, which the library may free at once.
fn check_single_batch(entries: &[raft_entry]) -> Result<(), Failure> {
    match entries.first() {
        Some(first) if entries.iter().any(|e| e.batch != first.batch) => {
            Err(Failure::malformed("received entries do not share a single batch"))
        }
        _ => Ok(()),
    }
}

/// Fills `out` with the C form of the core's messages, reusing its buffer. This runs after the
/// core changed state, so it cannot fail: a message that finds no memory (for the array or
/// for its address) is dropped, which Raft tolerates as it tolerates any lost message (the
/// sender retries on its next heartbeat or election timeout).
pub fn emit_all(messages: &[Message], out: &mut Vec<raft_message>, addresses: &mut AddressBook) {
    out.clear();
    // Without room for all of them, emit what fits: a push past the capacity would allocate.
    let _ = out.try_reserve(messages.len());
    let room = out.capacity();
    for m in messages.iter().take(room) {
        if let Some(address) = addresses.pointer(m.to, &m.address) {
            out.push(emitted(m, address));
        }
    }
}

/// The C form of an emitted message, sent to `address` (the library's copy). Entries,
/// configuration and data are left NULL for the host to attach.
fn emitted(m: &Message, address: *const c_char) -> raft_message {
    // SAFETY: all-zero bytes are a valid raft_message (NULL pointers, zero integers).
    let mut out: raft_message = unsafe { std::mem::zeroed() };
    out.server_id = m.to;
    out.server_address = address;
    match &m.body {
        Outgoing::RequestVote(rv) => {
            out.r#type = raft_message_type::RAFT_REQUEST_VOTE as _;
            out.body.request_vote = raft_request_vote {
                version: VERSION_REQUEST_VOTE,
                term: rv.term,
                candidate_id: rv.candidate_id,
                last_log_index: rv.last_log_index,
                last_log_term: rv.last_log_term,
                disrupt_leader: rv.disrupt_leader as u8,
                pre_vote: rv.pre_vote as u8,
            };
        }
        Outgoing::RequestVoteResult(r) => {
            out.r#type = raft_message_type::RAFT_REQUEST_VOTE_RESULT as _;
            out.body.request_vote_result = raft_request_vote_result {
                version: VERSION_REQUEST_VOTE_RESULT,
                term: r.term,
                vote_granted: r.vote_granted as u8,
                pre_vote: r.pre_vote as u8,
                features: r.features,
                capacity: r.capacity,
            };
        }
        Outgoing::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            leader_commit,
            n_entries,
        } => {
            out.r#type = raft_message_type::RAFT_APPEND_ENTRIES as _;
            out.body.append_entries = raft_append_entries {
                version: VERSION_APPEND_ENTRIES,
                term: *term,
                prev_log_index: *prev_log_index,
                prev_log_term: *prev_log_term,
                leader_commit: *leader_commit,
                entries: std::ptr::null_mut(),
                n_entries: *n_entries,
                read_round: m.read_context,
            };
        }
        Outgoing::AppendEntriesResult(r) => {
            out.r#type = raft_message_type::RAFT_APPEND_ENTRIES_RESULT as _;
            out.body.append_entries_result = raft_append_entries_result {
                version: VERSION_APPEND_ENTRIES_RESULT,
                term: r.term,
                rejected: r.rejected,
                last_log_index: r.last_log_index,
                features: r.features,
                capacity: r.capacity,
                read_echo: m.read_context,
            };
        }
        Outgoing::InstallSnapshot { term, last_index, last_term, conf_index } => {
            out.r#type = raft_message_type::RAFT_INSTALL_SNAPSHOT as _;
            out.body.install_snapshot = raft_install_snapshot {
                version: VERSION_INSTALL_SNAPSHOT,
                term: *term,
                last_index: *last_index,
                last_term: *last_term,
                conf: raft_configuration { servers: std::ptr::null_mut(), n: 0 },
                conf_index: *conf_index,
                data: raft_buffer { base: std::ptr::null_mut(), len: 0 },
            };
        }
        Outgoing::TimeoutNow(tn) => {
            out.r#type = raft_message_type::RAFT_TIMEOUT_NOW as _;
            out.body.timeout_now = raft_timeout_now {
                version: VERSION_TIMEOUT_NOW,
                term: tn.term,
                last_log_index: tn.last_log_index,
                last_log_term: tn.last_log_term,
            };
        }
        Outgoing::ReadIndex(r) => {
            out.r#type = raft_message_type::RAFT_READ_INDEX as _;
            out.body.read_index = raft_read_index { version: 0, term: r.term, id: r.id };
        }
        Outgoing::ReadIndexResult(r) => {
            out.r#type = raft_message_type::RAFT_READ_INDEX_RESULT as _;
            out.body.read_index_result =
                raft_read_index_result { version: 0, term: r.term, id: r.id, index: r.index };
        }
        Outgoing::InstallSnapshotChunk {
            term,
            last_index,
            last_term,
            conf_index,
            chunk,
            offset: _,
            len,
            last,
        } => {
            out.r#type = raft_message_type::RAFT_INSTALL_SNAPSHOT_CHUNK as _;
            out.body.install_snapshot_chunk = raft_install_snapshot_chunk {
                version: 0,
                last: u8::from(*last),
                chunk: *chunk,
                term: *term,
                last_index: *last_index,
                last_term: *last_term,
                conf: raft_configuration { servers: std::ptr::null_mut(), n: 0 },
                conf_index: *conf_index,
                // The length tells the host how much to attach; the base is its to fill.
                data: raft_buffer { base: std::ptr::null_mut(), len: *len as usize },
            };
        }
        Outgoing::SnapshotChunkResult(r) => {
            out.r#type = raft_message_type::RAFT_INSTALL_SNAPSHOT_CHUNK_RESULT as _;
            out.body.install_snapshot_chunk_result = raft_install_snapshot_chunk_result {
                version: 0,
                gap: u8::from(r.gap),
                term: r.term,
                last_index: r.last_index,
                next_chunk: u64::from(r.next_chunk),
            };
        }
    }
    out
}
