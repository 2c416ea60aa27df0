#!/usr/bin/env python3
"""A Jepsen-style linearizability test of examples/node (issue 16).

Three nodes on loopback, each behind a proxy that the nemesis uses to cut links; concurrent
clients doing PUT and GET on a few keys with unique values; a nemesis that kills and restarts
nodes (the leader most often, right after acknowledged writes), pauses the leader (SIGSTOP,
SIGCONT) while the others elect another, and isolates the leader. The history is checked per
key by checker.py; operations whose outcome is unknown count as Jepsen counts them.

    run.py --node build/examples/node [--seconds 25] [--clients 5] [--keys 4] [--read MODE]
           [--seed N] [--history out.json] [--runs N] [--expect-violation]

Exit status 0 when every run's history is linearizable (with --expect-violation: when at least
one run is not), 1 otherwise.

How the proxies work: every node's address in the configuration is its proxy's port, and the
node listens on another port (--listen). A proxy reads the handshake that opens every peer
connection (C-Raft's protocol: u64 protocol, u64 sender ID, ...), so it knows who talks to whom,
and refuses or closes connections between servers the nemesis has cut apart.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checker import INFINITY, Op, check  # noqa: E402

N = 3
OP_TIMEOUT = 1.0  # seconds a client waits for a reply before the outcome is unknown
# Keys are renamed every KEY_GENERATION seconds, so that each register's history stays short
# enough for the search (as Jepsen's independent keys do); faults span several generations.
KEY_GENERATION = 3.0


def now():
    return time.monotonic()


# --- Network: one proxy per node --------------------------------------------------------------


class Network:
    """Proxies in front of the nodes' peer ports, and the set of cut links."""

    def __init__(self, proxy_ports, node_ports):
        self.proxy_ports, self.node_ports = proxy_ports, node_ports
        self.cut = set()  # (a, b): no connection from a to b
        self.lock = threading.Lock()
        self.conns = []  # (sender, dest, client socket, upstream socket)
        self.stopping = False
        self.listeners = []
        for dest in range(1, N + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", proxy_ports[dest]))
            s.listen(16)
            self.listeners.append(s)
            threading.Thread(target=self._accept, args=(s, dest), daemon=True).start()

    def _accept(self, listener, dest):
        while not self.stopping:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, dest), daemon=True).start()

    def _serve(self, conn, dest):
        try:
            conn.settimeout(5)
            head = b""
            while len(head) < 24:
                chunk = conn.recv(24 - len(head))
                if not chunk:
                    conn.close()
                    return
                head += chunk
            sender = struct.unpack_from("<Q", head, 8)[0]
            with self.lock:
                if (sender, dest) in self.cut:
                    conn.close()
                    return
            up = socket.create_connection(("127.0.0.1", self.node_ports[dest]), timeout=2)
            conn.settimeout(None)
            up.settimeout(None)
            up.sendall(head)
            with self.lock:
                self.conns.append((sender, dest, conn, up))
        except OSError:
            conn.close()
            return
        threading.Thread(target=self._pipe, args=(conn, up), daemon=True).start()
        self._pipe(up, conn)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def isolate(self, node):
        """Cuts every link of `node`, both ways, and closes its live connections."""
        with self.lock:
            for other in range(1, N + 1):
                if other != node:
                    self.cut.add((node, other))
                    self.cut.add((other, node))
            doomed = [c for c in self.conns if (c[0], c[1]) in self.cut]
            self.conns = [c for c in self.conns if (c[0], c[1]) not in self.cut]
        for _, _, a, b in doomed:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass

    def heal(self):
        with self.lock:
            self.cut.clear()

    def close(self):
        self.stopping = True
        for s in self.listeners:
            s.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for _, _, a, b in conns:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


# --- Nodes ------------------------------------------------------------------------------------


class Nodes:
    def __init__(self, binary, root, read_mode, base, snapshot_chunk=0):
        self.binary, self.root, self.read_mode = binary, root, read_mode
        self.snapshot_chunk = snapshot_chunk
        self.proxy_ports = {i: base + i for i in range(1, N + 1)}
        self.node_ports = {i: base + 10 + i for i in range(1, N + 1)}
        self.client_ports = {i: self.node_ports[i] + 1000 for i in range(1, N + 1)}
        self.spec = ",".join(f"{i}=127.0.0.1:{self.proxy_ports[i]}" for i in range(1, N + 1))
        self.procs = {}
        self.paused = set()

    def start(self, i):
        args = [self.binary, "--id", str(i), "--cluster", self.spec,
                "--dir", os.path.join(self.root, f"n{i}"),
                "--listen", f"127.0.0.1:{self.node_ports[i]}",
                "--snapshot-every", "200", "--trailing", "50"]
        if self.read_mode:
            args += ["--read", self.read_mode]
        if self.snapshot_chunk:
            # Streamed snapshots between the nodes (docs/snapshots.md), under the same faults.
            args += ["--snapshot-chunk", str(self.snapshot_chunk)]
        log = open(os.path.join(self.root, f"n{i}.log"), "a")
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, i):
        p = self.procs.get(i)
        if p is not None and p.poll() is None:
            if i in self.paused:
                p.send_signal(signal.SIGCONT)
                self.paused.discard(i)
            p.kill()
            p.wait()

    def pause(self, i):
        p = self.procs.get(i)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGSTOP)
            self.paused.add(i)

    def resume(self, i):
        p = self.procs.get(i)
        if p is not None and p.poll() is None and i in self.paused:
            p.send_signal(signal.SIGCONT)
        self.paused.discard(i)

    def stop_all(self):
        for i in list(self.procs):
            self.resume(i)
            p = self.procs[i]
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    def status(self, i):
        """The node's STATUS fields, or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.client_ports[i]), timeout=0.3) as s:
                s.settimeout(0.3)
                s.sendall(b"STATUS\n")
                line = s.makefile().readline()
        except OSError:
            return None
        if not line.startswith("STATUS"):
            return None
        return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)

    def leader(self):
        """The node that says it leads with the highest term, or None."""
        best = None
        for i in range(1, N + 1):
            if i in self.paused:
                continue
            st = self.status(i)
            if st and st.get("state") == "leader":
                if best is None or int(st["term"]) > best[1]:
                    best = (i, int(st["term"]))
        return best[0] if best else None


# --- Clients ----------------------------------------------------------------------------------


class Client(threading.Thread):
    def __init__(self, number, nodes, keys, deadline, history, lock, rng, epoch):
        super().__init__(daemon=True)
        self.number, self.nodes, self.keys, self.deadline = number, nodes, keys, deadline
        self.epoch = epoch
        self.history, self.lock, self.rng = history, lock, rng
        self.conns = {}
        self.target = rng.randint(1, N)
        self.written = 0
        self.counts = {"ok": 0, "fail": 0, "info": 0}

    def _conn(self, i):
        """(socket, reader) of this client's connection to node i, opened on first use."""
        if i not in self.conns:
            s = socket.create_connection(("127.0.0.1", self.nodes.client_ports[i]), timeout=0.5)
            s.settimeout(OP_TIMEOUT)
            self.conns[i] = (s, s.makefile("r"))
        return self.conns[i]

    def _drop(self, i):
        c = self.conns.pop(i, None)
        if c is not None:
            try:
                c[0].close()
            except OSError:
                pass

    def _request(self, line):
        """Sends one request to the current target; the reply line, or None (unknown)."""
        i = self.target
        try:
            s, f = self._conn(i)
            s.sendall(line.encode())
            reply = f.readline()
            if not reply:
                raise OSError("closed")
            return reply.strip()
        except OSError:
            self._drop(i)
            return None

    def _next_target(self):
        self.target = self.target % N + 1

    def _record(self, op, outcome):
        self.counts[outcome] += 1
        if op is not None:
            with self.lock:
                self.history.append(op)

    def run(self):
        while now() < self.deadline:
            generation = int((now() - self.epoch) / KEY_GENERATION)
            key = f"g{generation}-{self.rng.choice(self.keys)}"
            # Odd clients only read, even ones mostly write: a reader stays with a server that
            # answers it, so one that talks to a cut-off leader keeps asking it (where stale
            # reads come from) instead of leaving at its first write that cannot commit.
            if self.number % 2 == 0 and self.rng.random() < 0.8:
                self.written += 1
                value = f"c{self.number}-{self.written}"
                invoke = now()
                reply = self._request(f"PUT {key} {value}\n")
                if reply == "OK":
                    self._record(Op(key, "put", value, invoke, now(), self.number), "ok")
                elif reply is None or reply.startswith("ERR leadership lost"):
                    # Submitted perhaps: it may commit later, or never.
                    self._record(Op(key, "put", value, invoke, INFINITY, self.number), "info")
                    self._next_target()
                else:
                    # REDIRECT, no leader, busy, overwritten: not in the log.
                    self._record(None, "fail")
                    self._next_target()
            else:
                invoke = now()
                reply = self._request(f"GET {key}\n")
                if reply is not None and reply.startswith("VALUE "):
                    value = reply[len("VALUE "):]
                    self._record(Op(key, "get", value, invoke, now(), self.number), "ok")
                elif reply == "NOTFOUND":
                    self._record(Op(key, "get", None, invoke, now(), self.number), "ok")
                else:
                    self._record(None, "fail" if reply is not None else "info")
                    self._next_target()
            time.sleep(0)  # let the other clients interleave
        for i in list(self.conns):
            self._drop(i)


# --- Nemesis ----------------------------------------------------------------------------------


def nemesis(nodes, network, deadline, rng, log):
    """Faults in turn until the deadline; everything healed and running at the end."""
    # An isolated or paused leader that still believes it leads while the others elect and
    # write is where stale reads come from; a leader killed right after acknowledging writes
    # leaves a successor that has not learned they committed.
    faults = ["kill-leader"] * 5 + ["isolate-leader"] * 2 + ["pause-leader"] * 2 + ["kill-any"]
    while now() < deadline - 3:
        time.sleep(rng.uniform(0.2, 0.6))
        fault = rng.choice(faults)
        leader = nodes.leader()
        victim = leader if (leader and fault != "kill-any") else rng.randint(1, N)
        log.append((round(now(), 3), fault, victim))
        if fault in ("kill-leader", "kill-any"):
            nodes.kill(victim)
            time.sleep(rng.uniform(0.2, 1.0))
            nodes.start(victim)
        elif fault == "pause-leader":
            nodes.pause(victim)
            time.sleep(rng.uniform(1.5, 2.5))
            nodes.resume(victim)
        else:
            network.isolate(victim)
            time.sleep(rng.uniform(1.5, 2.5))
            network.heal()
    network.heal()
    for i in range(1, N + 1):
        nodes.resume(i)


# --- One run ----------------------------------------------------------------------------------


def supports_read_option(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return "--read" in (out.stdout + out.stderr)


def one_run(args, seed):
    rng = random.Random(seed)
    root = tempfile.mkdtemp(prefix="raft-lin-")
    base = 20000 + rng.randrange(0, 600) * 20  # below the ephemeral ports (32768-)
    read_mode = args.read if args.read and supports_read_option(args.node) else None
    nodes = Nodes(args.node, root, read_mode, base, args.snapshot_chunk)
    network = Network(nodes.proxy_ports, nodes.node_ports)
    for i in range(1, N + 1):
        nodes.start(i)
    started = now()
    while nodes.leader() is None:
        if now() - started > 15:
            raise RuntimeError(f"no leader after 15 s (logs in {root})")
        time.sleep(0.05)
    history, lock, faults = [], threading.Lock(), []
    deadline = now() + args.seconds
    keys = [f"k{n}" for n in range(args.keys)]
    epoch = now()
    clients = [
        Client(c, nodes, keys, deadline, history, lock, random.Random(rng.random()), epoch)
        for c in range(args.clients)
    ]
    for c in clients:
        c.start()
    nemesis(nodes, network, deadline, rng, faults)
    for c in clients:
        c.join()
    nodes.stop_all()
    network.close()
    streamed = 0
    for i in range(1, N + 1):
        with open(os.path.join(root, f"n{i}.log"), errors="replace") as f:
            streamed += sum("streamed in" in line for line in f)
    verdict = check(history)
    counts = {k: sum(c.counts[k] for c in clients) for k in ("ok", "fail", "info")}
    summary = {
        "seed": seed, "read": read_mode or "stale (node without --read)", "ops": len(history),
        "ok": counts["ok"], "fail": counts["fail"], "info": counts["info"],
        "faults": len(faults), "linearizable": verdict.ok, "bad_key": verdict.key,
        "undecided": verdict.undecided, "streamed_snapshots": streamed,
    }
    if args.history:
        path = args.history if args.runs == 1 else f"{args.history}.{seed}"
        with open(path, "w") as f:
            json.dump({"summary": summary, "faults": faults,
                       "history": [vars(op) | {"complete": None if op.complete == INFINITY
                                               else op.complete} for op in history]}, f)
    if verdict.ok:
        shutil.rmtree(root, ignore_errors=True)
    else:
        summary["logs"] = root
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--node", required=True)
    p.add_argument("--seconds", type=float, default=25)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--keys", type=int, default=8)
    p.add_argument("--read", default="index")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--history", default=None)
    p.add_argument("--expect-violation", action="store_true")
    p.add_argument("--snapshot-chunk", type=int, default=0,
                   help="the nodes stream snapshots to each other in chunks of that many bytes")
    args = p.parse_args()
    first = args.seed if args.seed is not None else random.randrange(1 << 30)
    violations = undecided = 0
    for run in range(args.runs):
        summary = one_run(args, first + run)
        violations += not summary["linearizable"] and not summary["undecided"]
        undecided += summary["undecided"]
        print("linearizability:", " ".join(f"{k}={v}" for k, v in summary.items()), flush=True)
    print(f"linearizability: {violations} of {args.runs} runs not linearizable, "
          f"{undecided} undecided")
    if args.expect_violation:
        return 0 if violations else 1
    return 1 if violations or undecided else 0


if __name__ == "__main__":
    sys.exit(main())
