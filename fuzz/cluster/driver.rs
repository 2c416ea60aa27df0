//! The simulated cluster: one host per server (durable disk, in-memory log, write queue,
//! state machine), a network of messages in flight and a clock, driven by the fuzz input.
//! Every step goes through [`Cluster::step`], which checks what [`super::checks`] asks.

use std::collections::VecDeque;

use raft::codec::configuration as codec;
use raft::core::message::{AppendEntriesResult, RequestVote, RequestVoteResult, TimeoutNow};
use raft::core::{Configuration, EntryType, Outgoing, Role, Server as Member, SnapshotMetadata};

use super::checks::Checks;
use super::input::{Action, Body, Change, Forged, ForgedConf, ForgedEntry, ForgedMeta, Payload};
use super::model::{Entry, Ev, Msg, Node, Observed, Out, Settings, LEADER, RAFT_NOMEM};

/// Actions and entries are capped so that one input stays fast.
const MAX_ACTIONS: usize = 400;
const MAX_FORGED_ENTRIES: usize = 40;
const MAX_FORGED_SERVERS: usize = 8;

#[derive(Clone, Debug, Default)]
struct Disk {
    term: u64,
    vote: u64,
    snapshot: Option<(SnapshotMetadata, Vec<u8>)>,
    /// Index of `entries[0]`.
    start: u64,
    entries: Vec<Entry>,
}

impl Disk {
    fn end(&self) -> u64 {
        self.start + self.entries.len() as u64
    }
}

struct Write {
    first: u64,
    entries: Vec<Entry>,
    /// Last index of this write that no later update replaced.
    valid_end: u64,
}

struct Packet {
    from: u64,
    to: u64,
    msg: Msg,
    /// Sent by a server that accepted something forged.
    tainted: bool,
}

struct Host<N> {
    id: u64,
    address: String,
    node: Option<N>,
    /// This server accepted a forged event (or a message from such a server): the cluster-wide
    /// checks no longer apply to it.
    tainted: bool,
    /// Time of its last accepted step (a forged time may put it ahead of the cluster's clock).
    clock: u64,
    disk: Disk,
    mem_start: u64,
    mem: Vec<Entry>,
    writes: VecDeque<Write>,
    installing: Option<(SnapshotMetadata, Vec<u8>)>,
    /// Highest index reported durable.
    durable: u64,
    applied: u64,
    digest: u64,
    /// Configurations of the log's Change entries (and of the snapshot), in index order.
    confs: Vec<(u64, Configuration)>,
    config_events: VecDeque<(u64, Configuration)>,
    /// The `nth` allocation of the next step fails.
    starve: Option<u32>,
}

impl<N> Host<N> {
    fn mem_end(&self) -> u64 {
        self.mem_start + self.mem.len() as u64
    }

    fn mem_entry(&self, index: u64) -> Option<&Entry> {
        let offset = index.checked_sub(self.mem_start)?;
        self.mem.get(usize::try_from(offset).ok()?)
    }

    /// The latest configuration on disk (what a restart loads).
    fn disk_conf(&self) -> Option<Configuration> {
        let logged = self.disk.entries.iter().rev().find(|e| e.kind == EntryType::Change);
        match logged {
            Some(e) => codec::decode(&e.payload).ok(),
            None => self.disk.snapshot.as_ref().map(|(m, _)| m.configuration.clone()),
        }
    }

    fn latest_conf(&self) -> Option<&Configuration> {
        self.confs.last().map(|(_, c)| c)
    }
}

pub struct Cluster<N: Node> {
    now: u64,
    hosts: Vec<Host<N>>,
    net: Vec<Packet>,
    checks: Checks,
    settings: Settings,
    seed: u32,
    payloads: u64,
}

fn address(id: u64) -> String {
    format!("node-{id}")
}

/// The snapshot data: the state machine's applied index and digest.
fn snapshot_data(applied: u64, digest: u64) -> Vec<u8> {
    [applied.to_le_bytes(), digest.to_le_bytes()].concat()
}

fn read_snapshot_data(data: &[u8]) -> Option<(u64, u64)> {
    let applied = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
    let digest = u64::from_le_bytes(data.get(8..16)?.try_into().ok()?);
    Some((applied, digest))
}

fn fold(digest: u64, index: u64, entry: &Entry) -> u64 {
    let mut h = digest ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ entry.term;
    h ^= u64::from(entry.kind.code()) << 56;
    for &b in &entry.payload {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// RAFT_FUZZ_TRACE prints every action and step.
fn tracing() -> bool {
    std::env::var_os("RAFT_FUZZ_TRACE").is_some()
}

/// The last index of `len` entries from `first` (`first - 1` when there are none).
fn last_of(first: u64, len: usize) -> u64 {
    first.saturating_add(len as u64).saturating_sub(1)
}

fn describe(ev: &Ev) -> String {
    let mut text = format!("{ev:?}");
    text.truncate(200);
    text
}

/// Honest events a correct server never refuses (submissions, transfers and catch-ups may be
/// refused for reasons of state).
fn must_succeed(ev: &Ev) -> bool {
    !matches!(ev, Ev::Submit(_) | Ev::CatchUp(_) | Ev::Transfer(_))
}

impl<N: Node> Cluster<N> {
    pub fn new(scenario: &super::input::Scenario) -> Cluster<N> {
        let n = 1 + u64::from(scenario.servers % 5);
        let voters = 1 + u64::from(scenario.voters) % n;
        let standbys = u64::from(scenario.standbys) % (n - voters + 1);
        let election_timeout = 10 + 4 * u32::from(scenario.election_timeout);
        let settings = Settings {
            election_timeout,
            heartbeat_timeout: 1 + u32::from(scenario.heartbeat_timeout) % (election_timeout / 2),
            install_snapshot_timeout: 3 * election_timeout,
            pre_vote: scenario.pre_vote,
            max_inflight_entries: 1 + u32::from(scenario.max_inflight_entries % 16),
            max_catch_up_rounds: 10,
            max_catch_up_round_duration: 5 * election_timeout,
            capacity_threshold: if scenario.capacity_threshold < 8 {
                u16::from(scenario.capacity_threshold)
            } else {
                0
            },
        };
        let mut conf = Configuration::new();
        for id in 1..=voters + standbys {
            let role = if id <= voters { Role::Voter } else { Role::Standby };
            conf.add(id, &address(id), role).unwrap();
        }
        let bootstrap = Entry { term: 1, kind: EntryType::Change, payload: codec::encode(&conf) };
        let mut cluster = Cluster {
            now: 0,
            hosts: Vec::new(),
            net: Vec::new(),
            checks: Checks::default(),
            settings,
            seed: scenario.seed,
            payloads: 0,
        };
        for id in 1..=n {
            let disk = if id <= voters + standbys {
                Disk {
                    term: 1,
                    vote: 0,
                    snapshot: None,
                    start: 1,
                    entries: vec![bootstrap.clone()],
                }
            } else {
                Disk { start: 1, ..Disk::default() }
            };
            cluster.hosts.push(Host {
                id,
                address: address(id),
                node: None,
                tainted: false,
                clock: 0,
                disk,
                mem_start: 1,
                mem: Vec::new(),
                writes: VecDeque::new(),
                installing: None,
                durable: 0,
                applied: 0,
                digest: 0,
                confs: Vec::new(),
                config_events: VecDeque::new(),
                starve: None,
            });
        }
        for i in 0..cluster.hosts.len() {
            cluster.restart(i);
        }
        cluster
    }

    pub fn run(&mut self, actions: &[Action]) {
        for action in actions.iter().take(MAX_ACTIONS) {
            self.act(action);
        }
    }

    /// One line about how far the run went (for RAFT_FUZZ_STATS).
    pub fn summary(&self) -> String {
        let commits: Vec<_> =
            self.hosts.iter().map(|h| h.node.as_ref().map_or(0, |n| n.observe().commit)).collect();
        let tainted = self.hosts.iter().filter(|h| h.tainted).count();
        format!(
            "servers {} commits {commits:?} tainted {tainted} now {}",
            self.hosts.len(),
            self.now
        )
    }

    /// Closes every node.
    pub fn into_nodes(self) -> Vec<N> {
        self.hosts.into_iter().filter_map(|h| h.node).collect()
    }

    fn server(&self, k: u8) -> usize {
        usize::from(k) % self.hosts.len()
    }

    fn act(&mut self, action: &Action) {
        if tracing() {
            eprintln!("{action:?}");
        }
        match *action {
            Action::Run(rounds) => {
                for _ in 0..=rounds % 8 {
                    self.round();
                }
            }
            Action::Deliver(k) => self.deliver(k, false),
            Action::Duplicate(k) => self.deliver(k, true),
            Action::Drop(k) => {
                if !self.net.is_empty() {
                    let at = usize::from(k) % self.net.len();
                    self.net.remove(at);
                }
            }
            Action::Tick(ms) => self.now += u64::from(ms),
            Action::Timeout(k) => {
                let i = self.server(k);
                self.step(i, Ev::Timeout, true, None);
            }
            Action::Persist(k) => {
                let i = self.server(k);
                self.persist_one(i);
            }
            Action::Submit(k, n) => {
                let i = self.server(k);
                self.submit(i, usize::from(n % 4) + 1);
            }
            Action::Change(k, change) => {
                let i = self.server(k);
                self.change(i, change);
            }
            Action::Snapshot(k, trailing) => {
                let i = self.server(k);
                self.take_snapshot(i, u32::from(trailing % 8));
            }
            Action::Crash(k) => {
                let i = self.server(k);
                self.crash(i);
            }
            Action::Restart(k) => {
                let i = self.server(k);
                if self.hosts[i].node.is_none() {
                    self.restart(i);
                }
            }
            Action::Transfer(k, target) => {
                let i = self.server(k);
                let target = u64::from(target) % (self.hosts.len() as u64 + 1);
                self.step(i, Ev::Transfer(target), true, None);
            }
            Action::CatchUp(k, target) => {
                let i = self.server(k);
                let target = 1 + u64::from(target) % self.hosts.len() as u64;
                self.step(i, Ev::CatchUp(target), true, None);
            }
            Action::Forge(k, ref forged) => {
                let i = self.server(k);
                self.forge(i, forged);
            }
            Action::Misuse(k, how) => {
                let i = self.server(k);
                self.misuse(i, how);
            }
            Action::Starve(k, nth) => {
                let i = self.server(k);
                self.hosts[i].starve = Some(u32::from(nth % 8));
            }
        }
    }

    /// One honest round: deliver what is in flight, complete every write, then let time pass
    /// (to the next deadline when the cluster is idle) and fire the timers that are due.
    fn round(&mut self) {
        let in_flight = std::mem::take(&mut self.net);
        for packet in in_flight {
            self.receive(packet);
        }
        for i in 0..self.hosts.len() {
            while self.has_pending_write(i) {
                self.persist_one(i);
            }
        }
        let idle = self.net.is_empty();
        // Only honest servers set the pace: a forged clock may be near the end of time.
        let honest = self.hosts.iter().filter(|h| !h.tainted);
        let next = honest.filter_map(|h| h.node.as_ref()).map(|n| n.observe().timeout);
        match next.min() {
            Some(deadline) if idle && deadline > self.now => self.now = deadline,
            _ => self.now += u64::from(self.settings.heartbeat_timeout),
        }
        for i in 0..self.hosts.len() {
            let due = self.hosts[i].node.as_ref().is_some_and(|n| n.observe().timeout <= self.now);
            if due {
                self.step(i, Ev::Timeout, true, None);
            }
        }
    }

    fn deliver(&mut self, k: u16, keep: bool) {
        if self.net.is_empty() {
            return;
        }
        let at = usize::from(k) % self.net.len();
        let packet = if keep {
            let p = &self.net[at];
            Packet { from: p.from, to: p.to, msg: p.msg.clone(), tainted: p.tainted }
        } else {
            self.net.remove(at)
        };
        self.receive(packet);
    }

    fn receive(&mut self, packet: Packet) {
        let Some(i) = self.hosts.iter().position(|h| h.id == packet.to) else { return };
        let ev =
            Ev::Receive { from: packet.from, from_address: address(packet.from), msg: packet.msg };
        self.step(i, ev, !packet.tainted, None);
    }

    /// Steps `ev` on server `i` (if it is up) with all the checks, and does what the update
    /// asks. `honest` events keep the server honest; `time` overrides the clock.
    fn step(&mut self, i: usize, ev: Ev, honest: bool, time: Option<u64>) -> Option<Out> {
        let result = self.step_once(i, &ev, honest, time);
        let out = match result {
            Err(code) if code == RAFT_NOMEM && self.hosts[i].node.is_some() => {
                // An allocation failure we caused: the host retries the event.
                self.step_once(i, &ev, honest, time).ok()?
            }
            other => other.ok()?,
        };
        let out = self.process(i, &ev, out);
        self.report_configurations(i);
        Some(out)
    }

    fn step_once(
        &mut self,
        i: usize,
        ev: &Ev,
        honest: bool,
        time: Option<u64>,
    ) -> Result<Out, i32> {
        let now = time.unwrap_or(self.now.max(self.hosts[i].clock));
        let host = &mut self.hosts[i];
        let id = host.id;
        let starve = host.starve.take();
        let Some(node) = host.node.as_mut() else { return Err(0) };
        node.starve(starve);
        let before = node.observe();
        let result = node.step(now, 100, ev);
        node.starve(None);
        let after = node.observe();
        super::panics::assert_none(id, &describe(ev));
        if tracing() {
            let verdict = result.as_ref().map(|_| "ok").map_err(|c| *c);
            eprintln!(
                "  t={now} server {id}{} {}: {verdict:?} -> term {} vote {} commit {} state {} last {}",
                if host.tainted || !honest { " (tainted)" } else { "" },
                describe(ev),
                after.term,
                after.vote,
                after.commit,
                after.state,
                after.last_index
            );
        }
        match &result {
            Err(code) => {
                self.checks.refused(id, &describe(ev), *code, &before, &after);
                let honest_server = honest && !host.tainted;
                if honest_server && must_succeed(ev) && !ev.is_start() && starve.is_none() {
                    panic!("server {id}: honest {} refused with code {code}", describe(ev));
                }
            }
            Ok(_) => {
                host.clock = now;
                if !honest {
                    host.tainted = true;
                }
                self.checks.accepted(id, &describe(ev), &before, &after);
                if !host.tainted {
                    self.checks.leader(id, &after);
                }
            }
        }
        result
    }

    fn observe(&self, i: usize) -> Option<Observed> {
        self.hosts[i].node.as_ref().map(|n| n.observe())
    }

    /// Does what a successful step's update asks, in the order of spec §12.8.
    fn process(&mut self, i: usize, ev: &Ev, out: Out) -> Out {
        let observed = self.observe(i).expect("a node that just stepped");
        let host = &mut self.hosts[i];
        let id = host.id;
        let honest = !host.tainted;
        if out.term_changed || out.vote_changed {
            assert!(
                observed.term >= host.disk.term,
                "server {id}: durable term would go back from {} to {}",
                host.disk.term,
                observed.term
            );
            host.disk.term = observed.term;
            host.disk.vote = observed.vote;
        }
        if let Some(meta) = &out.snapshot {
            let Ev::Receive { msg: Msg::InstallSnapshot { data, .. }, .. } = ev else {
                panic!("server {id}: snapshot to store without a received InstallSnapshot");
            };
            host.mem_start = meta.index.saturating_add(1);
            host.mem.clear();
            host.writes.clear();
            host.confs = vec![(meta.configuration_index, meta.configuration.clone())];
            host.installing = Some((meta.clone(), data.clone()));
        }
        if let Some((index, entries)) = &out.entries {
            let (index, entries) = (*index, entries.clone());
            if index < host.mem_start || index > host.mem_end() {
                assert!(
                    !honest,
                    "server {id}: entries at {index} leave a gap in the log {}..{}",
                    host.mem_start,
                    host.mem_end()
                );
                host.mem_start = index;
                host.mem.clear();
            }
            host.mem.truncate((index - host.mem_start) as usize);
            host.confs.retain(|(at, _)| *at < index);
            for (k, e) in entries.iter().enumerate() {
                if e.kind == EntryType::Change {
                    match codec::decode(&e.payload) {
                        Ok(conf) => host.confs.push((index + k as u64, conf)),
                        Err(err) => assert!(!honest, "server {id}: bad configuration {err}"),
                    }
                }
            }
            host.mem.extend(entries.iter().cloned());
            for w in host.writes.iter_mut() {
                w.valid_end = w.valid_end.min(index.saturating_sub(1));
            }
            host.durable = host.durable.min(index.saturating_sub(1));
            let valid_end = last_of(index, entries.len());
            host.writes.push_back(Write { first: index, entries, valid_end });
        }
        for m in &out.messages {
            if let Some(packet) = self.attach(i, m) {
                self.net.push(packet);
            }
        }
        self.apply(i);
        out
    }

    /// The packet for an outgoing message, with the entries or snapshot attached from the
    /// host's storage.
    fn attach(&self, i: usize, m: &super::model::Send) -> Option<Packet> {
        let host = &self.hosts[i];
        let honest = !host.tainted;
        let id = host.id;
        if honest {
            assert_eq!(m.address, address(m.to), "server {id}: destination address of {}", m.to);
        }
        let msg = match &m.body {
            Outgoing::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                n_entries,
            } => {
                let mut entries = Vec::new();
                for k in 1..=u64::from(*n_entries) {
                    let index = prev_log_index.checked_add(k)?;
                    match host.mem_entry(index) {
                        Some(e) => entries.push(e.clone()),
                        None if honest => panic!("server {id} lacks entry {index} to send"),
                        None => return None,
                    }
                }
                Msg::AppendEntries {
                    term: *term,
                    prev_index: *prev_log_index,
                    prev_term: *prev_log_term,
                    commit: *leader_commit,
                    entries,
                }
            }
            Outgoing::InstallSnapshot { term, last_index, last_term, conf_index } => {
                let snapshot = host.disk.snapshot.as_ref().filter(|(meta, _)| {
                    (meta.index, meta.term, meta.configuration_index)
                        == (*last_index, *last_term, *conf_index)
                });
                match snapshot {
                    Some((meta, data)) => {
                        Msg::InstallSnapshot { term: *term, meta: meta.clone(), data: data.clone() }
                    }
                    None if honest => panic!(
                        "server {id} sends a snapshot it does not have: {last_index}/{last_term}"
                    ),
                    None => return None,
                }
            }
            Outgoing::RequestVote(m) => Msg::RequestVote(*m),
            Outgoing::RequestVoteResult(m) => Msg::RequestVoteResult(*m),
            Outgoing::AppendEntriesResult(m) => Msg::AppendEntriesResult(*m),
            Outgoing::TimeoutNow(m) => Msg::TimeoutNow(*m),
            // The fuzzed hosts never ask for reads, so no server forwards one.
            Outgoing::ReadIndex(_) | Outgoing::ReadIndexResult(_) => return None,
            // Nor do they stream snapshots (no host sets a chunk size).
            Outgoing::InstallSnapshotChunk { .. } | Outgoing::SnapshotChunkResult(_) => {
                return None
            }
        };
        Some(Packet { from: id, to: m.to, msg, tainted: host.tainted })
    }

    /// Applies the newly committed entries (or the snapshot that covers them).
    fn apply(&mut self, i: usize) {
        let Some(observed) = self.observe(i) else { return };
        let host = &mut self.hosts[i];
        let honest = !host.tainted;
        let id = host.id;
        let commit = observed.commit;
        if let Some((meta, data)) = &host.disk.snapshot {
            if meta.index > host.applied && meta.index <= commit {
                let (_, digest) = read_snapshot_data(data).unwrap_or((0, 0));
                host.applied = meta.index;
                host.digest = digest;
                if honest {
                    self.checks.digest(id, meta.index, digest);
                }
            }
        }
        while host.applied < commit {
            let index = host.applied + 1;
            let Some(entry) = host.mem_entry(index).cloned() else {
                assert!(!honest, "server {id}: committed entry {index} is not in its log");
                return;
            };
            host.digest = fold(host.digest, index, &entry);
            host.applied = index;
            if honest {
                self.checks.applied(id, index, &entry, host.digest);
            }
            if entry.kind == EntryType::Change {
                if let Ok(conf) = codec::decode(&entry.payload) {
                    host.config_events.push_back((index, conf));
                }
            }
        }
    }

    fn report_configurations(&mut self, i: usize) {
        while let Some((index, conf)) = self.hosts[i].config_events.pop_front() {
            self.step(i, Ev::Configuration(index, conf), true, None);
        }
    }

    fn has_pending_write(&self, i: usize) -> bool {
        let h = &self.hosts[i];
        h.node.is_some() && (h.installing.is_some() || !h.writes.is_empty())
    }

    /// Completes the received snapshot, or else the oldest entry write, and reports it.
    fn persist_one(&mut self, i: usize) {
        if !self.has_pending_write(i) {
            return;
        }
        let host = &mut self.hosts[i];
        let id = host.id;
        if let Some((meta, data)) = host.installing.take() {
            host.disk.snapshot = Some((meta.clone(), data));
            host.disk.start = meta.index.saturating_add(1);
            host.disk.entries.clear();
            host.durable = meta.index;
            self.step(i, Ev::PersistedSnapshot(meta), true, None);
            return;
        }
        let w = host.writes.pop_front().expect("a pending write");
        if w.first < host.disk.start {
            let skip = (host.disk.start - w.first) as usize;
            host.disk.entries = w.entries.iter().skip(skip).cloned().collect();
        } else {
            if w.first > host.disk.end() {
                assert!(host.tainted, "server {id}: a write at {} leaves a gap on disk", w.first);
                return;
            }
            host.disk.entries.truncate((w.first - host.disk.start) as usize);
            host.disk.entries.extend(w.entries.iter().cloned());
        }
        let end = w.valid_end.min(last_of(w.first, w.entries.len()));
        if end >= w.first && end > host.durable {
            host.durable = end;
            self.step(i, Ev::PersistedEntries(end), true, None);
        }
    }

    fn submit(&mut self, i: usize, n: usize) {
        let Some(observed) = self.observe(i) else { return };
        let mut entries = Vec::new();
        for _ in 0..n {
            self.payloads += 1;
            let mut payload = self.payloads.to_le_bytes().to_vec();
            payload.resize(8 + (self.payloads % 3) as usize * 8, 0xab);
            entries.push(Entry { term: observed.term, kind: EntryType::Command, payload });
        }
        self.step(i, Ev::Submit(entries), true, None);
    }

    fn change(&mut self, i: usize, change: Change) {
        let Some(observed) = self.observe(i) else { return };
        if observed.state != LEADER {
            return;
        }
        let Some(mut conf) = self.hosts[i].latest_conf().cloned() else { return };
        let n = self.hosts.len() as u64;
        let pick = |k: u8| 1 + u64::from(k) % n;
        match change {
            Change::AddStandby(k) | Change::AddSpare(k) => {
                let role = if matches!(change, Change::AddStandby(_)) {
                    Role::Standby
                } else {
                    Role::Spare
                };
                if conf.add(pick(k), &address(pick(k)), role).is_err() {
                    return;
                }
            }
            Change::Promote(k) | Change::Demote(k) => {
                let role =
                    if matches!(change, Change::Promote(_)) { Role::Voter } else { Role::Standby };
                let Some(s) = conf.servers.iter_mut().find(|s| s.id == pick(k)) else { return };
                s.role = role;
            }
            Change::Remove(k) => conf.servers.retain(|s| s.id != pick(k)),
        }
        if conf.voter_count() == 0 {
            return;
        }
        let entry =
            Entry { term: observed.term, kind: EntryType::Change, payload: codec::encode(&conf) };
        self.step(i, Ev::Submit(vec![entry]), true, None);
    }

    /// Takes a snapshot at the last applied index, keeping `trailing` entries.
    fn take_snapshot(&mut self, i: usize, trailing: u32) {
        let host = &self.hosts[i];
        if host.node.is_none() || host.installing.is_some() {
            return;
        }
        let index = host.applied;
        let current = host.disk.snapshot.as_ref().map_or(0, |(m, _)| m.index);
        let Some(term) = host.mem_entry(index).map(|e| e.term) else { return };
        if index <= current {
            return;
        }
        let Some((conf_index, conf)) =
            host.confs.iter().rev().find(|(at, _)| *at <= index).cloned()
        else {
            return;
        };
        let meta =
            SnapshotMetadata { index, term, configuration: conf, configuration_index: conf_index };
        let data = snapshot_data(index, host.digest);
        let previous = self.hosts[i].disk.snapshot.replace((meta.clone(), data));
        if self.step(i, Ev::Snapshot(meta, trailing), true, None).is_none() {
            self.hosts[i].disk.snapshot = previous;
            return;
        }
        let host = &mut self.hosts[i];
        let forget = index.saturating_sub(u64::from(trailing));
        if host.mem_entry(forget).is_some() {
            let n = (forget + 1 - host.mem_start) as usize;
            host.mem.drain(..n);
            host.mem_start = forget + 1;
        }
        if forget >= host.disk.start && forget < host.disk.end() {
            let n = (forget + 1 - host.disk.start) as usize;
            host.disk.entries.drain(..n);
            host.disk.start = forget + 1;
        } else if forget >= host.disk.end() {
            host.disk.entries.clear();
            host.disk.start = forget + 1;
        }
    }

    fn crash(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        host.node = None;
        host.writes.clear();
        host.installing = None;
    }

    /// Starts server `i` from its disk, as a host does after a crash.
    fn restart(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        // Entries that all precede the snapshot are covered by it: load the snapshot alone.
        if let Some((meta, _)) = &host.disk.snapshot {
            if host.disk.end() <= meta.index {
                host.disk.entries.clear();
                host.disk.start = meta.index.saturating_add(1);
            }
        }
        host.mem_start = host.disk.start;
        host.mem = host.disk.entries.clone();
        host.writes.clear();
        host.installing = None;
        host.config_events.clear();
        host.confs.clear();
        host.applied = 0;
        host.digest = 0;
        host.durable = host.disk.end().saturating_sub(1);
        if let Some((meta, data)) = &host.disk.snapshot {
            host.confs.push((meta.configuration_index, meta.configuration.clone()));
            let (_, digest) = read_snapshot_data(data).unwrap_or((0, 0));
            host.applied = meta.index;
            host.digest = digest;
            host.durable = host.durable.max(meta.index);
        }
        for (k, e) in host.mem.iter().enumerate() {
            let index = host.mem_start + k as u64;
            let newer = !matches!(host.confs.last(), Some((at, _)) if *at >= index);
            if e.kind == EntryType::Change && newer {
                if let Ok(conf) = codec::decode(&e.payload) {
                    host.confs.push((index, conf));
                }
            }
        }
        let seed = self.seed.wrapping_add(host.id as u32).wrapping_mul(2_654_435_761);
        host.node = Some(N::new(host.id, &host.address, seed, &self.settings));
        let ev = Ev::Start {
            term: host.disk.term,
            vote: host.disk.vote,
            snapshot: host.disk.snapshot.as_ref().map(|(m, _)| m.clone()),
            start_index: host.disk.start,
            entries: host.disk.entries.clone(),
        };
        let tainted = host.tainted;
        let id = host.id;
        if self.step(i, ev, true, None).is_none() {
            assert!(tainted, "server {id}: its own durable state was refused at start");
            self.hosts[i].node = None;
            return;
        }
        if let Some(o) = self.observe(i) {
            self.checks.vote(id, &o);
        }
    }

    fn misuse(&mut self, i: usize, how: u8) {
        let now = self.now.max(self.hosts[i].clock);
        let id = self.hosts[i].id;
        let Some(node) = self.hosts[i].node.as_mut() else { return };
        let before = node.observe();
        let Some(code) = node.misuse(now, how) else { return };
        let after = node.observe();
        super::panics::assert_none(id, "a misuse");
        self.checks.refused(id, &format!("misuse {how}"), code, &before, &after);
    }

    // ---- forging ----

    fn forge(&mut self, i: usize, forged: &Forged) {
        let Some(o) = self.observe(i) else { return };
        let me = self.hosts[i].id;
        let clock = self.now.max(self.hosts[i].clock);
        let ev = match forged {
            Forged::Message { from, address, body } => {
                let from = from.resolve(me);
                Ev::Receive {
                    from,
                    from_address: address.resolve(from),
                    msg: forged_message(me, &o, body),
                }
            }
            Forged::PersistedEntries(index) => Ev::PersistedEntries(index.resolve(o.last_index)),
            Forged::PersistedSnapshot(meta) => Ev::PersistedSnapshot(forged_meta(me, &o, meta)),
            Forged::Snapshot(meta, trailing) => {
                Ev::Snapshot(forged_meta(me, &o, meta), u32::from(*trailing))
            }
            Forged::Configuration(index, conf) => {
                Ev::Configuration(index.resolve(o.last_index), forged_conf(me, conf))
            }
            Forged::Submit(entries) => Ev::Submit(forged_entries(me, &o, entries)),
            Forged::CatchUp(who) => Ev::CatchUp(who.resolve(me)),
            Forged::Transfer(who) => Ev::Transfer(who.resolve(me)),
            Forged::StartAgain => Ev::Start {
                term: o.term,
                vote: o.vote,
                snapshot: None,
                start_index: 1,
                entries: Vec::new(),
            },
            Forged::TimeBack(back) => {
                let time = clock.saturating_sub(1 + u64::from(*back));
                self.step(i, Ev::Timeout, false, Some(time));
                return;
            }
            Forged::FarTime(t) => {
                let time = t.resolve(clock).max(clock);
                self.step(i, Ev::Timeout, false, Some(time));
                return;
            }
        };
        self.step(i, ev, false, None);
    }
}

fn forged_conf(me: u64, conf: &ForgedConf) -> Configuration {
    let servers = conf
        .servers
        .iter()
        .take(MAX_FORGED_SERVERS)
        .map(|(who, role)| {
            let id = who.resolve(me);
            let role = match role % 3 {
                0 => Role::Standby,
                1 => Role::Voter,
                _ => Role::Spare,
            };
            Member { id, address: address(id).into(), role }
        })
        .collect();
    Configuration { servers }
}

fn forged_meta(me: u64, o: &Observed, meta: &ForgedMeta) -> SnapshotMetadata {
    SnapshotMetadata {
        index: meta.index.resolve(o.last_index),
        term: meta.term.resolve(o.term),
        configuration: forged_conf(me, &meta.conf),
        configuration_index: meta.conf_index.resolve(o.commit),
    }
}

fn forged_entries(me: u64, o: &Observed, entries: &[ForgedEntry]) -> Vec<Entry> {
    entries
        .iter()
        .take(MAX_FORGED_ENTRIES)
        .map(|e| Entry {
            term: e.term.resolve(o.term),
            kind: match e.kind % 3 {
                0 => EntryType::Command,
                1 => EntryType::Barrier,
                _ => EntryType::Change,
            },
            payload: match &e.payload {
                Payload::Empty => Vec::new(),
                Payload::Bytes(b) => b.clone(),
                Payload::Conf(c) => codec::encode(&forged_conf(me, c)),
            },
        })
        .collect()
}

fn forged_message(me: u64, o: &Observed, body: &Body) -> Msg {
    let term = |n: super::input::Num| n.resolve(o.term);
    let index = |n: super::input::Num| n.resolve(o.last_index);
    match body {
        Body::RequestVote {
            term: t,
            candidate,
            last_index,
            last_term,
            disrupt_leader,
            pre_vote,
        } => Msg::RequestVote(RequestVote {
            term: term(*t),
            candidate_id: candidate.resolve(me),
            last_log_index: index(*last_index),
            last_log_term: term(*last_term),
            disrupt_leader: *disrupt_leader,
            pre_vote: *pre_vote,
        }),
        Body::RequestVoteResult { term: t, granted, pre_vote, features, capacity } => {
            Msg::RequestVoteResult(RequestVoteResult {
                term: term(*t),
                vote_granted: *granted,
                pre_vote: *pre_vote,
                features: *features,
                capacity: *capacity,
            })
        }
        Body::AppendEntries { term: t, prev_index, prev_term, commit, entries } => {
            Msg::AppendEntries {
                term: term(*t),
                prev_index: index(*prev_index),
                prev_term: term(*prev_term),
                commit: commit.resolve(o.commit),
                entries: forged_entries(me, o, entries),
            }
        }
        Body::AppendEntriesResult { term: t, rejected, last_index, features, capacity } => {
            Msg::AppendEntriesResult(AppendEntriesResult {
                term: term(*t),
                rejected: index(*rejected),
                last_log_index: index(*last_index),
                features: *features,
                capacity: *capacity,
            })
        }
        Body::InstallSnapshot { term: t, meta, data } => Msg::InstallSnapshot {
            term: term(*t),
            meta: forged_meta(me, o, meta),
            data: data.clone(),
        },
        Body::TimeoutNow { term: t, last_index, last_term } => Msg::TimeoutNow(TimeoutNow {
            term: term(*t),
            last_log_index: index(*last_index),
            last_log_term: term(*last_term),
        }),
    }
}
