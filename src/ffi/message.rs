//! Conversions between `raft_message`/`raft_entry` and the core's message and entry types.

use std::ffi::{c_char, c_int, c_void};

use super::boundary::{self, Failure};
use super::configuration;
use super::instance::AddressBook;
use super::types::*;
use crate::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult, TimeoutNow};
use crate::core::{EntryType, EntryView, Incoming, Message, Outgoing, Received};

/// Message versions this library writes, as C-Raft does (docs/contract.md#message-versions).
const VERSION_REQUEST_VOTE: u8 = 2;
const VERSION_REQUEST_VOTE_RESULT: u8 = 2;
const VERSION_APPEND_ENTRIES: u8 = 0;
const VERSION_APPEND_ENTRIES_RESULT: u8 = 2;
const VERSION_INSTALL_SNAPSHOT: u8 = 0;
const VERSION_TIMEOUT_NOW: u8 = 0;

/// Message type codes, as the host writes them.
const APPEND_ENTRIES: c_int = raft_message_type::RAFT_APPEND_ENTRIES as c_int;
const APPEND_ENTRIES_RESULT: c_int = raft_message_type::RAFT_APPEND_ENTRIES_RESULT as c_int;
const REQUEST_VOTE: c_int = raft_message_type::RAFT_REQUEST_VOTE as c_int;
const REQUEST_VOTE_RESULT: c_int = raft_message_type::RAFT_REQUEST_VOTE_RESULT as c_int;
const INSTALL_SNAPSHOT: c_int = raft_message_type::RAFT_INSTALL_SNAPSHOT as c_int;
const TIMEOUT_NOW: c_int = raft_message_type::RAFT_TIMEOUT_NOW as c_int;

/// How a bad entry is reported: the host's own entries are bad arguments, received ones are
/// malformed input.
#[derive(Clone, Copy)]
pub enum EntryOrigin {
    Host,
    Network,
}

impl EntryOrigin {
    fn failure(self, message: String) -> Failure {
        match self {
            EntryOrigin::Host => Failure::invalid(message),
            EntryOrigin::Network => Failure::malformed(message),
        }
    }
}

/// Describes `entries` to the core without copying payloads, in `views` (emptied first; its
/// buffer is reused from step to step).
///
/// # Safety
/// Every entry's `buf` must be `(NULL, 0)` or point to `len` readable bytes for `'a`.
pub unsafe fn entry_views<'a>(
    entries: &'a [raft_entry],
    origin: EntryOrigin,
    what: &str,
    views: &mut Vec<EntryView<'a>>,
) -> Result<(), Failure> {
    views.clear();
    // A message may announce millions of entries: running out of memory for their views is a
    // clean RAFT_NOMEM before anything changed, never an abort.
    views.try_reserve(entries.len()).map_err(|_| Failure::nomem())?;
    for (i, e) in entries.iter().enumerate() {
        let kind = EntryType::from_code(e.r#type.into())
            .ok_or_else(|| origin.failure(format!("{what} {i} has unknown type {}", e.r#type)))?;
        if e.batch.is_null() {
            return Err(origin.failure(format!("{what} {i} has a NULL batch")));
        }
        // SAFETY: forwarded to the caller.
        let payload = unsafe { boundary::buffer_bytes(&e.buf, what) }
            .map_err(|f| origin.failure(f.message))?;
        views.push(EntryView { term: e.term, kind, payload });
    }
    Ok(())
}

/// A received message, read (never written: events are read-only) into the core's form.
///
/// # Safety
/// `m` and everything it points to must be valid for `'a` as the header documents for
/// `RAFT_RECEIVE`.
/// Also returns the entries the message carries (an AppendEntries' batch), which the update
/// may hand back to the host.
pub unsafe fn received<'a: 'v, 'v>(
    m: &'a raft_message,
    views: &'v mut Vec<EntryView<'a>>,
) -> Result<(Received<'v>, &'a [raft_entry]), Failure> {
    let mut carried: &'a [raft_entry] = &[];
    // SAFETY: a non-NULL sender address is the host's NUL-terminated string.
    let from_address = unsafe { boundary::text(m.server_address, "sender address") }
        .map_err(|f| Failure::malformed(f.message))?;
    // SAFETY: `type` selects the union member the host filled.
    let body = unsafe {
        match m.r#type {
            APPEND_ENTRIES => {
                let ae = &m.body.append_entries;
                let entries = boundary::slice(ae.entries, ae.n_entries as usize, "entries")
                    .map_err(|f| Failure::malformed(f.message))?;
                check_single_batch(entries)?;
                entry_views(entries, EntryOrigin::Network, "received entry", views)?;
                carried = entries;
                Incoming::AppendEntries {
                    term: ae.term,
                    prev_log_index: ae.prev_log_index,
                    prev_log_term: ae.prev_log_term,
                    leader_commit: ae.leader_commit,
                    entries: views.as_slice(),
                }
            }
            APPEND_ENTRIES_RESULT => {
                let r = &m.body.append_entries_result;
                Incoming::AppendEntriesResult(AppendEntriesResult {
                    term: r.term,
                    rejected: r.rejected,
                    last_log_index: r.last_log_index,
                    features: r.features,
                    capacity: r.capacity,
                })
            }
            REQUEST_VOTE => {
                let rv = &m.body.request_vote;
                Incoming::RequestVote(RequestVote {
                    term: rv.term,
                    candidate_id: rv.candidate_id,
                    last_log_index: rv.last_log_index,
                    last_log_term: rv.last_log_term,
                    disrupt_leader: rv.disrupt_leader != 0,
                    pre_vote: rv.pre_vote != 0,
                })
            }
            REQUEST_VOTE_RESULT => {
                let r = &m.body.request_vote_result;
                Incoming::RequestVoteResult(RequestVoteResult {
                    term: r.term,
                    vote_granted: r.vote_granted != 0,
                    // Senders before version 2 did not have the flag (docs/contract.md#message-versions).
                    pre_vote: r.version > 1 && r.pre_vote != 0,
                    features: r.features,
                    capacity: r.capacity,
                })
            }
            INSTALL_SNAPSHOT => {
                let is = &m.body.install_snapshot;
                let conf = configuration::from_c(&is.conf).map_err(|f| {
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
            TIMEOUT_NOW => {
                let tn = &m.body.timeout_now;
                Incoming::TimeoutNow(TimeoutNow {
                    term: tn.term,
                    last_log_index: tn.last_log_index,
                    last_log_term: tn.last_log_term,
                })
            }
            other => return Err(Failure::malformed(format!("unknown message type {other}"))),
        }
    };
    Ok((Received { from: m.server_id, from_address, body }, carried))
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

/// The batch of a received AppendEntries, if it carries entries.
pub fn received_batch(m: &raft_message) -> *mut c_void {
    if m.r#type != APPEND_ENTRIES {
        return std::ptr::null_mut();
    }
    // SAFETY: type 1 selects append_entries.
    let ae = unsafe { &m.body.append_entries };
    if ae.n_entries == 0 || ae.entries.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: checked non-NULL with n_entries > 0 when the event was read.
    unsafe { (*ae.entries).batch }
}

/// The data buffer of a received InstallSnapshot, if it is one.
pub fn received_snapshot_data(m: &raft_message) -> Option<raft_buffer> {
    if m.r#type != INSTALL_SNAPSHOT {
        return None;
    }
    // SAFETY: the type selects install_snapshot.
    Some(unsafe { m.body.install_snapshot.data })
}

/// Fills `out` with the C form of the core's messages, reusing its buffer. This runs after the
/// core changed state, so it cannot fail: a message that finds no memory (for the array or
/// for its address) is dropped, which Raft tolerates as it tolerates any lost message (the
/// sender retries on its next heartbeat or election timeout).
pub fn emit_all(messages: &[Message], out: &mut Vec<raft_message>, addresses: &mut AddressBook) {
    out.clear();
    let room = out.try_reserve(messages.len()).is_ok();
    for m in messages.iter().take(if room { messages.len() } else { out.capacity() }) {
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
    }
    out
}
