#!/usr/bin/env python3
"""A 3-node Raft cluster in one Python process, driven through the ctypes binding.

    RAFT_LIBRARY=target/debug/libraft.so python3 examples/python_cluster.py [--seed N]
        [--nodes N] [--commands N] [--disk-delay MS] [--snapshot-threshold N] [--trace]

Everything a real host does is here, in memory and on a simulated clock: each ``Node`` keeps
a "disk" (term, vote, log, snapshot) that survives crashes and volatile state that does not
(the library instance, the in-memory log, pending writes, the key-value store); a ``Cluster``
delivers messages with random latency, completes disk writes after a delay (0: at once, but
still as a separate event, as docs/contract.md#raft_persisted_entries requires) and fires timeouts. The script
bootstraps the cluster, writes a few keys, crashes the leader, waits for a new election, writes
more, restarts the old leader from its persisted state and checks that every node converges.

The pytest suite (python/tests/test_cluster.py) imports ``Cluster`` from this file. Runs are
deterministic for a given seed.
"""

import argparse
import heapq
import json
import os
import random
import signal
import sys
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import raft  # noqa: E402
from raft import (  # noqa: E402
    CHANGE,
    COMMAND,
    LEADER,
    Configuration,
    ConfigurationCommitted,
    Entry,
    PersistedEntries,
    PersistedSnapshot,
    Raft,
    Receive,
    Server,
    Snapshot,
    SnapshotMetadata,
    Start,
    Submit,
    Timeout,
    messages,
)


def encode_command(key: str, value: str) -> bytes:
    """A KV command: the JSON array [key, value], of any length. raft_step accepts payloads of
    any length; only C-Raft's wire and disk formats need multiples of 8, and this in-memory host
    uses neither (a host that does pads its commands in their encoding)."""
    return json.dumps([key, value]).encode()


def decode_command(data: bytes) -> Tuple[str, str]:
    key, value = json.loads(data)
    return key, value


class Log:
    """Entries at consecutive indexes from ``start``."""

    def __init__(self, start: int = 1, entries: Optional[List[Entry]] = None):
        self.start = start
        self.entries: List[Entry] = list(entries or [])

    @property
    def last(self) -> int:
        return self.start + len(self.entries) - 1

    def get(self, index: int) -> Optional[Entry]:
        if self.start <= index <= self.last:
            return self.entries[index - self.start]
        return None

    def slice(self, first: int, n: int) -> List[Entry]:
        assert first >= self.start and first + n - 1 <= self.last, (first, n, self.start, self.last)
        return self.entries[first - self.start : first - self.start + n]

    def truncate(self, index: int) -> None:
        """Drops ``index`` and everything after it."""
        del self.entries[max(index - self.start, 0) :]

    def write(self, first: int, entries: List[Entry]) -> None:
        """Stores entries from ``first``, replacing what was there; a log that cannot be
        extended contiguously restarts at ``first``."""
        if self.start <= first <= self.last + 1:
            self.truncate(first)
        else:
            self.start, self.entries = first, []
        self.entries.extend(entries)

    def clear(self, next_index: int) -> None:
        self.start, self.entries = next_index, []

    def drop_prefix(self, upto: int) -> None:
        """Forgets entries at or below ``upto``."""
        if upto >= self.start:
            del self.entries[: upto - self.start + 1]
            self.start = upto + 1

    def copy(self) -> "Log":
        return Log(self.start, self.entries)


@dataclass
class Write:
    """A disk write in flight: entries from ``first`` (reported up to ``report_end``), or a
    snapshot."""

    due: int
    first: int = 0
    entries: Tuple[Entry, ...] = ()
    report_end: int = 0
    dropped: bool = False  # issued before a snapshot install: complete it, never report it
    snapshot: Optional[Tuple[SnapshotMetadata, bytes]] = None
    chunk: Optional[object] = None  # a chunk of a streamed snapshot (raft.SnapshotUpdate)


class Node:
    """One server: durable state, volatile state and the update handling of docs/contract.md#update-order."""

    def __init__(self, cluster: "Cluster", id: int, address: str):
        self.cluster = cluster
        self.id = id
        self.address = address
        # Durable ("disk"): survives crash().
        self.term = 0
        self.vote = 0
        self.disk_log = Log()
        self.disk_snapshot: Optional[Tuple[SnapshotMetadata, bytes]] = None
        # Volatile.
        self.raft: Optional[Raft] = None
        self.incarnation = 0  # bumped on crash, so that stale scheduled work is ignored
        self.snapshots_installed = 0
        self.streamed_installs = 0
        self.chunks_stored = 0
        self._reset_volatile()

    def _reset_volatile(self) -> None:
        self.log = Log()
        self.snapshot: Optional[Tuple[SnapshotMetadata, bytes]] = None
        self.writes: deque = deque()
        self.installing = False
        self.kv: Dict[str, str] = {}
        self.last_applied = 0
        self.conf: Optional[Configuration] = None  # as of last_applied
        self.conf_index = 0
        self.queued: List = []  # events and actions to run once the current update is done
        self.reads: Dict[int, raft.ReadResult] = {}  # outcomes of linearizable reads, by ID
        self.staging = b""  # a streamed snapshot being received

    @property
    def alive(self) -> bool:
        return self.raft is not None

    # --- Lifecycle ----------------------------------------------------------------------

    def bootstrap(self, conf: Configuration) -> None:
        """A new cluster (docs/contract.md#host-loop): term 1, no vote, a RAFT_CHANGE entry at index 1."""
        self.term, self.vote = 1, 0
        self.disk_log = Log(1, [Entry(1, CHANGE, conf.encode())])

    def start(self) -> None:
        c = self.cluster
        self._reset_volatile()
        self.raft = Raft(self.id, self.address, seed=c.rng.randrange(2**32))
        self.raft.set_election_timeout(c.election_timeout)
        self.raft.set_heartbeat_timeout(c.heartbeat_timeout)
        self.raft.set_pre_vote(c.pre_vote)
        self.raft.set_install_snapshot_timeout(c.install_snapshot_timeout)
        self.raft.set_snapshot_chunks(c.snapshot_chunk, 4)
        if c.tracer is not None:
            self.raft.tracer = lambda d, i=self.id: c.tracer(i, d)
        else:
            self.raft.tracer = None  # silence the built-in stderr tracer
        log = self.disk_log.copy()
        meta = None
        if self.disk_snapshot is not None:
            meta, data = self.disk_snapshot
            # Entries must reach the snapshot and start no later than right after it.
            if log.last < meta.index or log.start > meta.index + 1:
                log.clear(meta.index + 1)
            self.snapshot = self.disk_snapshot
            self._restore(meta, data)
        self.log = log
        self.step(Start(self.term, self.vote, meta, list(log.entries), log.start))
        if meta is not None and c.snapshot_chunk:
            self.raft.set_snapshot_length(meta.index, len(self.snapshot[1]))

    def crash(self) -> None:
        """Loses everything but the disk; writes in flight never happen."""
        if self.raft is not None:
            self.raft.close()
            self.raft = None
            self.incarnation += 1
            self._reset_volatile()

    # --- Steps and updates --------------------------------------------------------------

    def step(self, event) -> None:
        self._step_one(event)
        # Events queued while handling the update (RAFT_CONFIGURATION, snapshots) run after it.
        while self.queued and self.alive:
            item = self.queued.pop(0)
            if callable(item):
                item()
            else:
                self._step_one(item)

    def _step_one(self, event) -> None:
        update = self.raft.step(event, self.cluster.now)
        self._handle(update)

    def _handle(self, u: raft.Update) -> None:
        c = self.cluster
        if u.term_changed or u.vote_changed:
            # Synchronous and first: nothing may be sent before term and vote are durable.
            self.term, self.vote = self.raft.current_term, self.raft.voted_for
        if u.snapshot is not None and c.snapshot_chunk and not u.snapshot.last:
            # A chunk of a streamed snapshot (docs/snapshots.md), gathered in order; the last
            # one installs the whole as below.
            if u.snapshot.offset == 0:
                self.staging = b""
            assert u.snapshot.offset == len(self.staging), "chunks in order"
            self.staging += u.snapshot.chunk
            self.chunks_stored += 1
            self._schedule_write(Write(0, chunk=u.snapshot))
        elif u.snapshot is not None:
            meta = u.snapshot.metadata
            if c.snapshot_chunk and u.snapshot.offset > 0:
                data = self.staging + u.snapshot.chunk
                u = replace(u, snapshot=replace(u.snapshot, chunk=data))
                self.streamed_installs += 1
            self.log.clear(meta.index + 1)
            for w in self.writes:
                w.dropped = True
            self.installing = True
            self.snapshot = (meta, u.snapshot.chunk)
            self._schedule_write(Write(0, snapshot=(meta, u.snapshot.chunk)))
        if u.entries:
            first = u.entries_index
            if first <= self.log.last:
                # A suffix is replaced: writes still in flight must not report it.
                self.log.truncate(first)
                for w in self.writes:
                    if w.snapshot is None:
                        w.report_end = min(w.report_end, first - 1)
            self.log.entries.extend(u.entries)
            end = first + len(u.entries) - 1
            self._schedule_write(Write(0, first, tuple(u.entries), end))
        for m in u.messages:
            self._send(m)
        if u.state_changed:
            state = raft.state_name(self.raft.state)
            c.note(f"node {self.id} is now {state} (term {self.raft.current_term})")
            if self.raft.state == LEADER:
                c.elections.append((c.now, self.id, self.raft.current_term))
        if u.commit_index_changed:
            self._apply()
        for r in u.reads:
            self.reads[r.id] = r

    def _send(self, m: messages.Message) -> None:
        if isinstance(m, messages.AppendEntries) and m.n_entries:
            m = replace(m, entries=self.log.slice(m.prev_log_index + 1, m.n_entries))
        elif isinstance(m, messages.InstallSnapshot):
            meta, data = self.snapshot
            m = replace(m, conf=meta.configuration, data=data)
        elif isinstance(m, messages.InstallSnapshotChunk):
            meta, data = self.snapshot
            assert meta.index == m.last_index, "the library streams our latest snapshot"
            offset = m.chunk * self.cluster.snapshot_chunk
            part = data[offset:offset + m.length]
            assert m.last == (offset + m.length == len(data))
            m = replace(m, conf=meta.configuration if m.last else None, data=part)
        self.cluster.send(self.id, m)

    # --- Disk ---------------------------------------------------------------------------

    def _schedule_write(self, w: Write) -> None:
        c = self.cluster
        lo, hi = c.disk_delay
        after = self.writes[-1].due if self.writes else 0
        w.due = max(c.now + c.rng.randint(lo, hi), after)  # writes complete in issue order
        self.writes.append(w)
        incarnation = self.incarnation
        c.schedule(w.due, lambda: self._complete_write(incarnation))

    def _complete_write(self, incarnation: int) -> None:
        if incarnation != self.incarnation or not self.writes:
            return  # the node crashed meanwhile: the write never happened
        w = self.writes.popleft()
        if w.chunk is not None:
            ch = w.chunk
            self.step(PersistedSnapshot(ch.metadata, ch.offset, False))
        elif w.snapshot is not None:
            meta, data = w.snapshot
            self.disk_snapshot = w.snapshot
            self.disk_log.clear(meta.index + 1)
            self.installing = False
            self.snapshots_installed += 1
            self.step(PersistedSnapshot(meta))
        else:
            self.disk_log.write(w.first, list(w.entries))
            if not w.dropped and w.report_end >= w.first:
                self.step(PersistedEntries(w.report_end))

    # --- State machine ------------------------------------------------------------------

    def _restore(self, meta: SnapshotMetadata, data: bytes) -> None:
        self.kv = json.loads(data)
        self.last_applied = meta.index
        self.conf, self.conf_index = meta.configuration, meta.configuration_index

    def _apply(self) -> None:
        c = self.cluster
        commit = self.raft.commit_index
        if self.snapshot is not None and self.last_applied < self.snapshot[0].index <= commit:
            self._restore(*self.snapshot)  # a snapshot just installed
        while self.last_applied < commit:
            index = self.last_applied + 1
            e = self.log.get(index)
            assert e is not None, f"node {self.id}: committed entry {index} not in its log"
            c.check_applied(self, index, e)
            if e.type == COMMAND:
                key, value = decode_command(e.data)
                self.kv[key] = value
                c.note(f"node {self.id} applies {index}: {key} = {value}", verbose=True)
            elif e.type == CHANGE:
                self.conf, self.conf_index = Configuration.decode(e.data), index
                self.queued.append(ConfigurationCommitted(index, self.conf))
            self.last_applied = index
        base = self.snapshot[0].index if self.snapshot else 0
        if c.snapshot_threshold and self.last_applied - base >= c.snapshot_threshold:
            self.queued.append(self._take_snapshot)

    def _take_snapshot(self) -> None:
        if self.installing or self.conf is None:
            return
        if self.snapshot is not None and self.snapshot[0].index >= self.last_applied:
            return
        e = self.log.get(self.last_applied)
        if e is None:
            return
        meta = SnapshotMetadata(self.last_applied, e.term, self.conf, self.conf_index)
        data = json.dumps(self.kv, sort_keys=True).encode()
        # Durable before the library hears of it (docs/contract.md#raft_snapshot).
        self.disk_snapshot = self.snapshot = (meta, data)
        trailing = self.cluster.snapshot_trailing
        self._step_one(Snapshot(meta, trailing))
        if self.cluster.snapshot_chunk:
            self.raft.set_snapshot_length(meta.index, len(data))
        self.log.drop_prefix(meta.index - trailing)
        self.disk_log.drop_prefix(meta.index - trailing)
        self.cluster.note(f"node {self.id} took a snapshot at {meta.index}", verbose=True)


class Cluster:
    """Nodes, a simulated clock, a network with latency and a scheduler, all seeded."""

    def __init__(
        self,
        n: int = 3,
        seed: int = 0,
        *,
        latency: Tuple[int, int] = (1, 10),
        disk_delay: Tuple[int, int] = (0, 0),
        election_timeout: int = 1000,
        heartbeat_timeout: int = 100,
        pre_vote: bool = False,
        install_snapshot_timeout: int = 3000,
        snapshot_threshold: int = 0,
        snapshot_trailing: int = 2,
        snapshot_chunk: int = 0,
        tracer: Optional[Callable[[int, raft.Diagnostic], None]] = None,
        verbose: bool = False,
        out: Optional[Callable[[str], None]] = None,
    ):
        self.rng = random.Random(seed)
        self.now = 0
        self.latency = latency
        self.disk_delay = disk_delay
        self.election_timeout = election_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.pre_vote = pre_vote
        # The library's default (30 s) is how long a leader waits after an InstallSnapshot
        # lost to a crashed node; shorter keeps the simulation brief.
        self.install_snapshot_timeout = install_snapshot_timeout
        self.snapshot_threshold = snapshot_threshold
        self.snapshot_trailing = snapshot_trailing
        # Streamed snapshots in chunks of this many bytes (docs/snapshots.md); 0: whole.
        self.snapshot_chunk = snapshot_chunk
        self.tracer = tracer
        self.verbose = verbose
        self.out = out
        self._queue: List = []  # (time, sequence, action): the sequence breaks ties in order
        self._sequence = 0
        self.elections: List[Tuple[int, int, int]] = []  # (time, node, term)
        self.next_read = 0
        self.applied: Dict[int, Entry] = {}  # index -> entry, the same on every node
        self.messages_sent = 0
        self.conf = Configuration([Server(i, f"node{i}") for i in range(1, n + 1)])
        self.nodes: Dict[int, Node] = {s.id: Node(self, s.id, s.address) for s in self.conf.servers}
        for node in self.nodes.values():
            node.bootstrap(self.conf)
            node.start()

    def close(self) -> None:
        for node in self.nodes.values():
            node.crash()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def note(self, text: str, verbose: bool = False) -> None:
        if self.out is not None and (self.verbose or not verbose):
            self.out(f"[{self.now:6d} ms] {text}")

    # --- Scheduling ---------------------------------------------------------------------

    def schedule(self, time: int, action: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (time, self._sequence, action))

    def send(self, src: int, m: messages.Message) -> None:
        self.messages_sent += 1
        delay = self.rng.randint(*self.latency)
        self.schedule(self.now + delay, lambda: self._deliver(src, m))

    def _deliver(self, src: int, m: messages.Message) -> None:
        dst = self.nodes.get(m.server_id)
        if dst is None or not dst.alive:
            return  # lost
        # On receipt, server_id/server_address name the sender (docs/contract.md#message-fields).
        sender = self.nodes[src]
        dst.step(Receive(replace(m, server_id=src, server_address=sender.address)))

    def _next_timer(self) -> Tuple[float, Optional[Node]]:
        best: Tuple[float, Optional[Node]] = (float("inf"), None)
        for node in self.nodes.values():
            if node.alive and node.raft.timeout < best[0]:
                best = (node.raft.timeout, node)
        return best

    def advance(self, deadline: int) -> bool:
        """Runs the next due action or timeout; False when nothing is due by ``deadline``."""
        t_queue = self._queue[0][0] if self._queue else float("inf")
        t_timer, node = self._next_timer()
        t = min(t_queue, t_timer)
        if t > deadline:
            self.now = max(self.now, deadline)
            return False
        self.now = max(self.now, int(t))
        if t_queue <= t_timer:
            heapq.heappop(self._queue)[2]()
        else:
            node.step(Timeout())
        return True

    def run_for(self, ms: int) -> None:
        deadline = self.now + ms
        while self.advance(deadline):
            pass

    def run_until(self, condition: Callable[[], bool], max_ms: int = 30_000) -> None:
        deadline = self.now + max_ms
        while not condition():
            if not self.advance(deadline):
                raise TimeoutError(f"condition not met after {max_ms} ms of simulated time")

    # --- Client side --------------------------------------------------------------------

    def leader(self) -> Optional[Node]:
        """The live leader with the highest term, if any."""
        leaders = [n for n in self.nodes.values() if n.alive and n.raft.state == LEADER]
        return max(leaders, key=lambda n: n.raft.current_term, default=None)

    def wait_leader(self, max_ms: int = 30_000) -> Node:
        self.run_until(lambda: self.leader() is not None, max_ms)
        return self.leader()

    def submit(self, key: str, value: str) -> int:
        """Submits a command to the leader; returns the index it will have if committed."""
        node = self.leader()
        if node is None:
            raise raft.RaftError(7)  # RAFT_NOTLEADER
        r = node.raft
        index = r.last_index + 1
        node.step(Submit([Entry(r.current_term, COMMAND, encode_command(key, value))]))
        return index

    def read(self, key: str, max_ms: int = 30_000) -> Optional[str]:
        """A linearizable read of `key` on the leader (docs/reads.md): asks for a read, waits
        until it is confirmed and the leader applied up to its index, then reads the store."""
        self.next_read += 1
        leader = self.wait_leader(max_ms)
        leader.step(raft.Read(self.next_read))
        read_id = self.next_read
        self.run_until(lambda: read_id in leader.reads, max_ms)
        result = leader.reads.pop(read_id)
        if result.status != 0:
            raise raft.RaftError(result.status, "read failed")
        self.run_until(lambda: leader.last_applied >= result.index, max_ms)
        return leader.kv.get(key)

    def applied_everywhere(self, index: int) -> bool:
        return all(n.last_applied >= index for n in self.nodes.values() if n.alive)

    def put(self, key: str, value: str, max_ms: int = 30_000) -> int:
        """Submits and waits until every live node has applied the entry."""
        index = self.submit(key, value)
        self.run_until(lambda: self.applied_everywhere(index), max_ms)
        entry = self.applied[index]
        assert entry.type == COMMAND and decode_command(entry.data) == (key, value), "overwritten"
        return index

    def check_applied(self, node: Node, index: int, entry: Entry) -> None:
        """Safety: every node applies the same entry at each index."""
        first = index not in self.applied
        known = self.applied.setdefault(index, entry)
        if known != entry:
            raise AssertionError(f"node {node.id} applies {entry} at {index}, others {known}")
        if first and entry.type == COMMAND:
            key, value = decode_command(entry.data)
            self.note(f"commit {index}: {key} = {value} (first applied by node {node.id})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--commands", type=int, default=5)
    parser.add_argument("--disk-delay", type=int, default=5, help="max ms per disk write")
    parser.add_argument("--snapshot-threshold", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="also print every apply")
    parser.add_argument("--trace", action="store_true", help="print the library's trace")
    args = parser.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet exit when piped into `head`

    def tracer(node_id: int, d: raft.Diagnostic) -> None:
        print(f"           node {node_id}: {d.message}")

    with Cluster(
        args.nodes,
        args.seed,
        disk_delay=(0, args.disk_delay),
        snapshot_threshold=args.snapshot_threshold,
        tracer=tracer if args.trace else None,
        verbose=args.verbose,
        out=print,
    ) as cluster:
        first = cluster.wait_leader()
        print(f"--- node {first.id} leads; writing {args.commands} keys")
        for i in range(args.commands):
            cluster.put(f"k{i}", f"v{i}")
        print(f"--- crashing leader {first.id}")
        first.crash()
        second = cluster.wait_leader()
        print(f"--- node {second.id} leads; writing {args.commands} more keys")
        for i in range(args.commands, 2 * args.commands):
            cluster.put(f"k{i}", f"v{i}")
        print(f"--- restarting node {first.id} from its disk")
        first.start()
        last = cluster.put("done", "yes")
        cluster.run_until(lambda: cluster.applied_everywhere(last))
        stores = {n.id: n.kv for n in cluster.nodes.values()}
        same = all(kv == stores[first.id] for kv in stores.values())
        summary = f"{len(cluster.elections)} elections, {last} entries"
        print(f"--- {summary}, {cluster.messages_sent} messages; stores identical: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
