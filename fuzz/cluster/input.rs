//! The fuzz input: a small cluster's settings and a sequence of actions, decoded from the raw
//! bytes with `arbitrary`. Honest actions play the host's part faithfully (deliver, persist,
//! let time pass, crash and restart); forged ones hand a node whatever the bytes say, with
//! numbers drawn near the receiver's own values and near the limits of their types.

use arbitrary::{Arbitrary, Unstructured};

#[derive(Debug)]
pub struct Scenario {
    /// Servers in the cluster: 1 + servers % 5.
    pub servers: u8,
    /// Voters of the bootstrap configuration: 1 + voters % servers (servers 1..=v).
    pub voters: u8,
    /// Stand-bys of the bootstrap configuration, after the voters; the rest start empty.
    pub standbys: u8,
    pub pre_vote: bool,
    /// Election timeout: 10 + 4 * election_timeout ms.
    pub election_timeout: u8,
    pub heartbeat_timeout: u8,
    pub max_inflight_entries: u8,
    pub capacity_threshold: u8,
    pub seed: u32,
    pub actions: Vec<Action>,
}

impl<'a> Arbitrary<'a> for Scenario {
    /// The settings, then actions until the bytes run out (one byte string, one scenario: a
    /// mutation of the tail adds or changes actions without reshaping the rest).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Scenario> {
        let mut scenario = Scenario {
            servers: u.arbitrary()?,
            voters: u.arbitrary()?,
            standbys: u.arbitrary()?,
            pre_vote: u.arbitrary()?,
            election_timeout: u.arbitrary()?,
            heartbeat_timeout: u.arbitrary()?,
            max_inflight_entries: u.arbitrary()?,
            capacity_threshold: u.arbitrary()?,
            seed: u.arbitrary()?,
            actions: Vec::new(),
        };
        while !u.is_empty() {
            scenario.actions.push(u.arbitrary()?);
        }
        Ok(scenario)
    }
}

/// One move of the host or of the adversary. Server numbers are taken modulo the cluster size.
#[derive(Arbitrary, Debug)]
pub enum Action {
    /// Honest rounds: deliver everything in flight, complete every write, let time pass.
    Run(u8),
    Deliver(u16),
    Duplicate(u16),
    Drop(u16),
    Tick(u16),
    Timeout(u8),
    /// Completes the oldest pending write (or snapshot) of a server.
    Persist(u8),
    Submit(u8, u8),
    Change(u8, Change),
    Snapshot(u8, u8),
    Crash(u8),
    Restart(u8),
    Transfer(u8, u8),
    CatchUp(u8, u8),
    Forge(u8, Forged),
    Misuse(u8, u8),
    /// The `nth` allocation of the server's next step fails (C ABI only).
    Starve(u8, u8),
}

/// A membership change the leader's host submits, on server `1 + n % servers`.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Change {
    AddStandby(u8),
    AddSpare(u8),
    Promote(u8),
    Demote(u8),
    Remove(u8),
}

/// A number: fixed, relative to the receiver's own value (its term or last index), or near
/// the top of the type.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Num {
    Zero,
    Small(u8),
    Near(i8),
    Max(u8),
    Any(u64),
}

impl Num {
    pub fn resolve(self, base: u64) -> u64 {
        match self {
            Num::Zero => 0,
            Num::Small(k) => u64::from(k),
            Num::Near(d) => base.saturating_add_signed(i64::from(d)),
            Num::Max(k) => u64::MAX - u64::from(k),
            Num::Any(v) => v,
        }
    }
}

/// A server ID as a forger picks it.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Who {
    Peer(u8),
    Zero,
    Me,
    Any(u64),
}

impl Who {
    pub fn resolve(self, me: u64) -> u64 {
        match self {
            Who::Peer(k) => 1 + u64::from(k % 7),
            Who::Zero => 0,
            Who::Me => me,
            Who::Any(v) => v,
        }
    }
}

/// The sender address of a forged message.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Addr {
    Usual,
    Moved(u8),
    Empty,
    Long(u16),
}

impl Addr {
    pub fn resolve(self, from: u64) -> String {
        match self {
            Addr::Usual => format!("node-{from}"),
            Addr::Moved(k) => format!("10.0.0.{k}:40000"),
            Addr::Empty => String::new(),
            Addr::Long(n) => "x".repeat(usize::from(n % 5000)),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ForgedConf {
    pub servers: Vec<(Who, u8)>,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Payload {
    Empty,
    Bytes(Vec<u8>),
    Conf(ForgedConf),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ForgedEntry {
    pub term: Num,
    pub kind: u8,
    pub payload: Payload,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ForgedMeta {
    pub index: Num,
    pub term: Num,
    pub conf: ForgedConf,
    pub conf_index: Num,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    RequestVote {
        term: Num,
        candidate: Who,
        last_index: Num,
        last_term: Num,
        disrupt_leader: bool,
        pre_vote: bool,
    },
    RequestVoteResult {
        term: Num,
        granted: bool,
        pre_vote: bool,
        features: u16,
        capacity: u16,
    },
    AppendEntries {
        term: Num,
        prev_index: Num,
        prev_term: Num,
        commit: Num,
        entries: Vec<ForgedEntry>,
    },
    AppendEntriesResult {
        term: Num,
        rejected: Num,
        last_index: Num,
        features: u16,
        capacity: u16,
    },
    InstallSnapshot {
        term: Num,
        meta: ForgedMeta,
        data: Vec<u8>,
    },
    TimeoutNow {
        term: Num,
        last_index: Num,
        last_term: Num,
    },
}

/// An event no honest host would send (or not then, or not with these values).
#[derive(Arbitrary, Debug, Clone)]
pub enum Forged {
    Message {
        from: Who,
        address: Addr,
        body: Body,
    },
    PersistedEntries(Num),
    PersistedSnapshot(ForgedMeta),
    Snapshot(ForgedMeta, u8),
    Configuration(Num, ForgedConf),
    Submit(Vec<ForgedEntry>),
    CatchUp(Who),
    Transfer(Who),
    StartAgain,
    /// A timeout at a time earlier than the node's last step.
    TimeBack(u16),
    /// A timeout at a time far ahead, up to the limit of the type.
    FarTime(Num),
}
