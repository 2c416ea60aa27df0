//! A few servers driven one event at a time by script commands, each with a host that keeps a
//! durable disk, an in-memory log with payloads and a state machine, joined by a network whose
//! messages wait in a queue until a command delivers or drops them. Every step prints what it
//! changed, so that a script's expected output is the trace of the protocol.
//!
//! Nothing happens by itself: a timer fires only on `timeout` or `tick`, a write is durable only
//! on `persist`, a message arrives only on `deliver`. That is what lets a script stop the world
//! between any two steps of the protocol.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use raft::codec::configuration as codec;
use raft::core::{
    Bootstrap, Configuration, EntrySource, EntryType, EntryView, Event, Incoming, Outgoing, Raft,
    Received, Role, SnapshotMetadata, State, Update,
};

/// Every server reports this much free disk.
const CAPACITY: u16 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    term: u64,
    kind: EntryType,
    payload: Vec<u8>,
}

/// The replicated state machine: the applied commands, in order.
type Machine = Vec<String>;

/// What survives a crash.
#[derive(Clone, Debug, Default)]
struct Disk {
    term: u64,
    vote: u64,
    snapshot: Option<(SnapshotMetadata, Machine)>,
    /// Index of `entries[0]`.
    start: u64,
    entries: Vec<Entry>,
}

struct Node {
    id: u64,
    raft: Raft,
    up: bool,
    pre_vote: bool,
    /// Heartbeat interval in ms (election timeouts stay at the default 1000: drawn in
    /// [1000, 2000]).
    heartbeat: u32,
    disk: Disk,
    /// The host's log, from `log_start`: what outgoing AppendEntries carry. Ahead of the disk
    /// until the next `persist`.
    log_start: u64,
    log: Vec<Entry>,
    /// A snapshot received from the leader, stored on the next `persist`.
    pending_snapshot: Option<(SnapshotMetadata, Machine)>,
    applied: u64,
    machine: Machine,
    /// The last configuration applied (or restored from a snapshot), with its index.
    applied_conf: (u64, Configuration),
}

/// A message in flight, owning the payloads its receiver will borrow.
#[derive(Clone, Debug)]
struct Packet {
    from: u64,
    to: u64,
    body: Body,
}

#[derive(Clone, Debug)]
enum Body {
    Plain(Outgoing),
    Append { term: u64, prev_index: u64, prev_term: u64, commit: u64, entries: Vec<Entry> },
    Install { term: u64, meta: SnapshotMetadata, machine: Machine },
}

/// Payloads the event of a step lends, which the update may point at.
enum Lent<'a> {
    Nothing,
    Entries(&'a [Entry]),
    Snapshot(&'a Machine),
}

/// What the nodes share: the trace being written, the network and the safety records.
#[derive(Default)]
struct World {
    out: Vec<String>,
    queue: Vec<Packet>,
    /// The leader of each term seen so far (Raft §5.2: at most one).
    leaders: BTreeMap<u64, u64>,
    /// The entry applied at each index by whichever server applied it first (§5.4.3: every
    /// other server applies the same one).
    applied: BTreeMap<u64, Entry>,
    violations: Vec<String>,
    /// Links that lose every message, as (from, to): what is sent over one, or was queued on
    /// it, never arrives.
    cut: BTreeSet<(u64, u64)>,
}

impl World {
    fn line(&mut self, text: String) {
        self.out.push(text);
    }

    fn violation(&mut self, what: String) {
        self.out.push(format!("  VIOLATION: {what}"));
        self.violations.push(what);
    }
}

pub struct Cluster {
    now: u64,
    nodes: BTreeMap<u64, Node>,
    world: World,
}

/// What the trace compares before and after a step.
#[derive(Clone, PartialEq, Eq)]
struct Seen {
    term: u64,
    vote: u64,
    state: State,
    leader: Option<u64>,
    commit: u64,
    /// The target of a leadership transfer under way (0: none).
    transferee: u64,
}

impl Seen {
    fn of(raft: &Raft) -> Seen {
        Seen {
            term: raft.current_term(),
            vote: raft.voted_for(),
            state: raft.state(),
            leader: raft.leader().map(|(id, _)| id),
            commit: raft.commit_index(),
            transferee: raft.transferee(),
        }
    }
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster { now: 0, nodes: BTreeMap::new(), world: World::default() }
    }

    /// The safety violations seen so far (fail the script whatever its expected output says).
    pub fn violations(&self) -> &[String] {
        &self.world.violations
    }

    /// Runs one command line and returns its trace (never empty).
    pub fn run(&mut self, line: &str) -> Vec<String> {
        let words = split_words(line);
        let (command, args) = words.split_first().expect("empty command");
        let args = Args::parse(args);
        match command.as_str() {
            "reset" => self.reset(),
            "bootstrap" => self.bootstrap(&args),
            "add-node" => self.add_node(&args),
            "timeout" => {
                for id in args.ids() {
                    self.timeout(id);
                }
            }
            "tick" => self.tick(args.number("ms")),
            "deliver" => self.deliver(&args),
            "drop" => self.drop_messages(&args),
            "persist" => self.persist(&args),
            "stabilize" => self.stabilize(),
            "isolate" => self.isolate(&args),
            "cut" => self.cut_links(&args),
            "heal" => {
                self.world.cut.clear();
                self.world.line("all links restored".into());
            }
            "submit" => self.submit(&args),
            "change" => self.change(&args),
            "catch-up" => {
                let (id, target) = (args.first_id(), args.number("server"));
                self.event(
                    id,
                    format!("{id}: catch up {target}"),
                    Event::CatchUp { server_id: target },
                );
            }
            "transfer" => {
                let (id, to) = (args.first_id(), args.number_or("to", 0));
                self.event(
                    id,
                    format!("{id}: transfer to {to}"),
                    Event::Transfer { server_id: to },
                );
            }
            "snapshot" => self.snapshot(args.first_id(), args.number_or("trailing", 0) as u32),
            "crash" => self.crash(&args),
            "restart" => {
                for id in args.ids() {
                    self.restart(id);
                }
            }
            "status" => self.status(&args),
            "log" => self.show_logs(&args),
            other => panic!("unknown command {other:?}"),
        }
        let out = std::mem::take(&mut self.world.out);
        if out.is_empty() {
            vec!["(nothing)".into()]
        } else {
            out
        }
    }

    // ---- setting up ----

    /// `reset`: forgets every server and message, to begin another scenario (the safety
    /// records of the finished one are kept: they are per script).
    fn reset(&mut self) {
        let violations = std::mem::take(&mut self.world.violations);
        *self = Cluster::new();
        self.world.violations = violations;
        self.world.line("all servers gone".into());
    }

    /// `bootstrap voters=1,2,3 [standbys=..] [spares=..] [prevote]`: every server of the
    /// configuration stores the same bootstrap state and starts.
    fn bootstrap(&mut self, args: &Args) {
        let conf = args.configuration();
        let b = Bootstrap::new(&conf, &codec::CRAFT).expect("bootstrap configuration");
        let entry = Entry { term: b.term, kind: EntryType::Change, payload: b.payload.clone() };
        for server in &conf.servers {
            let disk = Disk {
                term: b.term,
                vote: b.voted_for,
                snapshot: None,
                start: b.index,
                entries: vec![entry.clone()],
            };
            self.create(server.id, disk, args);
        }
    }

    /// `add-node 4 [prevote]`: a pristine server, which has never stored anything.
    fn add_node(&mut self, args: &Args) {
        for id in args.ids() {
            let disk = Disk { start: 1, ..Disk::default() };
            self.create(id, disk, args);
        }
    }

    /// A server with the options `prevote` and `heartbeat=MS` (default 100).
    fn create(&mut self, id: u64, disk: Disk, args: &Args) {
        let node = Node {
            id,
            raft: Raft::new(id, &address(id), &codec::CRAFT),
            up: false,
            pre_vote: args.flag("prevote"),
            heartbeat: args.number_or("heartbeat", 100) as u32,
            disk,
            log_start: 1,
            log: Vec::new(),
            pending_snapshot: None,
            applied: 0,
            machine: Vec::new(),
            applied_conf: (0, Configuration::new()),
        };
        self.nodes.insert(id, node);
        self.restart(id);
    }

    // ---- time ----

    /// `timeout N`: jumps the clock to N's next deadline (if it is ahead) and fires N's timer.
    fn timeout(&mut self, id: u64) {
        let node = self.up_node(id);
        let now = self.now.max(node.raft.timeout());
        self.now = now;
        let header = format!("{id}: timeout at {now}");
        self.event(id, header, Event::Timeout);
    }

    /// `tick ms=T`: moves the clock T ms on, firing each running server's timer at its deadline,
    /// earliest first (the lower ID first on a tie). Messages stay queued meanwhile.
    fn tick(&mut self, ms: u64) {
        let end = self.now + ms;
        let mut fired = 0;
        loop {
            let due = self
                .nodes
                .values()
                .filter(|n| n.up)
                .map(|n| (n.raft.timeout().max(self.now), n.id))
                .filter(|(t, _)| *t <= end)
                .min();
            let Some((at, id)) = due else { break };
            fired += 1;
            assert!(fired < 1000, "tick: timers keep firing");
            self.now = at;
            self.event(id, format!("{id}: timeout at {at}"), Event::Timeout);
        }
        self.now = end;
        if fired == 0 {
            self.world.line(format!("now {end}: no timer due"));
        }
    }

    // ---- the network ----

    /// `deliver [1->2 | 1->* | *->2]...`: delivers the matching messages queued before the
    /// command, in the order they were sent; what they cause waits for the next delivery.
    fn deliver(&mut self, args: &Args) {
        let patterns = args.links();
        let (now_due, later): (Vec<Packet>, Vec<Packet>) =
            std::mem::take(&mut self.world.queue).into_iter().partition(|p| matches(&patterns, p));
        self.world.queue = later;
        if now_due.is_empty() {
            self.world.line("no messages".into());
        }
        for packet in now_due {
            self.deliver_one(packet);
        }
    }

    fn deliver_one(&mut self, packet: Packet) {
        let header = format!("{}->{}: {}", packet.from, packet.to, describe_packet(&packet.body));
        if self.world.cut.contains(&(packet.from, packet.to)) {
            self.world.line(format!("{header} (lost: link cut)"));
            return;
        }
        let now = self.now;
        let Some(node) = self.nodes.get_mut(&packet.to).filter(|n| n.up) else {
            self.world.line(format!("{header} (lost: {} is down)", packet.to));
            return;
        };
        self.world.line(header);
        node.receive(now, &packet, &mut self.world);
    }

    /// `drop [patterns]`: loses the matching queued messages.
    fn drop_messages(&mut self, args: &Args) {
        let patterns = args.links();
        let (lost, kept): (Vec<Packet>, Vec<Packet>) =
            std::mem::take(&mut self.world.queue).into_iter().partition(|p| matches(&patterns, p));
        self.world.queue = kept;
        for p in &lost {
            self.world.line(format!(
                "{}->{}: {} (dropped)",
                p.from,
                p.to,
                describe_packet(&p.body)
            ));
        }
        if lost.is_empty() {
            self.world.line("no messages".into());
        }
    }

    /// `isolate 3`: cuts every link to and from 3 (messages already queued are lost when
    /// delivered).
    fn isolate(&mut self, args: &Args) {
        for id in args.ids() {
            for &other in self.nodes.keys() {
                if other != id {
                    self.world.cut.insert((id, other));
                    self.world.cut.insert((other, id));
                }
            }
            self.world.line(format!("{id} isolated"));
        }
    }

    /// `cut 1-2`: cuts the link between 1 and 2, both ways.
    fn cut_links(&mut self, args: &Args) {
        for word in &args.positional {
            let (a, b) = word.split_once('-').expect("cut A-B");
            let (a, b) = (parse_id(a), parse_id(b));
            self.world.cut.insert((a, b));
            self.world.cut.insert((b, a));
            self.world.line(format!("link {a}-{b} cut"));
        }
    }

    // ---- disks ----

    /// `persist [N...]`: completes the pending writes of the named servers (all by default).
    fn persist(&mut self, args: &Args) {
        let ids = self.chosen_or_all(args);
        let now = self.now;
        let mut any = false;
        for id in ids {
            let node = self.nodes.get_mut(&id).expect("node");
            if node.up {
                any |= node.persist(now, &mut self.world);
            }
        }
        if !any {
            self.world.line("nothing to persist".into());
        }
    }

    /// `stabilize`: persists everything and delivers every message, round after round, until
    /// nothing is pending (timers do not fire).
    fn stabilize(&mut self) {
        for _ in 0..100 {
            let now = self.now;
            let mut busy = false;
            for node in self.nodes.values_mut().filter(|n| n.up) {
                busy |= node.persist(now, &mut self.world);
            }
            let packets = std::mem::take(&mut self.world.queue);
            busy |= !packets.is_empty();
            for packet in packets {
                self.deliver_one(packet);
            }
            if !busy {
                if self.world.out.is_empty() {
                    self.world.line("nothing pending".into());
                }
                return;
            }
        }
        self.world.line("did not stabilize in 100 rounds".into());
    }

    // ---- requests to a server ----

    /// `submit 1 "x" "y"`: commands of the server's current term.
    fn submit(&mut self, args: &Args) {
        let id = args.first_id();
        let term = self.up_node(id).raft.current_term();
        let entries: Vec<Entry> = args
            .quoted
            .iter()
            .map(|s| Entry { term, kind: EntryType::Command, payload: s.clone().into_bytes() })
            .collect();
        let shown: Vec<String> = args.quoted.iter().map(|s| format!("{s:?}")).collect();
        self.submit_entries(id, format!("{id}: submit {}", shown.join(" ")), entries);
    }

    /// `change 1 voters=.. [standbys=..] [spares=..]`: submits the configuration as a `Change`.
    fn change(&mut self, args: &Args) {
        let id = args.first_id();
        let conf = args.configuration();
        let term = self.up_node(id).raft.current_term();
        let entry = Entry { term, kind: EntryType::Change, payload: codec::encode(&conf) };
        self.submit_entries(id, format!("{id}: change to {}", describe_conf(&conf)), vec![entry]);
    }

    fn submit_entries(&mut self, id: u64, header: String, entries: Vec<Entry>) {
        let now = self.now;
        self.world.line(header);
        let node = self.nodes.get_mut(&id).expect("node");
        let views: Vec<EntryView> = entries.iter().map(view).collect();
        node.step(now, Event::Submit { entries: &views }, Lent::Entries(&entries), &mut self.world);
    }

    /// A payload-free event stepped on server `id`.
    fn event(&mut self, id: u64, header: String, event: Event<'_>) {
        let now = self.now;
        self.world.line(header);
        let node = self.nodes.get_mut(&id).expect("node");
        assert!(node.up, "server {id} is down");
        node.step(now, event, Lent::Nothing, &mut self.world);
    }

    /// `snapshot 1 [trailing=K]`: the host snapshots its state machine at the applied index.
    fn snapshot(&mut self, id: u64, trailing: u32) {
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node");
        node.take_snapshot(now, trailing, &mut self.world);
    }

    /// `crash 3`: the server stops; what it had not persisted is gone.
    fn crash(&mut self, args: &Args) {
        for id in args.ids() {
            let node = self.nodes.get_mut(&id).expect("node");
            node.up = false;
            self.world.line(format!("{id} crashed"));
        }
    }

    /// Starts server `id` from its disk.
    fn restart(&mut self, id: u64) {
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node");
        node.start(now, &mut self.world);
    }

    fn status(&mut self, args: &Args) {
        for id in self.chosen_or_all(args) {
            let line = self.nodes[&id].status();
            self.world.line(line);
        }
    }

    fn show_logs(&mut self, args: &Args) {
        for id in self.chosen_or_all(args) {
            let node = &self.nodes[&id];
            let mut lines = vec![format!(
                "{id} log (snapshot {}):",
                node.disk
                    .snapshot
                    .as_ref()
                    .map_or("none".into(), |(m, _)| format!("{}/{}", m.index, m.term))
            )];
            for (i, e) in node.log.iter().enumerate() {
                lines.push(format!("  {} {}", node.log_start + i as u64, describe_entry(e)));
            }
            self.world.out.extend(lines);
        }
    }

    fn chosen_or_all(&self, args: &Args) -> Vec<u64> {
        let ids = args.ids();
        if ids.is_empty() {
            self.nodes.keys().copied().collect()
        } else {
            ids
        }
    }

    fn up_node(&self, id: u64) -> &Node {
        let node = self.nodes.get(&id).unwrap_or_else(|| panic!("no server {id}"));
        assert!(node.up, "server {id} is down");
        node
    }
}

impl Node {
    /// Loads the durable state into a new instance and steps RAFT_START.
    fn start(&mut self, now: u64, w: &mut World) {
        if let Some((meta, _)) = &self.disk.snapshot {
            if self.disk.start + self.disk.entries.len() as u64 <= meta.index {
                self.disk.entries.clear();
                self.disk.start = meta.index + 1;
            }
        }
        self.raft = Raft::new(self.id, &address(self.id), &codec::CRAFT);
        self.raft.seed(self.id as u32 * 7919);
        self.raft.set_pre_vote(self.pre_vote);
        self.raft.set_heartbeat_timeout(self.heartbeat);
        self.up = true;
        self.log_start = self.disk.start;
        self.log = self.disk.entries.clone();
        self.pending_snapshot = None;
        self.applied = 0;
        self.machine = Vec::new();
        self.applied_conf = (0, Configuration::new());
        let snapshot = self.disk.snapshot.clone();
        if let Some((meta, machine)) = &snapshot {
            self.applied = meta.index;
            self.machine = machine.clone();
            self.applied_conf = (meta.configuration_index, meta.configuration.clone());
        }
        w.line(format!(
            "{}: start term={} vote={} snapshot={} entries={}",
            self.id,
            self.disk.term,
            self.disk.vote,
            snapshot.as_ref().map_or(0, |(m, _)| m.index),
            match self.disk.entries.len() as u64 {
                0 => "none".to_string(),
                n => format!("{}..{}", self.disk.start, self.disk.start + n - 1),
            }
        ));
        if self.applied > 0 {
            w.line(format!("  restore snapshot {}", self.applied));
        }
        let entries = self.disk.entries.clone();
        let views: Vec<EntryView> = entries.iter().map(view).collect();
        let event = Event::Start {
            term: self.disk.term,
            voted_for: self.disk.vote,
            snapshot: snapshot.map(|(m, _)| m),
            start_index: self.disk.start,
            entries: &views,
        };
        // Changes are reported against the state just loaded.
        let before = Seen {
            term: self.disk.term,
            vote: self.disk.vote,
            state: State::Follower,
            leader: None,
            commit: 0,
            transferee: 0,
        };
        self.step_from(now, event, Lent::Nothing, before, w);
    }

    fn step(&mut self, now: u64, event: Event<'_>, lent: Lent<'_>, w: &mut World) {
        let before = Seen::of(&self.raft);
        self.step_from(now, event, lent, before, w);
    }

    fn step_from(
        &mut self,
        now: u64,
        event: Event<'_>,
        lent: Lent<'_>,
        before: Seen,
        w: &mut World,
    ) {
        match self.raft.step(now, CAPACITY, event, None) {
            Ok(update) => {
                let update = copy(update);
                self.apply_update(now, update, lent, before, w);
            }
            Err(e) => w.line(format!("  error {e:?}")),
        }
    }

    fn receive(&mut self, now: u64, packet: &Packet, w: &mut World) {
        let from_address = address(packet.from);
        match &packet.body {
            Body::Plain(o) => {
                let body = match *o {
                    Outgoing::RequestVote(m) => Incoming::RequestVote(m),
                    Outgoing::RequestVoteResult(m) => Incoming::RequestVoteResult(m),
                    Outgoing::AppendEntriesResult(m) => Incoming::AppendEntriesResult(m),
                    Outgoing::TimeoutNow(m) => Incoming::TimeoutNow(m),
                    Outgoing::ReadIndex(m) => Incoming::ReadIndex(m),
                    Outgoing::ReadIndexResult(m) => Incoming::ReadIndexResult(m),
                    _ => unreachable!("entries and snapshots travel as Append and Install"),
                };
                let received = Received {
                    from: packet.from,
                    from_address: &from_address,
                    body,
                    read_context: 0,
                };
                self.step(now, Event::Receive(received), Lent::Nothing, w);
            }
            Body::Append { term, prev_index, prev_term, commit, entries } => {
                let views: Vec<EntryView> = entries.iter().map(view).collect();
                let body = Incoming::AppendEntries {
                    term: *term,
                    prev_log_index: *prev_index,
                    prev_log_term: *prev_term,
                    leader_commit: *commit,
                    entries: &views,
                };
                let received = Received {
                    from: packet.from,
                    from_address: &from_address,
                    body,
                    read_context: 0,
                };
                self.step(now, Event::Receive(received), Lent::Entries(entries), w);
            }
            Body::Install { term, meta, machine } => {
                let body = Incoming::InstallSnapshot {
                    term: *term,
                    last_index: meta.index,
                    last_term: meta.term,
                    conf: meta.configuration.clone(),
                    conf_index: meta.configuration_index,
                };
                let received = Received {
                    from: packet.from,
                    from_address: &from_address,
                    body,
                    read_context: 0,
                };
                self.step(now, Event::Receive(received), Lent::Snapshot(machine), w);
            }
        }
    }

    /// Carries out an update in the contract's order: term and vote, snapshot, entries,
    /// messages, then what the commit index lets the state machine apply.
    fn apply_update(&mut self, now: u64, u: Update, lent: Lent<'_>, before: Seen, w: &mut World) {
        let after = Seen::of(&self.raft);
        self.report_state(&u, &before, &after, w);
        if u.term_changed || u.vote_changed {
            self.disk.term = after.term;
            self.disk.vote = after.vote;
        }
        if let Some(meta) = u.snapshot {
            let Lent::Snapshot(machine) = lent else {
                return w.violation("a snapshot to store without one received".into());
            };
            w.line(format!(
                "  store snapshot {}/{} {} (pending)",
                meta.index,
                meta.term,
                describe_conf(&meta.configuration)
            ));
            self.log_start = meta.index + 1;
            self.log.clear();
            self.pending_snapshot = Some((meta, machine.clone()));
        }
        if let Some(new) = u.entries {
            let entries: Vec<Entry> = match (new.source, &lent) {
                (EntrySource::Event { skip }, Lent::Entries(es)) => es[skip..].to_vec(),
                (EntrySource::Barrier { term }, _) => {
                    vec![Entry { term, kind: EntryType::Barrier, payload: vec![0; 8] }]
                }
                (source, _) => {
                    return w.violation(format!("entries from {source:?} the event did not lend"))
                }
            };
            self.store(new.index, entries, w);
        }
        for m in u.messages {
            if *m.address != address(m.to) {
                w.violation(format!("message to {} addressed to {:?}", m.to, m.address));
            }
            if let Some(body) = self.attach(m.body, w) {
                let shown = format!("  send {}->{}: {}", self.id, m.to, describe_packet(&body));
                if w.cut.contains(&(self.id, m.to)) {
                    w.line(format!("{shown} (lost: link cut)"));
                } else {
                    w.line(shown);
                    w.queue.push(Packet { from: self.id, to: m.to, body });
                }
            }
        }
        if after.commit != before.commit {
            self.apply_committed(now, w);
        }
    }

    /// Prints what the step changed of the server's state, and checks that the update's flags
    /// say so (the host persists and reacts only to what the flags announce).
    fn report_state(&self, u: &Update, before: &Seen, after: &Seen, w: &mut World) {
        if after.term != before.term {
            w.line(format!("  term {}", after.term));
            if !u.term_changed {
                w.violation("term changed without term_changed".into());
            }
        }
        if after.vote != before.vote {
            w.line(format!("  vote {}", after.vote));
            if !u.vote_changed {
                w.violation("vote changed without vote_changed".into());
            }
        }
        if after.state != before.state {
            w.line(format!("  state {}", describe_state(after.state)));
            if !u.state_changed {
                w.violation("state changed without state_changed".into());
            }
        }
        if after.leader != before.leader && after.state != State::Leader {
            w.line(format!("  leader {}", after.leader.map_or("none".into(), |l| l.to_string())));
        }
        if after.transferee != before.transferee {
            match after.transferee {
                0 => w.line(format!("  transfer to {} over", before.transferee)),
                to => w.line(format!("  transfer to {to} under way")),
            }
        }
        if after.commit != before.commit {
            w.line(format!("  commit {}", after.commit));
            if !u.commit_index_changed {
                w.violation("commit index changed without commit_index_changed".into());
            }
        }
        if after.commit < before.commit {
            w.violation(format!("commit index went back from {}", before.commit));
        }
        if after.state == State::Leader {
            match w.leaders.get(&after.term) {
                Some(&other) if other != self.id => {
                    w.violation(format!("{} and {other} both lead term {}", self.id, after.term))
                }
                _ => {
                    w.leaders.insert(after.term, self.id);
                }
            }
        }
    }

    /// Stores `entries` at `index`, replacing whatever the log held from there.
    fn store(&mut self, index: u64, entries: Vec<Entry>, w: &mut World) {
        let last = self.log_start + self.log.len() as u64 - 1;
        if index < self.log_start || index > last + 1 {
            return w.violation(format!("entries at {index} leave a gap after {last}"));
        }
        let replaced =
            if index <= last { format!(" (replacing {index}..{last})") } else { String::new() };
        self.log.truncate((index - self.log_start) as usize);
        let shown: Vec<String> = entries.iter().map(describe_entry).collect();
        let end = index + entries.len() as u64 - 1;
        w.line(format!("  append {index}..{end}{replaced}: {}", shown.join(", ")));
        self.log.extend(entries);
    }

    /// Attaches the payloads an outgoing message names from the host's own storage.
    fn attach(&self, body: Outgoing, w: &mut World) -> Option<Body> {
        match body {
            Outgoing::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                leader_commit,
                n_entries,
            } => {
                let mut entries = Vec::new();
                for index in prev_log_index + 1..=prev_log_index + u64::from(n_entries) {
                    match self.entry(index) {
                        Some(e) => entries.push(e.clone()),
                        None => {
                            w.violation(format!(
                                "{} asked to send entry {index} it lacks",
                                self.id
                            ));
                            return None;
                        }
                    }
                }
                Some(Body::Append {
                    term,
                    prev_index: prev_log_index,
                    prev_term: prev_log_term,
                    commit: leader_commit,
                    entries,
                })
            }
            Outgoing::InstallSnapshot { term, last_index, last_term, conf_index } => {
                let Some((meta, machine)) = self.disk.snapshot.clone() else {
                    w.violation(format!("{} asked to send a snapshot it lacks", self.id));
                    return None;
                };
                if (meta.index, meta.term, meta.configuration_index)
                    != (last_index, last_term, conf_index)
                {
                    w.violation(
                        "InstallSnapshot names another snapshot than the stored one".into(),
                    );
                }
                Some(Body::Install { term, meta, machine })
            }
            other => Some(Body::Plain(other)),
        }
    }

    fn entry(&self, index: u64) -> Option<&Entry> {
        index.checked_sub(self.log_start).and_then(|i| self.log.get(i as usize))
    }

    /// Applies the newly committed entries, restoring a snapshot first if it is ahead; reports
    /// each committed configuration back to the core (RAFT_CONFIGURATION).
    fn apply_committed(&mut self, now: u64, w: &mut World) {
        let commit = self.raft.commit_index();
        if let Some((meta, machine)) = &self.disk.snapshot {
            if meta.index > self.applied && meta.index <= commit {
                w.line(format!("  restore snapshot {}/{}", meta.index, meta.term));
                self.applied = meta.index;
                self.machine = machine.clone();
                self.applied_conf = (meta.configuration_index, meta.configuration.clone());
            }
        }
        while self.applied < commit {
            let index = self.applied + 1;
            let Some(entry) = self.entry(index).cloned() else {
                return w.violation(format!("committed entry {index} is not in the log"));
            };
            match w.applied.get(&index) {
                Some(first) if *first != entry => w.violation(format!(
                    "{} applies {} at {index} where {} was applied",
                    self.id,
                    describe_entry(&entry),
                    describe_entry(first)
                )),
                Some(_) => {}
                None => {
                    w.applied.insert(index, entry.clone());
                }
            }
            self.applied = index;
            w.line(format!("  apply {index} {}", describe_entry(&entry)));
            match entry.kind {
                EntryType::Command => {
                    self.machine.push(String::from_utf8_lossy(&entry.payload).into())
                }
                EntryType::Barrier => {}
                EntryType::Change => {
                    let conf = codec::decode(&entry.payload).expect("committed configuration");
                    self.applied_conf = (index, conf);
                    self.step(now, Event::Configuration { index }, Lent::Nothing, w);
                }
            }
        }
    }

    /// Completes the pending writes: a received snapshot, then the log. Returns whether there
    /// was anything to write.
    fn persist(&mut self, now: u64, w: &mut World) -> bool {
        let mut wrote = false;
        if let Some((meta, machine)) = self.pending_snapshot.take() {
            w.line(format!("{}: persisted snapshot {}/{}", self.id, meta.index, meta.term));
            self.disk.snapshot = Some((meta.clone(), machine));
            self.disk.start = meta.index + 1;
            self.disk.entries.clear();
            let event = Event::PersistedSnapshot { metadata: meta };
            self.step(now, event, Lent::Nothing, w);
            wrote = true;
        }
        let last = self.log_start + self.log.len() as u64 - 1;
        let durable_differs = self.disk.start != self.log_start || self.disk.entries != self.log;
        if durable_differs {
            self.disk.start = self.log_start;
            self.disk.entries = self.log.clone();
            if last > self.raft.persisted_index() {
                w.line(format!("{}: persisted entries up to {last}", self.id));
                self.step(now, Event::PersistedEntries { index: last }, Lent::Nothing, w);
            }
            wrote = true;
        }
        wrote
    }

    fn take_snapshot(&mut self, now: u64, trailing: u32, w: &mut World) {
        let index = self.applied;
        w.line(format!("{}: snapshot at {index}, keep {trailing}", self.id));
        let Some(term) = self.raft.term_of(index) else {
            return w.line(format!("  no term known for {index}"));
        };
        let (conf_index, conf) = self.applied_conf.clone();
        let metadata =
            SnapshotMetadata { index, term, configuration: conf, configuration_index: conf_index };
        let event = Event::Snapshot { metadata: metadata.clone(), trailing };
        let before = Seen::of(&self.raft);
        match self.raft.step(now, CAPACITY, event, None) {
            Err(e) => return w.line(format!("  error {e:?}")),
            Ok(update) => {
                let update = copy(update);
                self.apply_update(now, update, Lent::Nothing, before, w);
            }
        }
        self.disk.snapshot = Some((metadata, self.machine.clone()));
        let forget = index.saturating_sub(u64::from(trailing));
        if self.entry(forget).is_some() {
            self.log.drain(..=(forget - self.log_start) as usize);
            self.log_start = forget + 1;
        }
        let disk_last = self.disk.start + self.disk.entries.len() as u64 - 1;
        if forget >= self.disk.start && forget <= disk_last {
            self.disk.entries.drain(..=(forget - self.disk.start) as usize);
            self.disk.start = forget + 1;
        }
        w.line(format!("  log now starts at {}", self.log_start));
    }

    fn status(&self) -> String {
        if !self.up {
            return format!("{} down", self.id);
        }
        let r = &self.raft;
        let mut s = format!(
            "{} {} term={} vote={} last={} durable={} commit={} applied={} snapshot={}",
            self.id,
            describe_state(r.state()),
            r.current_term(),
            r.voted_for(),
            r.last_index(),
            r.persisted_index(),
            r.commit_index(),
            self.applied,
            r.snapshot_index(),
        );
        if r.state() == State::Follower {
            let _ = write!(s, " leader={}", r.leader().map_or(0, |(id, _)| id));
        }
        let _ = write!(s, " timeout={}", r.timeout());
        let _ =
            write!(s, " conf=[{}] machine={:?}", describe_conf(r.configuration()), self.machine);
        s
    }
}

/// The words of a command line; a double-quoted word keeps its spaces.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let word: String = chars.by_ref().take_while(|&c| c != '"').collect();
            words.push(format!("\"{word}"));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    words
}

/// A command's arguments: `key=value`, quoted strings, and the rest in order.
struct Args {
    positional: Vec<String>,
    keys: BTreeMap<String, String>,
    quoted: Vec<String>,
}

impl Args {
    fn parse(words: &[String]) -> Args {
        let mut args = Args { positional: Vec::new(), keys: BTreeMap::new(), quoted: Vec::new() };
        for w in words {
            if let Some(text) = w.strip_prefix('"') {
                args.quoted.push(text.to_string());
            } else if let Some((k, v)) = w.split_once('=') {
                args.keys.insert(k.to_string(), v.to_string());
            } else {
                args.positional.push(w.clone());
            }
        }
        args
    }

    fn flag(&self, name: &str) -> bool {
        self.positional.iter().any(|w| w == name)
    }

    /// The positional server IDs (words that are numbers).
    fn ids(&self) -> Vec<u64> {
        self.positional.iter().filter_map(|w| w.parse().ok()).collect()
    }

    fn first_id(&self) -> u64 {
        *self.ids().first().expect("a server ID")
    }

    fn number(&self, key: &str) -> u64 {
        let v = self.keys.get(key).unwrap_or_else(|| panic!("missing {key}="));
        v.parse().unwrap_or_else(|_| panic!("{key}={v} is not a number"))
    }

    fn number_or(&self, key: &str, default: u64) -> u64 {
        if self.keys.contains_key(key) {
            self.number(key)
        } else {
            default
        }
    }

    fn list(&self, key: &str) -> Vec<u64> {
        match self.keys.get(key) {
            Some(v) if !v.is_empty() => v.split(',').map(parse_id).collect(),
            _ => Vec::new(),
        }
    }

    /// `voters=.. standbys=.. spares=..`, in ID order, addresses `node-N`.
    fn configuration(&self) -> Configuration {
        let mut servers: Vec<(u64, Role)> = Vec::new();
        for (key, role) in
            [("voters", Role::Voter), ("standbys", Role::Standby), ("spares", Role::Spare)]
        {
            servers.extend(self.list(key).into_iter().map(|id| (id, role)));
        }
        servers.sort_by_key(|(id, _)| *id);
        let mut conf = Configuration::new();
        for (id, role) in servers {
            conf.add(id, &address(id), role).expect("valid configuration");
        }
        conf
    }

    /// Link patterns `A->B`, with `*` for any side; none means every link.
    fn links(&self) -> Vec<(Option<u64>, Option<u64>)> {
        self.positional
            .iter()
            .map(|w| {
                let (a, b) = w.split_once("->").unwrap_or_else(|| panic!("{w}: expected A->B"));
                let side = |s: &str| if s == "*" { None } else { Some(parse_id(s)) };
                (side(a), side(b))
            })
            .collect()
    }
}

fn matches(patterns: &[(Option<u64>, Option<u64>)], p: &Packet) -> bool {
    patterns.is_empty()
        || patterns
            .iter()
            .any(|(a, b)| a.map_or(true, |a| a == p.from) && b.map_or(true, |b| b == p.to))
}

fn parse_id(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| panic!("{s:?} is not a server ID"))
}

fn address(id: u64) -> String {
    format!("node-{id}")
}

fn view(e: &Entry) -> EntryView<'_> {
    EntryView { term: e.term, kind: e.kind, payload: &e.payload }
}

fn copy(u: &Update) -> Update {
    Update {
        term_changed: u.term_changed,
        vote_changed: u.vote_changed,
        snapshot: u.snapshot.clone(),
        snapshot_chunk: u.snapshot_chunk,
        entries: u.entries,
        messages: u.messages.clone(),
        state_changed: u.state_changed,
        commit_index_changed: u.commit_index_changed,
        timeout_changed: u.timeout_changed,
        reads: u.reads.clone(),
    }
}

fn describe_state(s: State) -> &'static str {
    match s {
        State::Follower => "follower",
        State::Candidate => "candidate",
        State::Leader => "leader",
    }
}

fn describe_conf(c: &Configuration) -> String {
    let group = |role: Role| -> String {
        c.servers
            .iter()
            .filter(|s| s.role == role)
            .map(|s| s.id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut parts = vec![format!("voters={}", group(Role::Voter))];
    for (name, role) in [("standbys", Role::Standby), ("spares", Role::Spare)] {
        let ids = group(role);
        if !ids.is_empty() {
            parts.push(format!("{name}={ids}"));
        }
    }
    parts.join(" ")
}

fn describe_entry(e: &Entry) -> String {
    match e.kind {
        EntryType::Command => format!("t{} {:?}", e.term, String::from_utf8_lossy(&e.payload)),
        EntryType::Barrier => format!("t{} barrier", e.term),
        EntryType::Change => match codec::decode(&e.payload) {
            Ok(c) => format!("t{} conf({})", e.term, describe_conf(&c)),
            Err(_) => format!("t{} conf(undecodable)", e.term),
        },
    }
}

fn describe_packet(body: &Body) -> String {
    match body {
        Body::Plain(Outgoing::RequestVote(rv)) => {
            let kind = if rv.pre_vote { "PreVote" } else { "RequestVote" };
            let disrupt = if rv.disrupt_leader { " disrupt" } else { "" };
            format!(
                "{kind} term={} last={}/{}{disrupt}",
                rv.term, rv.last_log_index, rv.last_log_term
            )
        }
        Body::Plain(Outgoing::RequestVoteResult(r)) => {
            let kind = if r.pre_vote { "PreVoteResult" } else { "VoteResult" };
            let verdict = if r.vote_granted { "granted" } else { "denied" };
            format!("{kind} term={} {verdict}", r.term)
        }
        Body::Plain(Outgoing::AppendEntriesResult(r)) => {
            if r.rejected == 0 {
                format!("AppendResult term={} ok last={}", r.term, r.last_log_index)
            } else {
                format!(
                    "AppendResult term={} rejected={} last={}",
                    r.term, r.rejected, r.last_log_index
                )
            }
        }
        Body::Plain(Outgoing::TimeoutNow(t)) => {
            format!("TimeoutNow term={} last={}/{}", t.term, t.last_log_index, t.last_log_term)
        }
        Body::Plain(other) => format!("{other:?}"),
        Body::Append { term, prev_index, prev_term, commit, entries } => {
            let shown: Vec<String> = entries.iter().map(describe_entry).collect();
            format!(
                "Append term={term} prev={prev_index}/{prev_term} commit={commit} entries=[{}]",
                shown.join(", ")
            )
        }
        Body::Install { term, meta, .. } => format!(
            "InstallSnapshot term={term} last={}/{} {}",
            meta.index,
            meta.term,
            describe_conf(&meta.configuration)
        ),
    }
}
