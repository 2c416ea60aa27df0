//! Helpers for the unit tests of the rules: a started server, owned copies of updates, and
//! shorthand for the common events.

use super::configuration::{Configuration, ConfigurationFormat};
use super::error::Error;
use super::event::{Event, Update};
use super::message::{
    AppendEntriesResult, EntryView, Incoming, Message, Outgoing, Received, RequestVoteResult,
    FEATURES, FEATURE_CAPACITY,
};
use super::raft::Raft;
use super::types::{EntryType, Id, Index, Role, State, Term, Time};

pub fn conf(voters: &[Id]) -> Configuration {
    let mut c = Configuration::new();
    for &id in voters {
        c.add(id, &address(id), Role::Voter).unwrap();
    }
    c
}

/// A configuration format of the tests' own, one line `id role-code address` per server, so
/// that the rules are tested without any codec: the core must work with whatever format the
/// host supplies.
pub struct TestFormat;

pub static TEST_FORMAT: TestFormat = TestFormat;

impl ConfigurationFormat for TestFormat {
    fn decode(&self, payload: &[u8]) -> Result<Configuration, String> {
        let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
        let mut conf = Configuration::new();
        for line in text.lines() {
            let mut fields = line.splitn(3, ' ');
            let (Some(id), Some(role), Some(address)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("not a server: {line:?}"));
            };
            let id = id.parse().map_err(|_| format!("bad ID {id:?}"))?;
            let role = role.parse().ok().and_then(Role::from_code);
            let role = role.ok_or_else(|| format!("bad role in {line:?}"))?;
            conf.add(id, address, role).map_err(|e| e.to_string())?;
        }
        if conf.is_empty() {
            return Err("no server".into());
        }
        Ok(conf)
    }

    fn encode(&self, conf: &Configuration) -> Vec<u8> {
        let lines =
            conf.servers.iter().map(|s| format!("{} {} {}\n", s.id, s.role.code(), s.address));
        lines.collect::<String>().into_bytes()
    }
}

/// The payload of a `Change` entry holding `conf`, in [`TEST_FORMAT`].
pub fn encode(conf: &Configuration) -> Vec<u8> {
    TEST_FORMAT.encode(conf)
}

pub fn address(id: Id) -> String {
    format!("node-{id}")
}

/// An owned copy of an update, so that tests can keep it across steps.
#[derive(Debug)]
pub struct Out {
    pub term_changed: bool,
    pub vote_changed: bool,
    pub entries: Option<super::event::NewEntries>,
    pub snapshot: Option<super::event::SnapshotMetadata>,
    pub snapshot_chunk: Option<super::event::ChunkToStore>,
    pub messages: Vec<Message>,
    pub state_changed: bool,
    pub commit_index_changed: bool,
    pub reads: Vec<super::event::ReadResult>,
}

impl Out {
    fn of(u: &Update) -> Out {
        Out {
            term_changed: u.term_changed,
            vote_changed: u.vote_changed,
            entries: u.entries,
            snapshot: u.snapshot.clone(),
            snapshot_chunk: u.snapshot_chunk,
            messages: u.messages.clone(),
            state_changed: u.state_changed,
            commit_index_changed: u.commit_index_changed,
            reads: u.reads.clone(),
        }
    }

    pub fn to(&self, id: Id) -> Vec<&Outgoing> {
        self.messages.iter().filter(|m| m.to == id).map(|m| &m.body).collect()
    }
}

pub fn step(r: &mut Raft, now: Time, event: Event<'_>) -> Result<Out, Error> {
    r.step(now, 100, event, None).map(Out::of)
}

pub fn receive(r: &mut Raft, now: Time, from: Id, body: Incoming<'_>) -> Result<Out, Error> {
    let address = address(from);
    step(r, now, Event::Receive(Received { from, from_address: &address, body, read_context: 0 }))
}

/// Receives `body` from `from` carrying read context `read` (a round or its echo).
pub fn receive_with_context(
    r: &mut Raft,
    now: Time,
    from: Id,
    body: Incoming<'_>,
    read: u32,
) -> Result<Out, Error> {
    let address = address(from);
    let received = Received { from, from_address: &address, body, read_context: read };
    step(r, now, Event::Receive(received))
}

/// Payload lengths that C-Raft's wire and disk formats could not carry unpadded (all but 0 are
/// not multiples of 8; 4099 also spans pages). The protocol itself treats payloads as opaque.
pub const ODD_LENGTHS: [usize; 6] = [0, 1, 7, 9, 13, 4099];

/// One payload of each of [`ODD_LENGTHS`], each byte telling its entry apart from the others.
pub fn odd_payloads() -> Vec<Vec<u8>> {
    ODD_LENGTHS.iter().enumerate().map(|(k, &len)| vec![0xA0 + k as u8; len]).collect()
}

/// Commands of `term` carrying `payloads`.
pub fn commands(term: Term, payloads: &[Vec<u8>]) -> Vec<EntryView<'_>> {
    payloads.iter().map(|p| EntryView { term, kind: EntryType::Command, payload: p }).collect()
}

pub fn entry(term: Term) -> EntryView<'static> {
    EntryView { term, kind: EntryType::Command, payload: &[0; 8] }
}

/// A server started from a bootstrap log of `voters`, at time 0.
pub fn started(id: Id, voters: &[Id]) -> Raft {
    let payload = encode(&conf(voters));
    let entries = [EntryView { term: 1, kind: EntryType::Change, payload: &payload }];
    let mut r = Raft::new(id, &address(id), &TEST_FORMAT);
    r.seed(id as u32);
    let event =
        Event::Start { term: 1, voted_for: 0, snapshot: None, start_index: 1, entries: &entries };
    step(&mut r, 0, event).unwrap();
    r
}

pub fn vote_granted(term: Term) -> Incoming<'static> {
    Incoming::RequestVoteResult(RequestVoteResult {
        term,
        vote_granted: true,
        pre_vote: false,
        features: FEATURE_CAPACITY,
        capacity: 100,
    })
}

pub fn append_result(term: Term, rejected: Index, last: Index) -> Incoming<'static> {
    Incoming::AppendEntriesResult(AppendEntriesResult {
        term,
        rejected,
        last_log_index: last,
        features: FEATURES,
        capacity: 100,
    })
}

/// Server 1 of `voters`, elected leader of term 2 with its barrier (index 2) persisted and
/// committed, so that it may change the configuration; and the time.
pub fn leader(voters: &[Id]) -> (Raft, Time) {
    let mut r = started(1, voters);
    let now = r.timeout();
    step(&mut r, now, Event::Timeout).unwrap();
    for &id in voters.iter().filter(|&&id| id != 1) {
        if r.state() == State::Leader {
            break;
        }
        let term = r.current_term();
        receive(&mut r, now, id, vote_granted(term)).unwrap();
    }
    assert_eq!(r.state(), State::Leader);
    let last = r.last_index();
    step(&mut r, now, Event::PersistedEntries { index: last }).unwrap();
    // Acknowledged by the last voters first, so that server 2's progress stays untouched
    // whenever a majority does not need it.
    for &id in voters.iter().rev().filter(|&&id| id != 1) {
        if r.commit_index() == last {
            break;
        }
        let term = r.current_term();
        // Echoing read round 1, which a new leader's first messages carry (`reads.rs`).
        receive_with_context(&mut r, now, id, append_result(term, 0, last), 1).unwrap();
    }
    assert_eq!(r.commit_index(), last, "the barrier is committed");
    (r, now)
}

/// Server 2 of {1,2,3}, following leader 1 in term 2 after accepting `entries` after index 1.
pub fn follower(entries: &[EntryView<'_>]) -> Raft {
    let mut r = started(2, &[1, 2, 3]);
    let ae = Incoming::AppendEntries {
        term: 2,
        prev_log_index: 1,
        prev_log_term: 1,
        leader_commit: 1,
        entries,
    };
    receive(&mut r, 10, 1, ae).unwrap();
    if r.last_index() > r.persisted_index() {
        let last = r.last_index();
        step(&mut r, 10, Event::PersistedEntries { index: last }).unwrap();
    }
    r
}

/// An AppendEntries from the leader: `entries` after `prev`/`prev_term`, committed up to `commit`.
pub fn ae<'a>(
    term: Term,
    prev: Index,
    prev_term: Term,
    commit: Index,
    entries: &'a [EntryView<'a>],
) -> Incoming<'a> {
    Incoming::AppendEntries {
        term,
        prev_log_index: prev,
        prev_log_term: prev_term,
        leader_commit: commit,
        entries,
    }
}
