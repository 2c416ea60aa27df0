#!/usr/bin/env python3
"""Interoperability of libraft-rs and C-Raft 0.15: a mixed cluster on 127.0.0.1.

Four servers: 1 and 3 run examples/node (libraft-rs), 2 and 4 run examples/craft-node
(Debian's libraft 0.15 with its libuv back-end). Both speak C-Raft's TCP protocol, store
C-Raft's data directory and apply the same key-value commands (examples/node/kv.c).

  1. elect a leader (pre-vote on everywhere); transfer leadership to a libraft-rs node, write keys; transfer it to a
     C-Raft node, write keys: entries flow in both directions, every state machine agrees
  2. kill -9 the C-Raft leader, a new one is elected, libraft-rs leads and writes; the killed
     node restarts far behind and catches up through InstallSnapshot from libraft-rs; then the
     reverse: a libraft-rs follower killed while C-Raft leads catches up through C-Raft's
     snapshot (snapshots every SNAPSHOT_EVERY entries, TRAILING entries kept); and a
     libraft-rs follower killed while libraft-rs leads catches up through a streamed snapshot
     (libraft-rs nodes run with --snapshot-chunk: they stream to each other, and C-Raft nodes
     still send and receive whole snapshots)
  3. stop everything cleanly and compare the logs of the four data directories, read with
     libraft-rs's disk codec (build/examples/logdump): same entries wherever two logs overlap,
     same last entry everywhere
  4. each data directory is started alone with the OTHER implementation: it must load the
     same last index and the snapshot, and after its clean stop the directory must hold the
     same entries; then the swapped cluster runs: same state as before the stop, each
     implementation leads and writes once more (pre-vote off); logs compared again
  5. two followers (one of each kind) are killed with SIGKILL and restarted with the other
     implementation on their crashed directories (open segments as a crash leaves them); they
     must load the whole log and catch up; logs compared a last time

Polls STATUS/HASH with deadlines (no fixed sleeps). Every process started here is killed on
exit, failure or signal; the data and logs are kept on failure.

    python3 examples/interop/test_interop.py [--build build] [--keep]
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RS = "libraft-rs"
# With CRAFT_NODE set, the C-Raft program runs on another library (make test-craft-node-on-rs).
C = "craft-node on " + os.path.basename(os.environ["CRAFT_NODE"]) if os.environ.get("CRAFT_NODE") else "c-raft-0.15"
SNAPSHOT_EVERY = 200
TRAILING = 64


class Failure(Exception):
    pass


class Cluster:
    def __init__(self, build, root, base):
        self.build = build
        self.root = root
        self.base = base
        self.ids = [1, 2, 3, 4]
        self.impl = {1: RS, 2: C, 3: RS, 4: C}
        self.procs = {}
        self.pre_vote = 1
        self.spec = ",".join(f"{i}=127.0.0.1:{base + i}" for i in self.ids)

    # --- processes ---------------------------------------------------------------------

    def binary(self, impl):
        if impl == RS:
            return os.path.join(self.build, "examples/node")
        # CRAFT_NODE: the same C-Raft program built on another library (make test-craft-node-on-rs).
        return os.environ.get("CRAFT_NODE") or os.path.join(self.build, "craft/craft-node")

    def start(self, i):
        assert i not in self.procs
        log = open(os.path.join(self.root, f"n{i}.log"), "a")
        log.write(f"==== starting {self.impl[i]} on n{i}\n")
        log.flush()
        args = [self.binary(self.impl[i]), "--id", str(i), "--cluster", self.spec,
                "--dir", os.path.join(self.root, f"n{i}"),
                "--snapshot-every", str(SNAPSHOT_EVERY), "--trailing", str(TRAILING),
                "--pre-vote", str(self.pre_vote)]
        if self.impl[i] == RS:
            # Streamed snapshots between libraft-rs nodes (docs/snapshots.md); C-Raft peers
            # never advertise them and keep getting (and sending) whole snapshots.
            args += ["--snapshot-chunk", "1024"]
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, i):
        p = self.procs.pop(i)
        p.kill()
        p.wait()

    def stop(self, i):
        """SIGTERM, and the process must exit cleanly (status 0) within 10 s."""
        p = self.procs.pop(i)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise Failure(f"n{i} ({self.impl[i]}) did not stop on SIGTERM")
        if rc != 0:
            raise Failure(f"n{i} ({self.impl[i]}) exited with status {rc}")

    def kill_all(self):
        for i in list(self.procs):
            self.kill(i)

    def check_alive(self):
        for i, p in self.procs.items():
            if p.poll() is not None:
                raise Failure(f"n{i} ({self.impl[i]}) died with status {p.returncode}")

    # --- clients -------------------------------------------------------------------------

    def client_addr(self, i):
        return f"127.0.0.1:{self.base + 1000 + i}"

    def all_addrs(self, ids=None):
        return ",".join(self.client_addr(i) for i in (ids or self.procs))

    def client(self, *args, timeout=60):
        r = subprocess.run([os.path.join(self.build, "examples/client"), *args],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise Failure(f"client {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    def ask(self, i, what):
        """STATUS or HASH of one node as a dict/tuple; None when it does not answer."""
        r = subprocess.run([os.path.join(self.build, "examples/client"), self.client_addr(i),
                            what], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        words = r.stdout.split()
        if what == "status" and words and words[0] == "STATUS":
            return dict(w.split("=", 1) for w in words[1:])
        if what == "hash" and len(words) == 4 and words[0] == "HASH":
            return (words[1], int(words[2]), int(words[3]))  # digest, applied, keys
        return None

    # --- waiting -------------------------------------------------------------------------

    def wait_for(self, what, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise Failure(f"timed out ({timeout} s) waiting for {what}")

    def leader(self, ids=None):
        """The node all the given running nodes agree leads, or None."""
        ids = ids or list(self.procs)
        st = {i: self.ask(i, "status") for i in ids}
        leaders = [i for i, s in st.items() if s and s["state"] == "leader"]
        if len(leaders) != 1:
            return None
        l = leaders[0]
        term = st[l]["term"]
        if all(s and s["leader"] == str(l) and s["term"] == term for s in st.values()):
            return l
        return None

    def wait_leader(self, ids=None):
        return self.wait_for("a leader", lambda: self.leader(ids))

    def transfer(self, target):
        """Hands leadership to `target`; returns a description of how it went. A transfer
        that does not complete within 3 s is retried (an election may intervene), but the
        number of attempts is reported, and more than 3 fail the test."""
        t0 = time.monotonic()
        for attempt in range(1, 4):
            l = self.wait_leader()
            if l == target:
                return "already leader" if attempt == 1 else f"after {attempt - 1} attempts"
            self.client(self.client_addr(l), "transfer", str(target))
            end = time.monotonic() + 3
            while time.monotonic() < end:
                self.check_alive()
                if self.leader() == target:
                    ms = (time.monotonic() - t0) * 1000
                    return (f"transferred by n{l} ({self.impl[l]}) in {ms:.0f} ms"
                            + (f", attempt {attempt}" if attempt > 1 else ""))
                time.sleep(0.02)
        raise Failure(f"leadership never moved to n{target}")

    def wait_converged(self, keys, ids=None, timeout=30):
        """Same digest, key count and applied index on every given node; returns the digest."""
        ids = ids or list(self.procs)

        def same():
            h = [self.ask(i, "hash") for i in ids]
            if any(x is None for x in h) or len(set(h)) != 1 or h[0][2] != keys:
                return None
            return h[0]
        try:
            return self.wait_for(f"{keys} keys everywhere", same, timeout)
        except Failure:
            for i in ids:
                print(f"  n{i} ({self.impl[i]}): {self.ask(i, 'hash')} {self.ask(i, 'status')}",
                      file=sys.stderr)
            raise

    def write(self, prefix, n, ids=None):
        out = self.client(self.all_addrs(ids), "load", prefix, "1", str(n), timeout=90)
        return out

    # --- logs ----------------------------------------------------------------------------

    def dump(self, i):
        r = subprocess.run([os.path.join(self.build, "examples/logdump"),
                            os.path.join(self.root, f"n{i}")],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Failure(f"logdump n{i}: {r.stderr.strip()}")
        entries, snapshot = {}, None
        for line in r.stdout.splitlines():
            w = line.split(" ")
            if w[0] == "entry":
                entries[int(w[1])] = " ".join(w[2:])
            elif w[0] == "snapshot":
                snapshot = line
        return entries, snapshot

    def compare_logs(self):
        """Every stopped node's log: equal wherever logs overlap, same last entry."""
        dumps = {i: self.dump(i) for i in self.ids}
        lasts = {i: max(e) for i, (e, _) in dumps.items()}
        firsts = {i: min(e) for i, (e, _) in dumps.items()}
        if len(set(lasts.values())) != 1:
            raise Failure(f"logs end at different indexes: {lasts}")
        compared = 0
        for index in range(min(firsts.values()), lasts[1] + 1):
            have = {i: e[index] for i, (e, _) in dumps.items() if index in e}
            if len(set(have.values())) > 1:
                raise Failure(f"entry {index} differs: {have}")
            compared += len(have) > 1
        common = lasts[1] - max(firsts.values()) + 1
        if common < TRAILING // 2:
            raise Failure(f"only {common} entries common to every log")
        for i, (e, snap) in dumps.items():
            print(f"  n{i} ({self.impl[i]}): entries {firsts[i]}..{lasts[i]}"
                  + (f", {snap.split(' len=')[0]}" if snap else ""))
        print(f"  logs agree: {compared} indexes held by several nodes compared, "
              f"{common} held by all four, last index {lasts[1]}")
        return dumps


def expect_log(root, i, text, why):
    with open(os.path.join(root, f"n{i}.log")) as f:
        if text not in f.read().split("==== starting")[-1]:
            raise Failure(why)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--keep", action="store_true", help="keep the data even on success")
    args = ap.parse_args()
    for b in ("examples/node", "examples/client", "examples/logdump", "craft/craft-node"):
        if not os.access(os.path.join(args.build, b), os.X_OK):
            sys.exit(f"missing {args.build}/{b}: run make examples")

    root = tempfile.mkdtemp(prefix="raft-interop.")
    base = 20000 + random.randrange(0, 900) * 10
    cl = Cluster(args.build, root, base)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t_start = time.monotonic()
    ok = False
    say = lambda s: print(f"\n== {s}", flush=True)
    try:
        say(f"mixed cluster: {', '.join(f'n{i} {cl.impl[i]}' for i in cl.ids)}, pre-vote on "
            f"(raft ports {base + 1}-{base + 4}, data in {root})")
        for i in cl.ids:
            cl.start(i)
        l = cl.wait_leader()
        print(f"  n{l} ({cl.impl[l]}) elected")
        keys = 0

        say("libraft-rs leads (n1): 250 writes")
        print("  " + cl.transfer(1))
        print("  " + cl.write("rs", 250))
        keys += 250
        h = cl.wait_converged(keys)
        print(f"  all four agree: digest {h[0]} applied {h[1]} keys {h[2]}")

        say("C-Raft leads (n2): 250 writes")
        print("  " + cl.transfer(2))
        print("  " + cl.write("craft", 250))
        keys += 250
        h = cl.wait_converged(keys)
        print(f"  all four agree: digest {h[0]} applied {h[1]} keys {h[2]}")

        say("kill -9 the leader (n2, C-Raft); libraft-rs (n1) leads on; n2 restarts behind")
        cl.kill(2)
        l = cl.wait_leader()
        print(f"  n{l} ({cl.impl[l]}) took over")
        print("  " + cl.transfer(1))
        print("  n1 leads: " + cl.write("after-kill", 400))
        keys += 400
        cl.wait_converged(keys)
        cl.start(2)
        h = cl.wait_converged(keys)
        print(f"  n2 caught up: digest {h[0]} applied {h[1]} keys {h[2]}")
        expect_log(root, 2, "installed snapshot from the leader",
                   "C-Raft n2 caught up without the snapshot libraft-rs n1 must send")
        print("  through InstallSnapshot: libraft-rs leader -> C-Raft follower")

        say("kill -9 a libraft-rs follower (n3) while C-Raft (n4) leads, write, restart it")
        print("  " + cl.transfer(4))
        cl.kill(3)
        # C-Raft queues the last few messages for a peer it cannot reach and delivers them on
        # reconnection: an AppendEntries made before the leader compacted its log can then
        # bring n3 up to date without a snapshot (valid, and handled). Write enough that the
        # messages still queued when n3 returns were all made after the compaction.
        print("  n4 leads: " + cl.write("rs-down", 800))
        keys += 800
        cl.start(3)
        h = cl.wait_converged(keys)
        print(f"  n3 caught up: digest {h[0]} applied {h[1]} keys {h[2]}")
        expect_log(root, 3, "installed snapshot",
                   "libraft-rs n3 caught up without the snapshot C-Raft n4 must send")
        print("  through InstallSnapshot: C-Raft leader -> libraft-rs follower")

        say("kill -9 n3 again while libraft-rs (n1) leads, write, restart it: a streamed snapshot")
        print("  " + cl.transfer(1))
        cl.kill(3)
        print("  n1 leads: " + cl.write("streamed", 800))
        keys += 800
        cl.start(3)
        h = cl.wait_converged(keys)
        print(f"  n3 caught up: digest {h[0]} applied {h[1]} keys {h[2]}")
        expect_log(root, 3, "chunks",
                   "libraft-rs n3 caught up without the streamed snapshot libraft-rs n1 must send")
        print("  through InstallSnapshot chunks: libraft-rs leader -> libraft-rs follower")
        before = h

        say("clean stop; compare the four logs (libraft-rs's disk codec)")
        for i in cl.ids:
            cl.stop(i)
        dumps = cl.compare_logs()

        say("swap: each data directory loaded by the other implementation, alone")
        for i in cl.ids:
            cl.impl[i] = C if cl.impl[i] == RS else RS
        for i in cl.ids:
            entries, snap = dumps[i]
            cl.start(i)
            st = cl.wait_for(f"n{i} to answer", lambda: cl.ask(i, "status"))
            hs = cl.ask(i, "hash")
            cl.stop(i)
            snap_index = int(snap.split("index=")[1].split()[0]) if snap else 0
            if int(st["last"]) != max(entries):
                raise Failure(f"n{i} ({cl.impl[i]}) loaded a log up to {st['last']}, "
                              f"the directory holds {max(entries)}")
            if hs is None or hs[1] < snap_index:
                raise Failure(f"n{i} ({cl.impl[i]}) did not restore snapshot {snap_index}: {hs}")
            after, _ = cl.dump(i)
            if after != entries:
                diff = sorted(set(after.items()) ^ set(entries.items()))[:4]
                raise Failure(f"n{i}: entries changed by {cl.impl[i]}'s start and stop: {diff}")
            print(f"  n{i} {cl.impl[i]}: loaded entries {min(entries)}..{st['last']}, snapshot "
                  f"{snap_index} ({hs[2]} keys applied); same entries on disk after its stop")

        cl.pre_vote = 0
        say("swapped cluster: " + ", ".join(f"n{i} {cl.impl[i]}" for i in cl.ids)
            + ", pre-vote off")
        for i in cl.ids:
            cl.start(i)
        l = cl.wait_leader()
        print(f"  n{l} ({cl.impl[l]}) elected")
        # C-Raft 0.15 leaders append nothing on election, so entries of earlier terms are only
        # committed (and applied after a restart) once a new entry is: write one.
        cl.client(cl.all_addrs(), "put", "swap", "1")
        keys += 1
        h = cl.wait_converged(keys)
        if h[0] == before[0]:
            raise Failure("digest unchanged after a write")
        for k, v in (("rs-1", "value-1-rs"), ("craft-250", "value-250-craft"),
                     ("rs-down-800", "value-800-rs-down")):
            got = cl.client(cl.all_addrs(), "get", k)
            if got != f"VALUE {v}":
                raise Failure(f"{k} read back as {got!r}")
        print(f"  state as before the stop, plus one key: digest {h[0]} keys {h[2]}")
        for target in (2, 1):
            print("  " + cl.transfer(target))
            print(f"  n{target} ({cl.impl[target]}) leads: "
                  + cl.write(f"swapped-{target}", 150))
            keys += 150
            h = cl.wait_converged(keys)
        print(f"  all four agree: digest {h[0]} applied {h[1]} keys {h[2]}")

        say("crash swap: kill -9 two followers, restart each with the other implementation")
        l = cl.wait_leader()
        victims = [i for i in cl.ids if i != l][:2]
        if cl.impl[victims[0]] == cl.impl[victims[1]]:
            victims = [victims[0]] + [i for i in cl.ids
                                      if i not in (l, victims[0])
                                      and cl.impl[i] != cl.impl[victims[0]]][:1]
        for i in victims:
            cl.kill(i)  # open segments left as they are: pre-allocated, partly written
        for i in victims:
            entries, _ = cl.dump(i)
            cl.impl[i] = C if cl.impl[i] == RS else RS
            cl.start(i)
            st = cl.wait_for(f"n{i} to answer", lambda: cl.ask(i, "status"))
            if int(st["last"]) != max(entries):
                raise Failure(f"n{i} ({cl.impl[i]}) loaded a crashed directory up to "
                              f"{st['last']}, it holds {max(entries)}")
            print(f"  n{i} now {cl.impl[i]}: loaded a crashed directory up to {st['last']}")
        print("  " + cl.write("crash-swap", 150))
        keys += 150
        h = cl.wait_converged(keys)
        print(f"  all four agree: digest {h[0]} applied {h[1]} keys {h[2]}")
        for i in cl.ids:
            cl.stop(i)
        cl.compare_logs()
        ok = True
        print(f"\ninterop: OK ({time.monotonic() - t_start:.1f} s)")
    except Failure as e:
        print(f"\ninterop FAILED: {e}", file=sys.stderr)
    finally:
        cl.kill_all()
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif not ok:
            print(f"data and logs kept in {root}", file=sys.stderr)
            for i in cl.ids:
                path = os.path.join(root, f"n{i}.log")
                if os.path.exists(path):
                    print(f"--- n{i}.log (tail)", file=sys.stderr)
                    with open(path) as f:
                        print("".join(f.readlines()[-8:]), file=sys.stderr, end="")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
