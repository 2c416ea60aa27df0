//! `#[repr(C)]` mirrors of every public type of `raft.h`, laid out exactly as C-Raft's
//! (docs/contract.md#layout, proven by `c_tests/test_layout.c`). cbindgen generates `include/raft.h` from this file.
//!
//! Fields that C declares as an enum or as `bool` are read here as plain integers (aliases that
//! the header shows with their C type), so a host that stores an out-of-range value gets an
//! error code instead of undefined behaviour.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_ulonglong, c_ushort, c_void};

pub use super::classic_types::*;
use crate::codec::wire::MessageType;
use crate::codec::ErrorKind;
use crate::core::{self, CatchUpStatus, EntryType, Role, State};

/// Server ID. 0 means "no server". Any other value is valid, but a received message whose
/// `server_id` is the receiver's own ID is refused with `RAFT_MALFORMED`.
pub type raft_id = c_ulonglong;
/// Election term. At most 2^63 - 1 (`INT64_MAX`), so that the term can always grow by one and
/// fits a signed 64-bit integer: `raft_step` refuses a received message naming a higher term
/// with `RAFT_MALFORMED` and a `RAFT_START` or `RAFT_SNAPSHOT` naming one with `RAFT_INVALID`,
/// nothing changed. A server whose term reached the limit no longer stands for election.
pub type raft_term = c_ulonglong;
/// Log index. The first entry has index 1; 0 means "none". At most 2^63 - 1 (`INT64_MAX`),
/// like terms: a received message naming a higher index, or carrying entries that would pass it,
/// is refused with `RAFT_MALFORMED`; a `RAFT_START`, `RAFT_SNAPSHOT` or `RAFT_SUBMIT` that would,
/// with `RAFT_INVALID`.
pub type raft_index = c_ulonglong;
/// Milliseconds, on any clock that never goes backwards. Every value is valid; deadlines that
/// would pass 2^64 - 1 are reported as 2^64 - 1 by `raft_timeout()`, never wrapped.
pub type raft_time = c_ulonglong;

/// A C `bool` read as a byte, so that a stray value is not undefined behaviour in Rust.
/// cbindgen:no-export
pub type c_bool = u8;
/// An `enum raft_entry_type` field, read as an integer.
/// cbindgen:no-export
pub type entry_type_field = c_int;
/// An `enum raft_message_type` field, read as an integer.
/// cbindgen:no-export
pub type message_type_field = c_int;
/// An `enum raft_event_type` field, read as an integer.
/// cbindgen:no-export
pub type event_type_field = c_int;

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

pub const RAFT_VERSION_MAJOR: c_int = 0;
pub const RAFT_VERSION_MINOR: c_int = 22;
pub const RAFT_VERSION_RELEASE: c_int = 1;
pub const RAFT_VERSION_NUMBER: c_int =
    RAFT_VERSION_MAJOR * 10000 + RAFT_VERSION_MINOR * 100 + RAFT_VERSION_RELEASE;

/// Size of the per-instance error message buffer (`raft_errmsg`), as in C-Raft's default build.
pub const RAFT_ERRMSG_BUF_SIZE: usize = 256;

/// Error codes returned by the library. 0 is success. Values are C-Raft's and never change.
pub const RAFT_NOMEM: c_int = 1;
pub const RAFT_BADID: c_int = 2;
pub const RAFT_DUPLICATEID: c_int = 3;
pub const RAFT_DUPLICATEADDRESS: c_int = 4;
pub const RAFT_BADROLE: c_int = 5;
pub const RAFT_MALFORMED: c_int = 6;
pub const RAFT_NOTLEADER: c_int = 7;
pub const RAFT_LEADERSHIPLOST: c_int = 8;
pub const RAFT_SHUTDOWN: c_int = 9;
pub const RAFT_CANTBOOTSTRAP: c_int = 10;
pub const RAFT_CANTCHANGE: c_int = 11;
pub const RAFT_CORRUPT: c_int = 12;
pub const RAFT_CANCELED: c_int = 13;
pub const RAFT_NAMETOOLONG: c_int = 14;
pub const RAFT_TOOBIG: c_int = 15;
pub const RAFT_NOCONNECTION: c_int = 16;
pub const RAFT_BUSY: c_int = 17;
pub const RAFT_IOERR: c_int = 18;
pub const RAFT_NOTFOUND: c_int = 19;
pub const RAFT_INVALID: c_int = 20;
pub const RAFT_UNAUTHORIZED: c_int = 21;
pub const RAFT_NOSPACE: c_int = 22;
pub const RAFT_TOOMANY: c_int = 23;

/// Server roles.
pub const RAFT_STANDBY: c_int = 0;
pub const RAFT_VOTER: c_int = 1;
pub const RAFT_SPARE: c_int = 2;

/// Catch-up statuses reported by `raft_catch_up()`.
pub const RAFT_CATCH_UP_NONE: c_int = 0;
pub const RAFT_CATCH_UP_RUNNING: c_int = 1;
pub const RAFT_CATCH_UP_ABORTED: c_int = 2;
pub const RAFT_CATCH_UP_FINISHED: c_int = 3;

/// Flags of `raft_update.flags`.
pub const RAFT_UPDATE_CURRENT_TERM: c_uint = 1 << 0;
pub const RAFT_UPDATE_VOTED_FOR: c_uint = 1 << 1;
pub const RAFT_UPDATE_ENTRIES: c_uint = 1 << 2;
pub const RAFT_UPDATE_SNAPSHOT: c_uint = 1 << 3;
pub const RAFT_UPDATE_MESSAGES: c_uint = 1 << 4;
pub const RAFT_UPDATE_STATE: c_uint = 1 << 5;
pub const RAFT_UPDATE_COMMIT_INDEX: c_uint = 1 << 6;
pub const RAFT_UPDATE_TIMEOUT: c_uint = 1 << 7;
/// libraft-rs extension: reads were confirmed or failed; fetch them with `raft_update_reads()`.
/// Only set after a host sent `RAFT_READ`.
pub const RAFT_UPDATE_READS: c_uint = 1 << 8;

/// Tracer event type: a diagnostic message (`raft_tracer_info.diagnostic`).
pub const RAFT_TRACER_DIAGNOSTIC: c_int = 1;

// ---------------------------------------------------------------------------------------------
// Enums (never read from C memory: fields use the integer aliases above)
// ---------------------------------------------------------------------------------------------

/// The kind of a log entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum raft_entry_type {
    /// Opaque payload for the host's state machine.
    RAFT_COMMAND = 1,
    /// No-op; the payload is ignored.
    RAFT_BARRIER = 2,
    /// The payload is an encoded configuration (`raft_configuration_encode`).
    RAFT_CHANGE = 3,
}

/// The kind of an RPC message.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum raft_message_type {
    RAFT_APPEND_ENTRIES = 1,
    RAFT_APPEND_ENTRIES_RESULT = 2,
    RAFT_REQUEST_VOTE = 3,
    RAFT_REQUEST_VOTE_RESULT = 4,
    RAFT_INSTALL_SNAPSHOT = 5,
    RAFT_TIMEOUT_NOW = 6,
    /// libraft-rs extension: a follower asks its leader to confirm a read (docs/reads.md).
    /// Emitted only to leaders whose AppendEntries carry read rounds, never to C-Raft.
    RAFT_READ_INDEX = 7,
    /// libraft-rs extension: the leader's answer to `RAFT_READ_INDEX`.
    RAFT_READ_INDEX_RESULT = 8,
    /// libraft-rs extension: one chunk of a streamed snapshot (docs/snapshots.md). Emitted
    /// only to followers that advertise streamed snapshots, never to C-Raft.
    RAFT_INSTALL_SNAPSHOT_CHUNK = 9,
    /// libraft-rs extension: how many chunks of a streamed snapshot a follower stored.
    RAFT_INSTALL_SNAPSHOT_CHUNK_RESULT = 10,
}

/// The kind of an event passed to `raft_step()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum raft_event_type {
    RAFT_START = 1,
    RAFT_RECEIVE = 2,
    RAFT_PERSISTED_ENTRIES = 3,
    RAFT_PERSISTED_SNAPSHOT = 4,
    RAFT_CONFIGURATION = 5,
    RAFT_SNAPSHOT = 6,
    RAFT_TIMEOUT = 7,
    RAFT_SUBMIT = 8,
    RAFT_CATCH_UP = 9,
    RAFT_TRANSFER = 10,
    /// libraft-rs extension: a linearizable read (docs/reads.md).
    RAFT_READ = 11,
}

/// The state of a server.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum raft_state {
    /// Never reported by this library; kept for C-Raft's numbering.
    RAFT_UNAVAILABLE = 0,
    RAFT_FOLLOWER = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
}

// ---------------------------------------------------------------------------------------------
// Conversions. Each code above is written once, in its declaration; reading a code searches
// the declared variants, and the core's types map to them by name, so no number is repeated.
// ---------------------------------------------------------------------------------------------

/// Lists a C enum's variants (`VARIANTS`) and implements `TryFrom<c_int>` by comparing with each.
/// The exhaustive match makes forgetting a variant a compile error. (cbindgen does not expand
/// macros, so nothing here reaches the header.)
macro_rules! readable_from_code {
    ($ty:ident: $($variant:ident),+ $(,)?) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const VARIANTS: &'static [$ty] = &[$($ty::$variant),+];
        }

        impl TryFrom<c_int> for $ty {
            /// The code that names no variant.
            type Error = c_int;

            fn try_from(code: c_int) -> Result<$ty, c_int> {
                const fn _every_variant_is_listed(v: $ty) {
                    match v {
                        $($ty::$variant)|+ => {}
                    }
                }
                // One comparison per variant, unrolled: entry types are read once per entry.
                $(
                    if code == $ty::$variant as c_int {
                        return Ok($ty::$variant);
                    }
                )+
                Err(code)
            }
        }
    };
}

readable_from_code!(raft_entry_type: RAFT_COMMAND, RAFT_BARRIER, RAFT_CHANGE);
readable_from_code!(
    raft_message_type: RAFT_APPEND_ENTRIES,
    RAFT_APPEND_ENTRIES_RESULT,
    RAFT_REQUEST_VOTE,
    RAFT_REQUEST_VOTE_RESULT,
    RAFT_INSTALL_SNAPSHOT,
    RAFT_TIMEOUT_NOW,
    RAFT_READ_INDEX,
    RAFT_READ_INDEX_RESULT,
    RAFT_INSTALL_SNAPSHOT_CHUNK,
    RAFT_INSTALL_SNAPSHOT_CHUNK_RESULT,
);
readable_from_code!(
    raft_event_type: RAFT_START,
    RAFT_RECEIVE,
    RAFT_PERSISTED_ENTRIES,
    RAFT_PERSISTED_SNAPSHOT,
    RAFT_CONFIGURATION,
    RAFT_SNAPSHOT,
    RAFT_TIMEOUT,
    RAFT_SUBMIT,
    RAFT_CATCH_UP,
    RAFT_TRANSFER,
    RAFT_READ,
);
readable_from_code!(raft_state: RAFT_UNAVAILABLE, RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER);

impl From<EntryType> for raft_entry_type {
    fn from(kind: EntryType) -> raft_entry_type {
        match kind {
            EntryType::Command => raft_entry_type::RAFT_COMMAND,
            EntryType::Barrier => raft_entry_type::RAFT_BARRIER,
            EntryType::Change => raft_entry_type::RAFT_CHANGE,
        }
    }
}

impl From<raft_entry_type> for EntryType {
    fn from(kind: raft_entry_type) -> EntryType {
        match kind {
            raft_entry_type::RAFT_COMMAND => EntryType::Command,
            raft_entry_type::RAFT_BARRIER => EntryType::Barrier,
            raft_entry_type::RAFT_CHANGE => EntryType::Change,
        }
    }
}

/// The value of an `entry_type_field` for `kind`.
pub fn entry_type_code(kind: EntryType) -> entry_type_field {
    raft_entry_type::from(kind) as entry_type_field
}

/// The entry type a host wrote in an `entry_type_field`, if the code names one.
pub fn entry_type_from_code(code: entry_type_field) -> Option<EntryType> {
    raft_entry_type::try_from(code).ok().map(EntryType::from)
}

impl From<MessageType> for raft_message_type {
    fn from(kind: MessageType) -> raft_message_type {
        match kind {
            MessageType::AppendEntries => raft_message_type::RAFT_APPEND_ENTRIES,
            MessageType::AppendEntriesResult => raft_message_type::RAFT_APPEND_ENTRIES_RESULT,
            MessageType::RequestVote => raft_message_type::RAFT_REQUEST_VOTE,
            MessageType::RequestVoteResult => raft_message_type::RAFT_REQUEST_VOTE_RESULT,
            MessageType::InstallSnapshot => raft_message_type::RAFT_INSTALL_SNAPSHOT,
            MessageType::TimeoutNow => raft_message_type::RAFT_TIMEOUT_NOW,
            MessageType::ReadIndex => raft_message_type::RAFT_READ_INDEX,
            MessageType::ReadIndexResult => raft_message_type::RAFT_READ_INDEX_RESULT,
            MessageType::InstallSnapshotChunk => raft_message_type::RAFT_INSTALL_SNAPSHOT_CHUNK,
            MessageType::InstallSnapshotChunkResult => {
                raft_message_type::RAFT_INSTALL_SNAPSHOT_CHUNK_RESULT
            }
        }
    }
}

impl From<State> for raft_state {
    fn from(state: State) -> raft_state {
        match state {
            State::Follower => raft_state::RAFT_FOLLOWER,
            State::Candidate => raft_state::RAFT_CANDIDATE,
            State::Leader => raft_state::RAFT_LEADER,
        }
    }
}

/// The `RAFT_STANDBY`/`RAFT_VOTER`/`RAFT_SPARE` code of a role.
pub fn role_code(role: Role) -> c_int {
    match role {
        Role::Standby => RAFT_STANDBY,
        Role::Voter => RAFT_VOTER,
        Role::Spare => RAFT_SPARE,
    }
}

/// The role a host wrote as `code`, if the code names one.
pub fn role_from_code(code: c_int) -> Option<Role> {
    [Role::Standby, Role::Voter, Role::Spare].into_iter().find(|&role| role_code(role) == code)
}

/// The `RAFT_CATCH_UP_*` code of a catch-up status.
pub fn catch_up_code(status: CatchUpStatus) -> c_int {
    match status {
        CatchUpStatus::None => RAFT_CATCH_UP_NONE,
        CatchUpStatus::Running => RAFT_CATCH_UP_RUNNING,
        CatchUpStatus::Aborted => RAFT_CATCH_UP_ABORTED,
        CatchUpStatus::Finished => RAFT_CATCH_UP_FINISHED,
    }
}

/// The `RAFT_*` error code of a core error: the one place where the two vocabularies meet.
pub fn core_error_code(e: &core::Error) -> c_int {
    use core::Error::*;
    match e {
        BadId(_) => RAFT_BADID,
        DuplicateId(_) => RAFT_DUPLICATEID,
        DuplicateAddress(_) => RAFT_DUPLICATEADDRESS,
        Malformed(_) => RAFT_MALFORMED,
        NotLeader => RAFT_NOTLEADER,
        Shutdown(_) => RAFT_SHUTDOWN,
        CantChange => RAFT_CANTCHANGE,
        NotFound(_) => RAFT_NOTFOUND,
        Invalid(_) => RAFT_INVALID,
        NoSpace => RAFT_NOSPACE,
    }
}

/// The `RAFT_*` error code of a codec error.
pub fn codec_error_code(kind: ErrorKind) -> c_int {
    match kind {
        ErrorKind::Malformed => RAFT_MALFORMED,
        ErrorKind::Corrupt => RAFT_CORRUPT,
        ErrorKind::TooBig => RAFT_TOOBIG,
        ErrorKind::Invalid => RAFT_INVALID,
    }
}

// ---------------------------------------------------------------------------------------------
// Buffers, configurations, entries
// ---------------------------------------------------------------------------------------------

/// A pointer and a length. Whether the memory is owned depends on where the buffer appears;
/// each use says so.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_buffer {
    pub base: *mut c_void,
    pub len: usize,
}

/// One server of a configuration.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_server {
    /// Non-zero, unique within the configuration.
    pub id: raft_id,
    /// NUL-terminated, unique within the configuration. In a configuration filled by the
    /// library it is allocated with `raft_malloc` and released by `raft_configuration_close`.
    pub address: *mut c_char,
    /// `RAFT_STANDBY`, `RAFT_VOTER` or `RAFT_SPARE`.
    pub role: c_int,
}

/// An array of `n` servers. `servers` and every address are allocated with the raft heap when
/// the library fills the configuration; release them with `raft_configuration_close`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_configuration {
    pub servers: *mut raft_server,
    pub n: c_uint,
}

/// A log entry. `buf` is the payload; `batch` is the start of the `raft_malloc` allocation that
/// holds it (several entries may share one batch). Whoever owns the entry releases its memory
/// with one `raft_free(batch)` per distinct batch. `raft_step` accepts payloads of any length,
/// 0 included; C-Raft's wire and disk formats (`raft_encode_message`, `raft_encode_batch`)
/// carry only multiples of 8 bytes, so a host that uses them pads its own command encoding.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_entry {
    pub term: raft_term,
    pub r#type: entry_type_field,
    pub buf: raft_buffer,
    pub batch: *mut c_void,
}

/// Metadata of a snapshot. Ownership of `configuration` is stated at each use.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_snapshot_metadata {
    /// Last log index covered by the snapshot.
    pub index: raft_index,
    /// Term of that entry.
    pub term: raft_term,
    /// The configuration as of `index`.
    pub configuration: raft_configuration,
    /// Log index of that configuration.
    pub configuration_index: raft_index,
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// RequestVote (also the pre-vote request when `pre_vote` is set).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_request_vote {
    pub version: c_uchar,
    /// Candidate's term (during pre-vote, the term it would move to).
    pub term: raft_term,
    pub candidate_id: raft_id,
    /// Index and term of the candidate's last persisted entry.
    pub last_log_index: raft_index,
    /// A term, typed `raft_index` for C-Raft compatibility.
    pub last_log_term: raft_index,
    /// Set for an election started by TimeoutNow: voters ignore their current leader.
    pub disrupt_leader: c_bool,
    pub pre_vote: c_bool,
}

/// Answer to a RequestVote.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_request_vote_result {
    /// The `pre_vote` flag is only trusted when `version > 1`.
    pub version: c_uchar,
    pub term: raft_term,
    pub vote_granted: c_bool,
    pub pre_vote: c_bool,
    /// Bit 0: the sender reports its disk capacity.
    pub features: c_ushort,
    pub capacity: c_ushort,
}

/// AppendEntries (an empty one is a heartbeat).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_append_entries {
    pub version: c_uchar,
    pub term: raft_term,
    pub prev_log_index: raft_index,
    pub prev_log_term: raft_term,
    pub leader_commit: raft_index,
    /// Received messages: a host-owned array of `n_entries` entries sharing one `raft_malloc`
    /// batch (NULL when 0). Emitted messages: always NULL; the host attaches the entries at
    /// indexes `prev_log_index + 1 .. prev_log_index + n_entries` from its own log.
    pub entries: *mut raft_entry,
    pub n_entries: c_uint,
    /// libraft-rs extension, in what C-Raft leaves as padding: the leader's read round
    /// (linearizable reads, docs/reads.md). A host that carries messages itself copies it (our
    /// codec puts it in the reserved trailing word); 0 when unknown.
    pub read_round: c_uint,
}

/// Answer to an AppendEntries or an InstallSnapshot.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_append_entries_result {
    pub version: c_uchar,
    pub term: raft_term,
    /// 0 on success, else the `prev_log_index` that failed the consistency check.
    pub rejected: raft_index,
    /// On success the highest index durably stored and verified; on rejection a hint below
    /// `rejected`.
    pub last_log_index: raft_index,
    pub features: c_ushort,
    pub capacity: c_ushort,
    /// libraft-rs extension, in what C-Raft leaves as padding: the read round echoed to the
    /// leader (bit 1 of `features`; docs/reads.md). Copy it like `read_round`; 0 when unknown.
    pub read_echo: c_uint,
}

/// InstallSnapshot: the whole snapshot in one message.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_install_snapshot {
    pub version: c_uchar,
    pub term: raft_term,
    pub last_index: raft_index,
    pub last_term: raft_term,
    /// Received: a decoded configuration owned by the host. Emitted: `{NULL, 0}`; the host
    /// attaches its latest snapshot's configuration.
    pub conf: raft_configuration,
    pub conf_index: raft_index,
    /// Received: a `raft_malloc` buffer, passed to the library on success. Emitted:
    /// `{NULL, 0}`; the host attaches its latest snapshot's data.
    pub data: raft_buffer,
}

/// TimeoutNow: tells an up-to-date voter to start an election at once.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_timeout_now {
    pub version: c_uchar,
    pub term: raft_term,
    pub last_log_index: raft_index,
    /// A term, typed `raft_index` for C-Raft compatibility.
    pub last_log_term: raft_index,
}

/// The body of a message; an anonymous union in the header (`msg.append_entries.term`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub union raft_message_body {
    pub request_vote: raft_request_vote,
    pub request_vote_result: raft_request_vote_result,
    pub append_entries: raft_append_entries,
    pub append_entries_result: raft_append_entries_result,
    pub install_snapshot: raft_install_snapshot,
    pub timeout_now: raft_timeout_now,
    pub read_index: raft_read_index,
    pub read_index_result: raft_read_index_result,
    pub install_snapshot_chunk: raft_install_snapshot_chunk,
    pub install_snapshot_chunk_result: raft_install_snapshot_chunk_result,
}

/// `RAFT_INSTALL_SNAPSHOT_CHUNK` (libraft-rs extension, docs/snapshots.md): chunk `chunk` of
/// the snapshot at `last_index`, the `last` one when `last` is 1. Chunk k holds bytes
/// `k * chunk_size ..` of the snapshot's data (`raft_set_snapshot_chunks`); every chunk but
/// the last is `chunk_size` bytes long. Emitted: `data` is `{NULL, n}`, the host attaches
/// those n bytes of the snapshot at `last_index` (and, on the last chunk only, its
/// configuration in `conf`, otherwise `{NULL, 0}`). Received: as for `raft_install_snapshot`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_install_snapshot_chunk {
    pub version: c_uchar,
    pub last: c_uchar,
    pub chunk: c_uint,
    pub term: raft_term,
    pub last_index: raft_index,
    pub last_term: raft_term,
    pub conf: raft_configuration,
    pub conf_index: raft_index,
    pub data: raft_buffer,
}

/// `RAFT_INSTALL_SNAPSHOT_CHUNK_RESULT` (libraft-rs extension): the follower durably stored
/// chunks `0 .. next_chunk` of the snapshot at `last_index` (0: none; start over). `gap` (0 or
/// 1): the chunk answered came after one the follower lacks, so the leader resends from
/// `next_chunk` at once; 0 answers a chunk it held already, or acknowledges stored ones.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_install_snapshot_chunk_result {
    pub version: c_uchar,
    pub gap: c_uchar,
    pub term: raft_term,
    pub last_index: raft_index,
    pub next_chunk: u64,
}

/// `RAFT_READ_INDEX` (libraft-rs extension): a follower's read `id`, to confirm.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_read_index {
    pub version: c_uchar,
    pub term: raft_term,
    pub id: u64,
}

/// `RAFT_READ_INDEX_RESULT` (libraft-rs extension): the read index of the follower's read
/// `id`, or 0 when the read failed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_read_index_result {
    pub version: c_uchar,
    pub term: raft_term,
    pub id: u64,
    pub index: raft_index,
}

/// An RPC message. In messages the library emits, `server_id`/`server_address` name the
/// destination; in messages passed to `RAFT_RECEIVE` they name the sender (non-zero ID,
/// non-NULL address). `type` selects the active member of the union.
/// cbindgen:field-names=[type, server_id, server_address, ]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_message {
    pub r#type: message_type_field,
    pub server_id: raft_id,
    /// Emitted messages: points into the library (valid until the next `raft_step` or
    /// `raft_close` on the instance). Received: host-owned; keep it alive until the replies
    /// of that step have been sent, as they may point at it.
    pub server_address: *const c_char,
    pub body: raft_message_body,
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// `RAFT_START`: the persisted state. Everything pointed to belongs to the host, before and
/// after the call; the library keeps no reference.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_start {
    pub term: raft_term,
    pub voted_for: raft_id,
    /// The most recent durable snapshot, or NULL.
    pub metadata: *mut raft_snapshot_metadata,
    /// Index of `entries[0]`.
    pub start_index: raft_index,
    pub entries: *mut raft_entry,
    pub n_entries: c_uint,
}

/// `RAFT_RECEIVE`: a message from the network; see `raft_message` and the README for who owns
/// what.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_receive {
    pub message: *mut raft_message,
}

/// `RAFT_PERSISTED_ENTRIES`: every entry up to `index`, as last handed out, is durable.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_persisted_entries {
    pub index: raft_index,
}

/// `RAFT_PERSISTED_SNAPSHOT`: the snapshot from `RAFT_UPDATE_SNAPSHOT` is durable. The metadata
/// belongs to the host before and after; the library copies what it keeps.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_persisted_snapshot {
    pub metadata: raft_snapshot_metadata,
    pub offset: usize,
    pub last: c_bool,
}

/// `RAFT_CONFIGURATION`: the `RAFT_CHANGE` entry at `index` is committed. `conf` belongs to
/// the host before and after.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_configuration {
    pub index: raft_index,
    pub conf: raft_configuration,
}

/// `RAFT_SNAPSHOT`: the host durably stored a snapshot; keep `trailing` entries before it.
/// The metadata belongs to the host before and after.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_snapshot {
    pub metadata: raft_snapshot_metadata,
    pub trailing: c_uint,
}

/// `RAFT_SUBMIT`: new entries with the current term. The array belongs to the host; on success
/// the payloads come back in `update.entries` and the host keeps owning them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_submit {
    pub entries: *mut raft_entry,
    pub n: c_uint,
}

/// `RAFT_CATCH_UP`: bring a non-voting server up to date.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_catch_up {
    pub server_id: raft_id,
}

/// `RAFT_TRANSFER`: hand leadership to `server_id` (0: let the library choose).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_transfer {
    pub server_id: raft_id,
}

/// `RAFT_READ` (libraft-rs extension): a linearizable read the host names with `id` (any value;
/// the library hands it back in a `raft_read_result`). Leader only: elsewhere the step fails
/// with `RAFT_NOTLEADER` and changes nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_event_read {
    pub id: u64,
}

/// The body of an event; an anonymous union in the header (`ev.receive.message`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub union raft_event_body {
    pub start: raft_event_start,
    pub receive: raft_event_receive,
    pub persisted_entries: raft_event_persisted_entries,
    pub persisted_snapshot: raft_event_persisted_snapshot,
    pub configuration: raft_event_configuration,
    pub snapshot: raft_event_snapshot,
    pub submit: raft_event_submit,
    pub catch_up: raft_event_catch_up,
    pub transfer: raft_event_transfer,
    pub read: raft_event_read,
}

/// An event for `raft_step()`. Zero the whole struct, then fill `time` (never decreasing),
/// `type`, `capacity` (0 if unused) and the member of the union that `type` selects.
/// cbindgen:field-names=[time, type, unused, capacity, reserved, ]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_event {
    pub time: raft_time,
    pub r#type: event_type_field,
    pub unused: c_uchar,
    pub capacity: c_ushort,
    pub reserved: [c_uchar; 4],
    pub body: raft_event_body,
}

// ---------------------------------------------------------------------------------------------
// Updates
// ---------------------------------------------------------------------------------------------

/// What became of a read (`RAFT_UPDATE_READS`, libraft-rs extension). `status` 0: the read is
/// confirmed; serve it from the state machine once it has applied up to `index` (not before:
/// the read must observe every write acknowledged before it was asked). `RAFT_LEADERSHIPLOST`:
/// this server stopped leading first; ask the new leader.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_read_result {
    pub id: u64,
    pub index: raft_index,
    pub status: c_int,
}

/// Entries to store at `index .. index + n - 1` (`RAFT_UPDATE_ENTRIES`). `batch` is an array
/// allocated with `raft_malloc`: the host owns it and frees it with `raft_free`. The payloads
/// belong to the host from now on (one `raft_free` per distinct `batch` pointer).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_update_entries {
    pub index: raft_index,
    pub batch: *mut raft_entry,
    pub n: c_uint,
}

/// A snapshot received from the leader, to store (`RAFT_UPDATE_SNAPSHOT`). The host owns
/// `metadata.configuration` (close it after `RAFT_PERSISTED_SNAPSHOT` at the earliest) and
/// `chunk.base` (free it with `raft_free`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_update_snapshot {
    pub metadata: raft_snapshot_metadata,
    pub offset: usize,
    pub chunk: raft_buffer,
    pub last: c_bool,
}

/// Messages to send (`RAFT_UPDATE_MESSAGES`). `batch` is the library's queue: it and every
/// pointer the library set inside it stay valid until the next `raft_step` or `raft_close` on
/// the instance. The host never frees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_update_messages {
    pub batch: *mut raft_message,
    pub n: c_uint,
}

/// What the host must do after a step. `flags` says which members are meaningful.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_update {
    pub flags: c_uint,
    pub entries: raft_update_entries,
    pub snapshot: raft_update_snapshot,
    pub messages: raft_update_messages,
}

// ---------------------------------------------------------------------------------------------
// Tracing, heap, instance
// ---------------------------------------------------------------------------------------------

/// A diagnostic message. The strings are valid only during the `emit` call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_tracer_diagnostic {
    /// 1 error, 2 warning, 3 info, 4 debug, 5 trace.
    pub level: c_int,
    pub message: *const c_char,
    pub file: *const c_char,
    pub line: c_int,
}

/// Payload of a tracer event; an anonymous union in the header (`info->diagnostic.message`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub union raft_tracer_info_body {
    pub diagnostic: raft_tracer_diagnostic,
}

/// What `raft_tracer.emit` receives for `RAFT_TRACER_DIAGNOSTIC`; valid only during the call.
/// cbindgen:field-names=[version, ]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_tracer_info {
    pub version: c_int,
    pub body: raft_tracer_info_body,
}

/// A host-supplied tracer. Only `version == 2` is called (with `RAFT_TRACER_DIAGNOSTIC` and a
/// `raft_tracer_info` of version 1); any other version receives nothing. The struct must
/// outlive its installation in `raft.tracer`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_tracer {
    /// The host's own pointer; the library never touches it.
    pub r#impl: *mut c_void,
    pub version: c_int,
    pub emit: Option<unsafe extern "C" fn(t: *mut raft_tracer, r#type: c_int, info: *const c_void)>,
}

/// A process-wide allocator for all memory that changes hands between the library and the
/// host. Every function receives `data` first. The struct must stay alive while installed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_heap {
    pub data: *mut c_void,
    pub malloc: Option<unsafe extern "C" fn(data: *mut c_void, size: usize) -> *mut c_void>,
    pub free: Option<unsafe extern "C" fn(data: *mut c_void, ptr: *mut c_void)>,
    pub calloc:
        Option<unsafe extern "C" fn(data: *mut c_void, nmemb: usize, size: usize) -> *mut c_void>,
    pub realloc: Option<
        unsafe extern "C" fn(data: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void,
    >,
    pub aligned_alloc: Option<
        unsafe extern "C" fn(data: *mut c_void, alignment: usize, size: usize) -> *mut c_void,
    >,
    pub aligned_free:
        Option<unsafe extern "C" fn(data: *mut c_void, alignment: usize, ptr: *mut c_void)>,
}

/// Called by `raft_close()` in the classic mode once every pending request has completed and
/// the I/O back-end has closed; the host may free the instance from then on. Never called in
/// the `raft_step` mode, which closes synchronously.
pub type raft_close_cb = Option<unsafe extern "C" fn(raft: *mut raft)>;

/// The follower's part of the role union (C-Raft's `follower_state`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_follower_state {
    pub randomized_election_timeout: c_uint,
    pub current_leader: raft_leader_info,
    pub r#match: raft_index,
    pub reserved: [u64; 7],
}

/// The leader as a follower knows it.
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_leader_info {
    pub id: raft_id,
    pub address: *mut c_char,
}

/// The candidate's part of the role union (C-Raft's `candidate_state`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_candidate_state {
    pub randomized_election_timeout: c_uint,
    pub votes: *mut c_void,
    pub disrupt_leader: c_bool,
    pub in_pre_vote: c_bool,
    pub reserved: [u64; 8],
}

/// The leader's part of the role union (C-Raft's `leader_state`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_leader_state {
    pub progress: *mut c_void,
    pub unused1: *mut c_void,
    pub promotee_id: raft_id,
    pub round_number: c_ushort,
    pub round_index: raft_index,
    pub round_start: raft_time,
    pub unused2: [*mut c_void; 2],
    pub transferee: raft_id,
    pub transfer_start: raft_time,
    pub transferring: c_bool,
    pub reserved: [u64; 5],
}

/// What the library publishes about the server's role, an anonymous union in the header as in
/// C-Raft (`r->follower_state.current_leader.id`).
/// cbindgen:no-export
#[repr(C)]
#[derive(Clone, Copy)]
pub union raft_role_state {
    pub follower_state: raft_follower_state,
    pub candidate_state: raft_candidate_state,
    pub leader_state: raft_leader_state,
}

/// A Raft server instance, allocated by the host (992 bytes, C-Raft 0.22.1's default layout)
/// and filled by `raft_init()`. Do not copy or move an initialised instance.
///
/// The members C-Raft programs read are kept current by the library in both modes (after
/// `raft_init`, every `raft_step`, every setter and, in the classic mode, every callback of
/// the I/O back-end): `data` (the host's), `io`, `fsm`, `id`, `address`, `current_term`,
/// `voted_for`, `configuration`, `configuration_committed`, `configuration_committed_index`,
/// `configuration_uncommitted_index`, `election_timeout`, `heartbeat_timeout`,
/// `install_snapshot_timeout`, `commit_index`, `last_applied` (classic mode; the host's own
/// business with `raft_step`), `last_stored`, `state`, `follower_state.current_leader` (while
/// a follower), `leader_state.transferee` (while the leader),
/// `pre_vote`, `max_catch_up_rounds`, `max_catch_up_round_duration` and `errmsg`. They are
/// read-only: writing them changes nothing in the library (use the setters). Pointers among
/// them (`address`, `configuration.servers` and their addresses, the leader's address) point
/// into the library and stay valid until the next call on the instance. The other members are
/// private.
/// cbindgen:field-names=[data, tracer, io, fsm, id, address, current_term, voted_for, capacity, capacity_threshold, private_padding, configuration, configuration_committed, configuration_committed_index, configuration_uncommitted_index, election_timeout, heartbeat_timeout, install_snapshot_timeout, commit_index, last_applied, last_stored, state, , election_timer_start, transfer, private_snapshot, close_cb, errmsg, pre_vote, max_catch_up_rounds, max_catch_up_round_duration, private_instance, private_magic, private_busy, private_classic, private_tail]
#[repr(C)]
pub struct raft {
    /// Reserved for the host; the library never reads or writes it.
    pub data: *mut c_void,
    /// Read/write. Set by `raft_init()` to a built-in tracer that prints to stderr when the
    /// environment variable `LIBRAFT_TRACE` was set; NULL disables tracing. The host-supplied
    /// struct must outlive its installation.
    pub tracer: *mut raft_tracer,
    /// The I/O back-end given to `raft_init()` (classic mode), else NULL.
    pub io: *mut raft_io,
    /// The state machine given to `raft_init()` (classic mode), else NULL.
    pub fsm: *mut raft_fsm,
    /// The ID given to `raft_init()`.
    pub id: raft_id,
    /// The library's copy of the address given to `raft_init()`, allocated with the raft heap
    /// and freed by `raft_close()`.
    pub address: *mut c_char,
    pub current_term: raft_term,
    pub voted_for: raft_id,
    /// This server's disk capacity as last reported to the library.
    pub capacity: c_ushort,
    pub capacity_threshold: c_ushort,
    pub private_padding: c_uint,
    /// The configuration in effect (the latest, committed or not).
    pub configuration: raft_configuration,
    /// The latest committed configuration.
    pub configuration_committed: raft_configuration,
    pub configuration_committed_index: raft_index,
    /// Index of the uncommitted `RAFT_CHANGE` entry in effect, or 0.
    pub configuration_uncommitted_index: raft_index,
    pub election_timeout: c_uint,
    pub heartbeat_timeout: c_uint,
    pub install_snapshot_timeout: c_uint,
    pub commit_index: raft_index,
    /// Classic mode: the last entry applied to the FSM.
    pub last_applied: raft_index,
    /// The last entry known durable on this server.
    pub last_stored: raft_index,
    /// One of `enum raft_state`.
    pub state: c_ushort,
    pub role: raft_role_state,
    pub election_timer_start: raft_time,
    /// Classic mode: the pending leadership transfer request, or NULL.
    pub transfer: *mut raft_transfer,
    pub private_snapshot: [u64; 18],
    /// Classic mode: the callback given to `raft_close()`.
    pub close_cb: raft_close_cb,
    /// The message of the last error (read it with `raft_errmsg()`).
    pub errmsg: [c_char; RAFT_ERRMSG_BUF_SIZE],
    pub pre_vote: c_bool,
    pub max_catch_up_rounds: c_uint,
    pub max_catch_up_round_duration: c_uint,
    /// Private: the library's state, owned by the instance.
    pub private_instance: *mut c_void,
    /// Private: identifies an initialised instance.
    pub private_magic: u64,
    /// Private: set while a call runs on the instance, to refuse re-entrant calls.
    pub private_busy: u64,
    /// Private: the classic-mode driver, owned by the instance.
    pub private_classic: *mut c_void,
    /// Private.
    pub private_tail: [u64; 28],
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of `variants`, each read back as its variant, and `outside` refused.
    fn codes_read_back<T>(variants: &[T], outside: &[c_int]) -> Vec<c_int>
    where
        T: Copy + PartialEq + std::fmt::Debug + TryFrom<c_int, Error = c_int> + Into<c_int>,
    {
        for &code in outside {
            assert_eq!(T::try_from(code), Err(code), "code {code}");
        }
        let codes: Vec<c_int> = variants.iter().map(|&v| v.into()).collect();
        for (&v, &code) in variants.iter().zip(&codes) {
            assert_eq!(T::try_from(code), Ok(v));
        }
        codes
    }

    macro_rules! into_code {
        ($($ty:ident),+) => {
            $(impl From<$ty> for c_int {
                fn from(v: $ty) -> c_int {
                    v as c_int
                }
            })+
        };
    }
    into_code!(raft_entry_type, raft_message_type, raft_event_type, raft_state);

    #[test]
    fn every_c_enum_has_c_rafts_codes_and_reads_no_other() {
        let entry_types = codes_read_back(raft_entry_type::VARIANTS, &[0, 4, -1]);
        assert_eq!(entry_types, [1, 2, 3]);
        let message_types = codes_read_back(raft_message_type::VARIANTS, &[0, 11, c_int::MIN]);
        assert_eq!(message_types, (1..=10).collect::<Vec<_>>());
        let event_types = codes_read_back(raft_event_type::VARIANTS, &[0, 12, c_int::MAX]);
        assert_eq!(event_types, (1..=11).collect::<Vec<_>>());
        let states = codes_read_back(raft_state::VARIANTS, &[-1, 4]);
        assert_eq!(states, [0, 1, 2, 3]);
    }

    #[test]
    fn core_entry_types_and_roles_keep_c_rafts_numbers_both_ways() {
        let kinds = [(EntryType::Command, 1), (EntryType::Barrier, 2), (EntryType::Change, 3)];
        for (kind, code) in kinds {
            assert_eq!(entry_type_code(kind), code);
            assert_eq!(entry_type_from_code(code), Some(kind));
        }
        assert_eq!(entry_type_from_code(0), None);
        let roles = [(Role::Standby, 0), (Role::Voter, 1), (Role::Spare, 2)];
        for (role, code) in roles {
            assert_eq!(role_code(role), code);
            assert_eq!(role_from_code(code), Some(role));
        }
        assert_eq!(role_from_code(3), None);
        assert_eq!(role_from_code(-1), None);
    }

    #[test]
    fn states_and_catch_up_statuses_have_c_rafts_numbers() {
        assert_eq!(raft_state::from(State::Follower) as c_int, 1);
        assert_eq!(raft_state::from(State::Candidate) as c_int, 2);
        assert_eq!(raft_state::from(State::Leader) as c_int, 3);
        let statuses = [
            CatchUpStatus::None,
            CatchUpStatus::Running,
            CatchUpStatus::Aborted,
            CatchUpStatus::Finished,
        ];
        assert_eq!(statuses.map(catch_up_code), [0, 1, 2, 3]);
    }

    #[test]
    fn codec_message_types_name_the_same_c_codes_as_the_codec_bytes() {
        for code in 1..=6u8 {
            let kind = MessageType::from_code(code).expect("a codec message type");
            assert_eq!(raft_message_type::from(kind) as c_int, c_int::from(code));
        }
    }
}
