//! Identifiers, indexes, roles, states and entry kinds: the words every layer uses.

/// Server ID; 0 means "none".
pub type Id = u64;
/// Election term; 0 means "never stored anything".
pub type Term = u64;
/// Log index; the first entry is 1 and 0 means "none".
pub type Index = u64;
/// Milliseconds on the host's clock, which must never go backwards.
pub type Time = u64;

/// The highest term the library accepts or produces (2^63 - 1). Terms only ever grow by one,
/// so every `+ 1` the protocol makes stays far from wrapping, and a host may store terms in a
/// signed 64-bit integer. A server whose term reached it can no longer stand for election.
pub const MAX_TERM: Term = i64::MAX as u64;
/// The highest log index the library accepts or produces (2^63 - 1), for the same reasons:
/// events and messages that name a higher index, or whose entries would reach past it, are
/// refused.
pub const MAX_INDEX: Index = i64::MAX as u64;

/// The part a server plays in a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Receives the log but never votes and does not count in quorums.
    Standby,
    /// Receives the log and counts in elections and commit quorums.
    Voter,
    /// Receives nothing (except while being caught up) and does not count.
    Spare,
}

impl Role {
    /// The role's number in C-Raft's encoding (0 stand-by, 1 voter, 2 spare).
    pub fn code(self) -> u8 {
        match self {
            Role::Standby => 0,
            Role::Voter => 1,
            Role::Spare => 2,
        }
    }

    /// The role with C-Raft's number `code`, if there is one.
    pub fn from_code(code: i64) -> Option<Role> {
        match code {
            0 => Some(Role::Standby),
            1 => Some(Role::Voter),
            2 => Some(Role::Spare),
            _ => None,
        }
    }
}

/// A server's state in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Follower,
    Candidate,
    Leader,
}

/// What a log entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// An opaque payload for the host's state machine.
    Command,
    /// A no-op; its payload is ignored.
    Barrier,
    /// An encoded configuration (decoded through a [`super::ConfigurationFormat`]).
    Change,
}

impl EntryType {
    /// C-Raft's number for this entry type.
    pub fn code(self) -> u8 {
        match self {
            EntryType::Command => 1,
            EntryType::Barrier => 2,
            EntryType::Change => 3,
        }
    }

    /// The entry type with C-Raft's number `code`, if there is one.
    pub fn from_code(code: i64) -> Option<EntryType> {
        match code {
            1 => Some(EntryType::Command),
            2 => Some(EntryType::Barrier),
            3 => Some(EntryType::Change),
            _ => None,
        }
    }
}

/// Progress of a non-voting server being brought up to date before promotion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatchUpStatus {
    None,
    Running,
    Aborted,
    Finished,
}
