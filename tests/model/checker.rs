//! The stateright model: which actions exist in a state, what each does to the cluster, and the
//! properties checked in every state reached.

use stateright::{Model, Property};

use crate::cluster::{
    in_flight, voter_count, Body, Cluster, Data, Entry, Input, Outcome, Packet, Roles, Seat,
    StateTag, SERVERS,
};

/// Limits that keep the state space finite (the depth is the checker's).
#[derive(Clone, Debug)]
pub struct Bounds {
    /// No server stands for election beyond this term.
    pub max_term: u64,
    /// Commands submitted in a run, and configuration changes.
    pub max_commands: u8,
    pub max_changes: u8,
    /// Crash-restarts in a run.
    pub max_crashes: u8,
    /// States with more messages in flight are outside the model.
    pub max_in_flight: usize,
}

/// Where the search starts.
#[derive(Clone, Copy, Debug)]
pub enum Prefix {
    /// Right after bootstrap: every server has loaded the configuration entry.
    Bootstrap,
    /// Bootstrap, then every message delivered and every write persisted (see `Elected`): for
    /// a configuration with one voter, which leads from RAFT_START.
    Settled,
    /// Server `id`'s timer fired once and then every message was delivered and every write
    /// persisted, in a fixed order, until nothing was left: `id` leads term 2, its followers
    /// know it and it replicates in pipeline mode. Lets a short search go deep into replication
    /// and membership changes.
    Elected(u64),
}

pub struct RaftModel {
    pub initial: Roles,
    pub prefix: Prefix,
    pub pre_vote: bool,
    pub bounds: Bounds,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Deliver(Packet),
    Drop(Packet),
    Duplicate(Packet),
    /// The server's timer fires (its clock jumps to the deadline).
    Timeout(u64),
    /// The server's pending writes all become durable, in order.
    Persist(u64),
    /// Only the oldest of several pending writes becomes durable (a crash may follow).
    PersistOldest(u64),
    /// The server crashes, losing what it had not persisted, and restarts from its disk.
    Restart(u64),
    /// The leader appends a new command.
    Submit(u64),
    /// The leader appends a configuration in which `server` is demoted or promoted.
    Change {
        leader: u64,
        server: u64,
    },
}

/// The configuration that flips `server`'s seat, if it leaves at least one voter.
fn flipped(roles: &Roles, server: u64) -> Option<Roles> {
    let mut next = *roles;
    let seat = &mut next[(server - 1) as usize];
    *seat = match seat {
        Seat::Voter => Seat::Standby,
        Seat::Standby => Seat::Voter,
    };
    (voter_count(&next) > 0).then_some(next)
}

impl RaftModel {
    fn leader_actions(&self, cluster: &Cluster, id: u64, actions: &mut Vec<Action>) {
        let history = &cluster.history;
        if history.commands < self.bounds.max_commands {
            actions.push(Action::Submit(id));
        }
        if history.changes >= self.bounds.max_changes {
            return;
        }
        let Some(roles) = cluster.server(id).observed.roles else {
            return;
        };
        for server in 1..=SERVERS {
            if flipped(&roles, server).is_some() {
                actions.push(Action::Change { leader: id, server });
            }
        }
    }

    /// Submits `data` on leader `id`; None when the core refuses (e.g. a change is pending).
    fn submit(&self, mut cluster: Cluster, id: u64, data: Data) -> Option<Cluster> {
        let term = cluster.server(id).observed.term;
        let entries = vec![Entry { term, data }];
        match cluster.step(id, Input::Submit(entries)) {
            Outcome::Done => Some(cluster),
            Outcome::Refused(_) => None,
        }
    }
}

/// Persists every write and delivers every message, oldest write and smallest message first,
/// until nothing is pending.
fn settle(mut cluster: Cluster) -> Cluster {
    for _ in 0..1000 {
        if let Some(id) = (1..=SERVERS).find(|&id| !cluster.server(id).writes.is_empty()) {
            cluster.persist(id, usize::MAX);
        } else if let Some(packet) = first_packet(&cluster) {
            take_one(&mut cluster, &packet);
            let to = packet.to;
            if let Outcome::Refused(e) = cluster.step(to, Input::Receive(packet)) {
                panic!("server {to} refused a message while settling: {e}");
            }
        } else {
            return cluster;
        }
    }
    panic!("the cluster does not settle");
}

fn first_packet(cluster: &Cluster) -> Option<Packet> {
    cluster.net.keys().next().cloned()
}

fn take_one(cluster: &mut Cluster, packet: &Packet) {
    if cluster.net.get(packet) == Some(&1) {
        cluster.net.remove(packet);
    } else if cluster.net.get(packet).is_some() {
        *cluster.net.or_insert(packet.clone(), 0) -= 1;
    }
}

impl Model for RaftModel {
    type State = Cluster;
    type Action = Action;

    fn init_states(&self) -> Vec<Cluster> {
        let mut cluster = Cluster::bootstrap(&self.initial, self.pre_vote);
        match self.prefix {
            Prefix::Bootstrap => {}
            Prefix::Settled => cluster = settle(cluster),
            Prefix::Elected(id) => {
                let action = Action::Timeout(id);
                cluster = settle(self.next_state(&cluster, action).expect("a timeout applies"));
            }
        }
        vec![cluster]
    }

    fn actions(&self, cluster: &Cluster, actions: &mut Vec<Action>) {
        let room = in_flight(&cluster.net) < self.bounds.max_in_flight;
        for (packet, &copies) in cluster.net.iter() {
            actions.push(Action::Deliver(packet.clone()));
            // For the properties, a lost message is indistinguishable from one that stays in
            // flight forever; dropping one only matters to make room in a full network.
            if !room {
                actions.push(Action::Drop(packet.clone()));
            }
            if room && copies < 2 {
                actions.push(Action::Duplicate(packet.clone()));
            }
        }
        for id in 1..=SERVERS {
            let server = cluster.server(id);
            let leader = server.observed.state == StateTag::Leader;
            if leader || server.observed.term < self.bounds.max_term {
                actions.push(Action::Timeout(id));
            }
            if !server.writes.is_empty() {
                actions.push(Action::Persist(id));
            }
            if server.writes.len() > 1 {
                actions.push(Action::PersistOldest(id));
            }
            if cluster.history.crashes < self.bounds.max_crashes {
                actions.push(Action::Restart(id));
            }
            if leader {
                self.leader_actions(cluster, id, actions);
            }
        }
    }

    fn next_state(&self, last: &Cluster, action: Action) -> Option<Cluster> {
        let mut cluster = last.clone();
        match action {
            Action::Deliver(packet) => {
                take_one(&mut cluster, &packet);
                let to = packet.to;
                if let Outcome::Refused(e) = cluster.step(to, Input::Receive(packet.clone())) {
                    // Every message here was sent by an honest server: refusing one is a fault.
                    cluster.history.faults.push(format!("server {to} refused {packet:?}: {e}"));
                }
            }
            Action::Drop(packet) => take_one(&mut cluster, &packet),
            Action::Duplicate(packet) => *cluster.net.or_insert(packet, 0) += 1,
            Action::Timeout(id) => {
                if let Outcome::Refused(e) = cluster.step(id, Input::Timeout) {
                    cluster.history.faults.push(format!("server {id} refused a timeout: {e}"));
                }
            }
            Action::Persist(id) => cluster.persist(id, usize::MAX),
            Action::PersistOldest(id) => cluster.persist(id, 1),
            Action::Restart(id) => cluster.restart(id),
            Action::Submit(id) => {
                let n = cluster.history.commands + 1;
                cluster = self.submit(cluster, id, Data::Command(n))?;
                cluster.history.commands = n;
            }
            Action::Change { leader, server } => {
                let roles = cluster.server(leader).observed.roles?;
                let next = flipped(&roles, server)?;
                cluster = self.submit(cluster, leader, Data::Change(next))?;
                cluster.history.changes += 1;
            }
        }
        Some(cluster)
    }

    fn within_boundary(&self, cluster: &Cluster) -> bool {
        in_flight(&cluster.net) <= self.bounds.max_in_flight
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("election safety", |_, c| election_safety(c)),
            Property::always("log matching", |_, c| log_matching(c)),
            Property::always("leader completeness", |_, c| leader_completeness(c)),
            Property::always("state machine safety", |_, c| state_machine_safety(c)),
            Property::always("honest events are accepted", |_, c: &Cluster| {
                c.history.faults.is_empty()
            }),
            Property::sometimes("a leader is elected", |_, c: &Cluster| {
                !c.history.leaders.is_empty()
            }),
            Property::sometimes("a command is committed", |_, c| committed_command(c)),
            Property::sometimes("a single-voter configuration is committed", |_, c| {
                committed_voter_counts(c).any(|(_, n)| n == 1)
            }),
            Property::sometimes("a single voter grows back to two", |_, c| grew_back(c)),
        ]
    }
}

/// Election safety (Raft §5.2, Figure 3): at most one leader in any term, over the whole run.
pub fn election_safety(c: &Cluster) -> bool {
    let leaders: Vec<_> = c.history.leaders.keys().collect();
    leaders.windows(2).all(|w| w[0].0 != w[1].0)
}

/// Log matching (Raft §5.3): two logs holding an entry with the same index and term are
/// identical up to it. Checked over every in-memory and durable log.
pub fn log_matching(c: &Cluster) -> bool {
    let logs: Vec<&[Entry]> =
        c.servers.iter().flat_map(|s| [&s.log[..], &s.disk.log[..]]).collect();
    logs.iter().enumerate().all(|(i, a)| {
        logs[i + 1..].iter().all(|b| {
            a.iter()
                .zip(b.iter())
                .enumerate()
                .filter(|(_, (x, y))| x.term == y.term)
                .all(|(k, _)| a[..=k] == b[..=k])
        })
    })
}

/// Leader completeness (Raft §5.4.3): a leader of term T holds every entry committed in a
/// term before T. (An entry committed in T itself may be committed by T's leader only.)
pub fn leader_completeness(c: &Cluster) -> bool {
    c.servers.iter().filter(|s| s.observed.state == StateTag::Leader).all(|leader| {
        c.history
            .committed
            .iter()
            .filter(|(_, (term, _))| *term < leader.observed.term)
            .all(|(&index, (_, entry))| leader.log.get((index - 1) as usize) == Some(entry))
    })
}

/// State machine safety (Raft §5.4.3): no server applies an entry at an index where another
/// server applied (or a leader committed) a different one.
pub fn state_machine_safety(c: &Cluster) -> bool {
    c.servers.iter().all(|s| {
        s.applied.iter().enumerate().all(|(k, entry)| {
            c.history.committed.get(&(k as u64 + 1)).is_some_and(|(_, e)| e == entry)
        })
    })
}

fn committed_command(c: &Cluster) -> bool {
    c.history.committed.values().any(|(_, e)| matches!(e.data, Data::Command(_)))
}

/// (index, voters) of each committed configuration entry, in index order.
fn committed_voter_counts(c: &Cluster) -> impl Iterator<Item = (u64, usize)> + '_ {
    c.history.committed.iter().filter_map(|(&index, (_, e))| match e.data {
        Data::Change(roles) => Some((index, voter_count(&roles))),
        _ => None,
    })
}

fn grew_back(c: &Cluster) -> bool {
    let single = committed_voter_counts(c).find(|(_, n)| *n == 1).map(|(i, _)| i);
    single.is_some_and(|at| committed_voter_counts(c).any(|(i, n)| i > at && n >= 2))
}

/// A one-line description of an action for traces.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Deliver(p) | Action::Drop(p) | Action::Duplicate(p) => {
            let verb = match action {
                Action::Deliver(_) => "deliver",
                Action::Drop(_) => "drop",
                _ => "duplicate",
            };
            format!("{verb} {} -> {}: {}", p.from, p.to, body(&p.body))
        }
        Action::Timeout(id) => format!("timeout {id}"),
        Action::Persist(id) => format!("persist {id}"),
        Action::PersistOldest(id) => format!("persist the oldest write of {id}"),
        Action::Restart(id) => format!("crash and restart {id}"),
        Action::Submit(id) => format!("submit a command on {id}"),
        Action::Change { leader, server } => format!("{leader} submits a change flipping {server}"),
    }
}

fn body(b: &Body) -> String {
    match b {
        Body::RequestVote { term, last_index, last_term, .. } => {
            format!("RequestVote term {term} last {last_index}/{last_term}")
        }
        Body::VoteResult { term, granted, .. } => {
            format!("VoteResult term {term} granted {granted}")
        }
        Body::Append { term, prev_index, prev_term, commit, entries } => {
            let es: Vec<String> =
                entries.iter().map(|e| format!("{}:{:?}", e.term, e.data)).collect();
            format!(
                "AppendEntries term {term} prev {prev_index}/{prev_term} commit {commit} [{}]",
                es.join(", ")
            )
        }
        Body::AppendResult { term, rejected, last_index, .. } => {
            format!("AppendResult term {term} rejected {rejected} last {last_index}")
        }
        Body::TimeoutNow { term, .. } => format!("TimeoutNow term {term}"),
    }
}
