//! The server instance: its persistent and volatile state, and the step entry point.
//! PLACEHOLDER: the protocol is being implemented; this skeleton only holds settings.

use std::sync::Arc;

use super::error::Error;
use super::event::{Event, Update};
use super::settings::Settings;
use super::trace::Tracer;
use super::types::{CatchUpStatus, Id, Index, Role, State, Term, Time};

pub struct Raft {
    id: Id,
    address: Arc<str>,
    settings: Settings,
    random: u32,
    update: Update,
}

impl Raft {
    pub fn new(id: Id, address: &str) -> Raft {
        Raft {
            id,
            address: Arc::from(address),
            settings: Settings::default(),
            random: 0,
            update: Update::default(),
        }
    }

    pub fn id(&self) -> Id {
        self.id
    }

    pub fn address(&self) -> &Arc<str> {
        &self.address
    }

    pub fn seed(&mut self, seed: u32) {
        self.random = seed;
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn set_election_timeout(&mut self, msecs: u32, _tracer: Option<&mut dyn Tracer>) {
        self.settings.election_timeout = msecs.max(1);
    }
    pub fn set_heartbeat_timeout(&mut self, msecs: u32) {
        self.settings.heartbeat_timeout = msecs;
    }
    pub fn set_install_snapshot_timeout(&mut self, msecs: u32) {
        self.settings.install_snapshot_timeout = msecs;
    }
    pub fn set_pre_vote(&mut self, enabled: bool) {
        self.settings.pre_vote = enabled;
    }
    pub fn set_max_catch_up_rounds(&mut self, n: u32) {
        self.settings.max_catch_up_rounds = n;
    }
    pub fn set_max_catch_up_round_duration(&mut self, msecs: u32) {
        self.settings.max_catch_up_round_duration = msecs;
    }
    pub fn set_max_inflight_entries(&mut self, n: u32) {
        self.settings.max_inflight_entries = n;
    }
    pub fn set_capacity_threshold(&mut self, min: u16) {
        self.settings.capacity_threshold = min;
    }

    pub fn step(
        &mut self,
        _now: Time,
        _capacity: u16,
        _event: Event<'_>,
        _tracer: Option<&mut dyn Tracer>,
    ) -> Result<&Update, Error> {
        self.update.clear();
        Err(Error::Invalid("raft_step is not implemented yet".into()))
    }

    pub fn current_term(&self) -> Term {
        0
    }
    pub fn voted_for(&self) -> Id {
        0
    }
    pub fn commit_index(&self) -> Index {
        0
    }
    pub fn timeout(&self) -> Time {
        0
    }
    pub fn match_index(&self, _id: Id) -> Result<Index, Error> {
        Err(Error::NotLeader)
    }
    pub fn catch_up(&self, _id: Id) -> Result<CatchUpStatus, Error> {
        Err(Error::NotLeader)
    }
    pub fn transferee(&self) -> Id {
        0
    }
    pub fn state(&self) -> State {
        State::Follower
    }
    pub fn role(&self) -> Option<Role> {
        None
    }
    pub fn leader(&self) -> Option<(Id, &Arc<str>)> {
        None
    }
    pub fn last_index(&self) -> Index {
        0
    }
}
