//! Randomized cluster simulations over the public core API: message loss, duplication,
//! reordering and partitions; crashes that lose unpersisted writes and restarts from disk;
//! snapshots at random points; membership changes and leadership transfers. Safety
//! properties are checked after every step (see `invariants.rs`), and at the end the healed
//! cluster must commit again.
//!
//! `RAFT_SIM_SEEDS=n` runs n seeds per cluster size (default 150); `RAFT_SIM_SEED=s` runs one.

mod host;
mod invariants;
mod rng;

use std::collections::HashSet;

use raft::codec::configuration as codec;
use raft::core::{CatchUpStatus, Configuration, EntryType, Error, Event, Role};

use host::{Disk, Entry, Extra, Host, Packet};
use rng::Rng;

struct Cluster {
    rng: Rng,
    now: u64,
    hosts: Vec<Host>,
    net: Vec<(u64, Packet)>,
    cut: HashSet<(u64, u64)>,
    restart_at: Vec<Option<u64>>,
    payloads: u64,
    lossy: bool,
}

impl Cluster {
    /// `voters` bootstrapped voters plus one server outside the configuration.
    fn new(seed: u64, voters: u64) -> Cluster {
        invariants::reset();
        let mut rng = Rng::new(seed);
        let mut conf = Configuration::new();
        for id in 1..=voters {
            conf.add(id, &format!("node-{id}"), Role::Voter).unwrap();
        }
        let bootstrap = Entry { term: 1, kind: EntryType::Change, payload: codec::encode(&conf) };
        let mut hosts = Vec::new();
        for id in 1..=voters + 1 {
            let disk = if id <= voters {
                Disk {
                    term: 1,
                    vote: 0,
                    snapshot: None,
                    start: 1,
                    entries: vec![bootstrap.clone()],
                }
            } else {
                Disk { term: 0, vote: 0, snapshot: None, start: 1, entries: vec![] }
            };
            let seed = rng.next() as u32;
            hosts.push(Host::new(id, disk, seed, &mut rng));
        }
        let n = hosts.len();
        let mut cluster = Cluster {
            rng,
            now: 0,
            hosts,
            net: Vec::new(),
            cut: HashSet::new(),
            restart_at: vec![None; n],
            payloads: 0,
            lossy: true,
        };
        for i in 0..n {
            let mut out = Vec::new();
            cluster.hosts[i].start(0, &mut out);
            cluster.after_step(i, out);
        }
        cluster
    }

    fn after_step(&mut self, i: usize, out: Vec<Packet>) {
        let mut out = out;
        let now = self.now;
        self.hosts[i].report_configurations(now, &mut out);
        invariants::check_node(&self.hosts[i]);
        for packet in out {
            self.send(packet);
        }
    }

    fn send(&mut self, packet: Packet) {
        if self.cut.contains(&(packet.from, packet.to)) {
            return;
        }
        if self.lossy && self.rng.chance(0.05) {
            return;
        }
        let copies = if self.lossy && self.rng.chance(0.02) { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + 1 + self.rng.below(40);
            self.net.push((at, packet.clone()));
        }
    }

    fn leader(&self) -> Option<usize> {
        // The leader of the highest term, if several believe they lead.
        (0..self.hosts.len())
            .filter(|&i| self.hosts[i].is_leader())
            .max_by_key(|&i| self.hosts[i].raft.current_term())
    }

    /// Runs one due action (or advances the clock). `chaos` enables faults and admin actions.
    fn tick(&mut self, chaos: bool) {
        if chaos {
            self.maybe_disturb();
        }
        if self.rng.chance(0.03) {
            self.submit_commands();
        }
        let now = self.now;
        let mut due: Vec<Action> = Vec::new();
        for (k, (at, _)) in self.net.iter().enumerate() {
            if *at <= now {
                due.push(Action::Deliver(k));
            }
        }
        for (i, h) in self.hosts.iter().enumerate() {
            if h.alive {
                if h.next_disk_time().is_some_and(|t| t <= now) {
                    due.push(Action::Disk(i));
                }
                if h.raft.timeout() <= now {
                    due.push(Action::Timeout(i));
                }
            } else if self.restart_at[i].is_some_and(|t| t <= now) {
                due.push(Action::Restart(i));
            }
        }
        if due.is_empty() {
            let mut next = now + 50;
            next = next.min(self.net.iter().map(|(t, _)| *t).min().unwrap_or(next));
            for (i, h) in self.hosts.iter().enumerate() {
                if h.alive {
                    next = next.min(h.raft.timeout());
                    next = next.min(h.next_disk_time().unwrap_or(next));
                } else {
                    next = next.min(self.restart_at[i].unwrap_or(next));
                }
            }
            self.now = next.max(now + 1);
            return;
        }
        let action = due[self.rng.below(due.len() as u64) as usize];
        let mut out = Vec::new();
        let i = match action {
            Action::Deliver(k) => {
                let (_, packet) = self.net.swap_remove(k);
                let i = (packet.to - 1) as usize;
                if !self.hosts[i].alive {
                    return;
                }
                let what = format!("{:?}", packet.body);
                self.hosts[i]
                    .receive(now, packet, &mut out)
                    .unwrap_or_else(|e| panic!("node {} receive {what}: {e}", i + 1));
                i
            }
            Action::Disk(i) => {
                self.hosts[i].complete_disk(now, &mut out);
                i
            }
            Action::Timeout(i) => {
                self.hosts[i].step(now, Event::Timeout, Extra::None, &mut out).expect("timeout");
                assert!(self.hosts[i].raft.timeout() > now, "node {}: timeout not re-armed", i + 1);
                i
            }
            Action::Restart(i) => {
                self.restart_at[i] = None;
                let seed = self.rng.next() as u32;
                let disk = self.hosts[i].disk.clone();
                self.hosts[i] = Host::new(i as u64 + 1, disk, seed, &mut self.rng);
                self.hosts[i].start(now, &mut out);
                i
            }
        };
        self.after_step(i, out);
    }

    fn submit_commands(&mut self) {
        let Some(i) = self.leader() else { return };
        let term = self.hosts[i].raft.current_term();
        let n = 1 + self.rng.below(3);
        let entries: Vec<Entry> = (0..n)
            .map(|_| {
                self.payloads += 1;
                Entry {
                    term,
                    kind: EntryType::Command,
                    payload: self.payloads.to_le_bytes().to_vec(),
                }
            })
            .collect();
        self.submit(i, entries);
    }

    fn submit(&mut self, i: usize, entries: Vec<Entry>) {
        let views: Vec<_> = entries.iter().map(host::view).collect();
        let mut out = Vec::new();
        let now = self.now;
        match self.hosts[i].step(
            now,
            Event::Submit { entries: &views },
            Extra::Entries(entries.clone()),
            &mut out,
        ) {
            Ok(()) | Err(Error::NotLeader | Error::CantChange) => {}
            Err(e) => panic!("submit: {e}"),
        }
        self.after_step(i, out);
    }

    fn maybe_disturb(&mut self) {
        let n = self.hosts.len();
        let r = self.rng.below(1000);
        let now = self.now;
        match r {
            0..=4 => {
                let i = self.rng.below(n as u64) as usize;
                if self.hosts[i].alive && !self.hosts[i].raft.configuration().is_empty() {
                    let trailing = self.rng.below(6) as u32;
                    let mut out = Vec::new();
                    self.hosts[i].take_snapshot(now, trailing, &mut out);
                    self.after_step(i, out);
                }
            }
            5..=6 => {
                let i = self.rng.below(n as u64) as usize;
                let alive = self.hosts.iter().filter(|h| h.alive).count();
                if self.hosts[i].alive && alive + 1 >= n {
                    self.hosts[i].crash();
                    self.restart_at[i] = Some(now + 200 + self.rng.below(3000));
                }
            }
            7..=9 => {
                if self.rng.chance(0.4) {
                    self.cut.clear();
                } else {
                    let a = 1 + self.rng.below(n as u64);
                    let b = 1 + self.rng.below(n as u64);
                    self.cut.insert((a, b));
                    self.cut.insert((b, a));
                }
            }
            10..=11 => self.change_membership(),
            12 => {
                if let Some(i) = self.leader() {
                    let mut out = Vec::new();
                    match self.hosts[i].step(
                        now,
                        Event::Transfer { server_id: 0 },
                        Extra::None,
                        &mut out,
                    ) {
                        Ok(()) | Err(Error::NotLeader | Error::NotFound(_)) => {}
                        Err(e) => panic!("transfer: {e}"),
                    }
                    self.after_step(i, out);
                }
            }
            13..=14 => self.catch_up(),
            _ => {}
        }
    }

    /// Changes one server's role (or adds/removes it), keeping at least two voters.
    fn change_membership(&mut self) {
        let Some(i) = self.leader() else { return };
        let mut conf = self.hosts[i].raft.configuration().clone();
        let id = 1 + self.rng.below(self.hosts.len() as u64);
        let role = match self.rng.below(4) {
            0 => Some(Role::Voter),
            1 => Some(Role::Standby),
            2 => Some(Role::Spare),
            _ => None,
        };
        match (conf.servers.iter().position(|s| s.id == id), role) {
            (Some(k), Some(role)) => conf.servers[k].role = role,
            (Some(k), None) => {
                conf.servers.remove(k);
            }
            (None, Some(role)) => conf.add(id, &format!("node-{id}"), role).unwrap(),
            (None, None) => return,
        }
        if conf.voter_count() < 2 {
            return;
        }
        let term = self.hosts[i].raft.current_term();
        let entry = Entry { term, kind: EntryType::Change, payload: codec::encode(&conf) };
        self.submit(i, vec![entry]);
    }

    fn catch_up(&mut self) {
        let Some(i) = self.leader() else { return };
        let conf = self.hosts[i].raft.configuration().clone();
        let me = i as u64 + 1;
        let Some(server) = conf.servers.iter().find(|s| s.role != Role::Voter && s.id != me) else {
            return;
        };
        let id = server.id;
        if self.hosts[i].raft.catch_up(id) == Ok(CatchUpStatus::Running) {
            return;
        }
        let mut out = Vec::new();
        let now = self.now;
        self.hosts[i]
            .step(now, Event::CatchUp { server_id: id }, Extra::None, &mut out)
            .expect("catch up");
        self.after_step(i, out);
    }

    /// Ends the faults and brings every server back.
    fn heal(&mut self) {
        self.cut.clear();
        self.lossy = false;
        for i in 0..self.hosts.len() {
            if !self.hosts[i].alive {
                self.restart_at[i] = Some(self.now);
            }
        }
    }

    fn max_commit(&self) -> u64 {
        self.hosts.iter().map(|h| h.raft.commit_index()).max().unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Deliver(usize),
    Disk(usize),
    Timeout(usize),
    Restart(usize),
}

fn run(seed: u64, voters: u64, steps: usize) {
    let mut c = Cluster::new(seed, voters);
    for _ in 0..steps {
        c.tick(true);
    }
    c.heal();
    let before = c.max_commit();
    let deadline = c.now + 30_000;
    while c.now < deadline && c.max_commit() <= before + 3 {
        c.tick(false);
    }
    if c.max_commit() <= before + 3 {
        for h in &c.hosts {
            let r = &h.raft;
            eprintln!(
                "node {}: {:?} term {} commit {} last {} persisted {} snapshot {} role {:?} confs {:?}",
                h.id,
                r.state(),
                r.current_term(),
                r.commit_index(),
                r.last_index(),
                r.persisted_index(),
                r.snapshot_index(),
                r.role(),
                h.confs.iter().map(|(i, c)| (*i, c.servers.iter().map(|s| (s.id, s.role.code())).collect::<Vec<_>>())).collect::<Vec<_>>()
            );
        }
        panic!("no progress after healing (commit {before})");
    }
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("RAFT_SIM_SEED") {
        return vec![s.parse().expect("RAFT_SIM_SEED")];
    }
    let n = std::env::var("RAFT_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    (0..n).collect()
}

fn run_seeds(voters: u64) {
    for seed in seeds() {
        let result = std::panic::catch_unwind(|| run(seed, voters, 6000));
        if let Err(e) = result {
            eprintln!(
                "simulation failed: {voters} voters, seed {seed} (rerun with RAFT_SIM_SEED={seed})"
            );
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn three_voters_keep_safety_under_faults() {
    run_seeds(3);
}

#[test]
fn five_voters_keep_safety_under_faults() {
    run_seeds(5);
}
