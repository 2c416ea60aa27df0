//! A node driven through the core API (`raft::core::Raft::step`).

use raft::core::{
    EntrySource, EntryType, EntryView, Error, Event, Incoming, Raft, Received, State,
};

use super::model::{Entry, Ev, Msg, Node, Observed, Out, Send, Settings};

pub struct CoreNode {
    raft: Raft,
}

/// The `RAFT_*` code of a core error, as the C ABI maps it.
fn code(e: &Error) -> i32 {
    raft::ffi::types::core_error_code(e)
}

fn views(entries: &[Entry]) -> Vec<EntryView<'_>> {
    entries.iter().map(|e| EntryView { term: e.term, kind: e.kind, payload: &e.payload }).collect()
}

/// The entries of the event an update may hand back.
fn event_entries(ev: &Ev) -> &[Entry] {
    match ev {
        Ev::Submit(entries) => entries,
        Ev::Receive { msg: Msg::AppendEntries { entries, .. }, .. } => entries,
        _ => &[],
    }
}

impl Node for CoreNode {
    fn new(id: u64, address: &str, seed: u32, s: &Settings) -> CoreNode {
        let mut raft = Raft::new(id, address, &raft::codec::configuration::CRAFT);
        raft.seed(seed);
        raft.set_election_timeout(s.election_timeout, None);
        raft.set_heartbeat_timeout(s.heartbeat_timeout);
        raft.set_install_snapshot_timeout(s.install_snapshot_timeout);
        raft.set_pre_vote(s.pre_vote);
        raft.set_max_inflight_entries(s.max_inflight_entries);
        raft.set_max_catch_up_rounds(s.max_catch_up_rounds);
        raft.set_max_catch_up_round_duration(s.max_catch_up_round_duration);
        raft.set_capacity_threshold(s.capacity_threshold);
        CoreNode { raft }
    }

    fn step(&mut self, now: u64, capacity: u16, ev: &Ev) -> Result<Out, i32> {
        let carried = match ev {
            Ev::Start { entries, .. } | Ev::Submit(entries) => views(entries),
            Ev::Receive { msg: Msg::AppendEntries { entries, .. }, .. } => views(entries),
            _ => Vec::new(),
        };
        let event = match ev {
            Ev::Start { term, vote, snapshot, start_index, .. } => Event::Start {
                term: *term,
                voted_for: *vote,
                snapshot: snapshot.clone(),
                start_index: *start_index,
                entries: &carried,
            },
            Ev::Receive { from, from_address, msg } => {
                let body = match msg {
                    Msg::RequestVote(m) => Incoming::RequestVote(*m),
                    Msg::RequestVoteResult(m) => Incoming::RequestVoteResult(*m),
                    Msg::AppendEntriesResult(m) => Incoming::AppendEntriesResult(*m),
                    Msg::TimeoutNow(m) => Incoming::TimeoutNow(*m),
                    Msg::AppendEntries { term, prev_index, prev_term, commit, .. } => {
                        Incoming::AppendEntries {
                            term: *term,
                            prev_log_index: *prev_index,
                            prev_log_term: *prev_term,
                            leader_commit: *commit,
                            entries: &carried,
                        }
                    }
                    Msg::InstallSnapshot { term, meta, .. } => Incoming::InstallSnapshot {
                        term: *term,
                        last_index: meta.index,
                        last_term: meta.term,
                        conf: meta.configuration.clone(),
                        conf_index: meta.configuration_index,
                    },
                };
                Event::Receive(Received { from: *from, from_address, body, read_context: 0 })
            }
            Ev::PersistedEntries(index) => Event::PersistedEntries { index: *index },
            Ev::PersistedSnapshot(meta) => Event::PersistedSnapshot { metadata: meta.clone() },
            Ev::Configuration(index, _) => Event::Configuration { index: *index },
            Ev::Snapshot(meta, trailing) => {
                Event::Snapshot { metadata: meta.clone(), trailing: *trailing }
            }
            Ev::Timeout => Event::Timeout,
            Ev::Submit(_) => Event::Submit { entries: &carried },
            Ev::CatchUp(id) => Event::CatchUp { server_id: *id },
            Ev::Transfer(id) => Event::Transfer { server_id: *id },
        };
        let update = self.raft.step(now, capacity, event, None).map_err(|e| code(&e))?;
        let entries = update.entries.map(|new| {
            let entries = match new.source {
                EntrySource::Event { skip } => {
                    let given = event_entries(ev);
                    assert!(skip <= given.len(), "update skips {skip} of {} entries", given.len());
                    given[skip..].to_vec()
                }
                EntrySource::Barrier { term } => {
                    vec![Entry { term, kind: EntryType::Barrier, payload: vec![0; 8] }]
                }
            };
            (new.index, entries)
        });
        Ok(Out {
            term_changed: update.term_changed,
            vote_changed: update.vote_changed,
            snapshot: update.snapshot.clone(),
            entries,
            messages: update
                .messages
                .iter()
                .map(|m| Send { to: m.to, address: m.address.to_string(), body: m.body.clone() })
                .collect(),
            state_changed: update.state_changed,
            commit_changed: update.commit_index_changed,
        })
    }

    fn observe(&self) -> Observed {
        let r = &self.raft;
        let conf: Vec<_> =
            r.configuration().servers.iter().map(|s| (s.id, s.role.code())).collect();
        Observed {
            term: r.current_term(),
            vote: r.voted_for(),
            commit: r.commit_index(),
            state: match r.state() {
                State::Follower => 1,
                State::Candidate => 2,
                State::Leader => 3,
            },
            role: r.role().map_or(-1, |role| i32::from(role.code())),
            last_index: r.last_index(),
            leader: r.leader().map_or((0, None), |(id, a)| (id, Some(a.to_string()))),
            timeout: r.timeout(),
            transferee: r.transferee(),
            detail: vec![
                format!("durable {}", r.persisted_index()),
                format!("snapshot {}", r.snapshot_index()),
                format!("configuration {conf:?}"),
                format!("last term {:?}", r.term_of(r.last_index())),
            ],
        }
    }

    /// Calls out of order: a second start, and events before the start.
    fn misuse(&mut self, now: u64, how: u8) -> Option<i32> {
        match how % 2 {
            0 => {
                let event = Event::Start {
                    term: 1,
                    voted_for: 0,
                    snapshot: None,
                    start_index: 1,
                    entries: &[],
                };
                match self.raft.step(now, 0, event, None) {
                    Ok(_) => panic!("server {}: a second start was accepted", self.raft.id()),
                    Err(e) => Some(code(&e)),
                }
            }
            _ => {
                let mut fresh =
                    Raft::new(self.raft.id(), "fresh", &raft::codec::configuration::CRAFT);
                let result = fresh.step(now, 0, Event::Timeout, None);
                assert!(result.is_err(), "a timeout before the start was accepted");
                None
            }
        }
    }

    fn starve(&mut self, _nth: Option<u32>) {}
}
