#!/usr/bin/env python3
"""Network benchmark: 3 example nodes on 127.0.0.1, libraft-rs (examples/node, release library)
against C-Raft 0.15 (examples/craft-node, Debian's libraft.so.2), same client protocol, same
state machine, same settings (election 600 ms, heartbeat 60 ms, snapshot every 1024 entries,
128 trailing), same load generator (build/bench/netbench: closed loop, one PUT outstanding per
connection, 64-byte values).

Storage configurations:
  fsync    data directory on disk (/tmp), every write made durable (both implementations)
  nofsync  data on disk, libraft-rs node with --fsync 0 (C-Raft 0.15 has no such switch)
  tmpfs    data directory in /dev/shm: fsync costs nothing (both implementations)

Also (not in the default configurations):
  rsuv.fsync / craft22.fsync   the same C-Raft classic-API program (examples/craft-node, raft_uv)
                               on libraft-rs and on C-Raft 0.22.1 built from source (make bench-net-uv)
  rs.fsync.get-index|get-lease|get-stale
                               GETs instead of PUTs, the node started with --read MODE
                               (make bench-net-reads); figures named ...reads_per_s

Prints one "name value" line per figure (and writes them to --out):
  net.<impl>.<storage>.c<clients>.commits_per_s   committed PUTs per second
  net.<impl>.<storage>.c<clients>.p50_us / p99_us latency of one PUT (send to OK)

    python3 examples/bench/bench_net.py [--build build] [--seconds 3] [--clients 1,8,32]
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

CONFIGS = [("rs", "fsync"), ("craft", "fsync"), ("rs", "nofsync"), ("rs", "tmpfs"),
           ("craft", "tmpfs")]


BINARIES = {"rs": "bench/node", "craft": "craft/craft-node", "rsuv": "bench/craft-node-rs",
            "craft22": "bench/craft-node-22"}


class Nodes:
    def __init__(self, build, impl, storage, read_mode=None):
        self.build, self.impl, self.storage = build, impl, storage
        self.read_mode = read_mode
        parent = "/dev/shm" if storage == "tmpfs" else None
        self.root = tempfile.mkdtemp(prefix=f"raft-bench-{impl}-", dir=parent)
        self.base = 20000 + random.randrange(0, 1200) * 10  # below the ephemeral ports
        self.spec = ",".join(f"{i}=127.0.0.1:{self.base + i}" for i in (1, 2, 3))
        self.procs = []

    def start(self):
        binary = os.path.join(self.build, BINARIES[self.impl])
        for i in (1, 2, 3):
            args = [binary, "--id", str(i), "--cluster", self.spec,
                    "--dir", os.path.join(self.root, f"n{i}"),
                    "--snapshot-every", "1024", "--trailing", "128"]
            if self.storage == "nofsync":
                args += ["--fsync", "0"]
            if self.read_mode:
                args += ["--read", self.read_mode]
            log = open(os.path.join(self.root, f"n{i}.log"), "w")
            self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
            log.close()

    def servers(self):
        return ",".join(f"127.0.0.1:{self.base + 1000 + i}" for i in (1, 2, 3))

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []
        shutil.rmtree(self.root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--configs", default=",".join(f"{i}.{s}" for i, s in CONFIGS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    configs = [(c.split(".") + ["put"])[:3] for c in args.configs.split(",")]
    netbench = os.path.join(args.build, "bench/netbench")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    lines = []
    nodes = None
    try:
        for impl, storage, op in configs:
            read_mode = op[len("get-"):] if op.startswith("get-") else None
            nodes = Nodes(args.build, impl, storage, read_mode)
            nodes.start()
            for n in clients:
                cmd = [netbench, nodes.servers(), str(n), str(args.seconds), "64", "500",
                       "get" if read_mode else "put"]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                if r.returncode != 0:
                    raise SystemExit(f"netbench {impl} {storage} {op} {n}: {r.stderr.strip()}")
                w = r.stdout.split()
                fig = dict(zip(w[0::2], w[1::2]))
                name = f"net.{impl}.{storage}" + (f".read-{read_mode}" if read_mode else "")
                name += f".c{n}"
                for key in ("commits_per_s", "p50_us", "p99_us"):
                    label = "reads_per_s" if read_mode and key == "commits_per_s" else key
                    line = f"{name}.{label} {fig[key]}"
                    print(line, flush=True)
                    lines.append(line)
            nodes.stop()
            nodes.kill()
            nodes = None
    finally:
        if nodes is not None:
            nodes.kill()
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
