"""A 3-node cluster in one process, through the binding and the example's host.

Every run is seeded, so a failure replays exactly; simulated time costs no wall time.
"""

import gc
import json

import pytest

from python_cluster import Cluster, decode_command
from raft import COMMAND, LEADER, CountingHeap


def put_keys(cluster, start, count):
    for i in range(start, start + count):
        cluster.put(f"k{i}", f"v{i}")


def assert_converged(cluster, keys):
    """Every live node applied the same entries and holds the expected keys."""
    last = max(cluster.applied)
    cluster.run_until(lambda: cluster.applied_everywhere(last))
    stores = [n.kv for n in cluster.nodes.values() if n.alive]
    assert all(kv == stores[0] for kv in stores)
    assert stores[0] == {f"k{i}": f"v{i}" for i in keys}


def assert_one_leader_per_term(cluster):
    terms = [term for _, _, term in cluster.elections]
    assert len(terms) == len(set(terms))


@pytest.mark.parametrize("seed", range(10))
def test_elects_a_leader_and_commits(seed):
    with Cluster(3, seed) as c:
        leader = c.wait_leader()
        assert leader.raft.state == LEADER
        for n in c.nodes.values():
            if n is not leader:
                c.run_until(lambda: n.raft.leader[0] == leader.id)
                assert n.raft.leader == (leader.id, leader.address)
        put_keys(c, 0, 10)
        assert_converged(c, range(10))
        assert [e.type for e in c.applied.values()].count(COMMAND) == 10
        assert leader.raft.commit_index == max(c.applied)
        for n in c.nodes.values():
            if n is not leader:
                assert leader.raft.match_index(n.id) >= max(c.applied) - 1
        assert_one_leader_per_term(c)


@pytest.mark.parametrize("seed", range(3))
def test_slow_disks(seed):
    """Writes complete up to 60 ms later (acknowledgements wait for them)."""
    with Cluster(3, seed, disk_delay=(1, 60)) as c:
        c.wait_leader()
        put_keys(c, 0, 8)
        assert_converged(c, range(8))


@pytest.mark.parametrize("seed", range(4))
def test_leader_crash_and_reelection(seed):
    with Cluster(3, seed, disk_delay=(0, 20)) as c:
        old = c.wait_leader()
        term = old.raft.current_term
        put_keys(c, 0, 5)
        old.crash()
        new = c.wait_leader()
        assert new is not old and new.raft.current_term > term
        put_keys(c, 5, 5)
        assert_converged(c, range(10))
        # The old leader comes back from its disk and catches up as a follower.
        old.start()
        assert old.raft.current_term >= term and old.raft.last_index >= 6
        c.put("k10", "v10")
        assert_converged(c, range(11))
        assert old.raft.state != LEADER or old.raft.current_term > new.raft.current_term
        assert_one_leader_per_term(c)


def test_follower_restart_from_persisted_state():
    with Cluster(3, 11, disk_delay=(0, 30)) as c:
        leader = c.wait_leader()
        put_keys(c, 0, 5)
        follower = next(n for n in c.nodes.values() if n is not leader)
        persisted = (follower.term, follower.vote, follower.disk_log.last)
        follower.crash()
        put_keys(c, 5, 5)  # committed by the two others
        follower.start()
        # Restarted exactly from what was durable.
        assert (follower.raft.current_term, follower.raft.voted_for) == persisted[:2]
        assert follower.raft.last_index == persisted[2]
        assert follower.kv == {}  # rebuilt by applying committed entries again
        assert_converged(c, range(10))


def test_whole_cluster_restart():
    with Cluster(3, 5) as c:
        c.wait_leader()
        put_keys(c, 0, 6)
        c.run_for(300)  # let every node hear the final commit index
        for n in c.nodes.values():
            n.crash()
        for n in c.nodes.values():
            n.start()
        c.wait_leader()
        c.put("k6", "v6")
        assert_converged(c, range(7))


def test_snapshots_and_install_on_a_lagging_node():
    with Cluster(3, 2, snapshot_threshold=4, snapshot_trailing=1, disk_delay=(0, 10)) as c:
        leader = c.wait_leader()
        follower = next(n for n in c.nodes.values() if n is not leader)
        put_keys(c, 0, 3)
        follower.crash()
        put_keys(c, 3, 12)
        assert leader.snapshot is not None and leader.log.start > follower.disk_log.last
        follower.start()
        c.put("k15", "v15")
        assert_converged(c, range(16))
        assert follower.snapshots_installed >= 1
        # And it restarts from the installed snapshot.
        follower.crash()
        follower.start()
        assert follower.kv == {f"k{i}": f"v{i}" for i in range(len(follower.kv))}
        c.put("k16", "v16")
        assert_converged(c, range(17))


@pytest.mark.parametrize("seed", range(3))
def test_streamed_snapshot_to_a_lagging_node(seed):
    """docs/snapshots.md: 16-byte chunks, installed byte for byte (the JSON must parse to
    the leader's store), through crashes of the follower mid-stream."""
    with Cluster(3, seed, snapshot_threshold=4, snapshot_trailing=1, disk_delay=(0, 10),
                 snapshot_chunk=16) as c:
        leader = c.wait_leader()
        follower = next(n for n in c.nodes.values() if n is not leader)
        put_keys(c, 0, 3)
        follower.crash()
        put_keys(c, 3, 30)
        assert len(leader.snapshot[1]) > 16 * 10, "a snapshot of many chunks"
        follower.start()
        c.put("k33", "v33")
        assert_converged(c, range(34))
        assert follower.streamed_installs >= 1 and follower.chunks_stored >= 10
        follower.crash()
        follower.start()
        c.put("k34", "v34")
        assert_converged(c, range(35))


def test_pre_vote():
    with Cluster(3, 4, pre_vote=True) as c:
        leader = c.wait_leader()
        put_keys(c, 0, 3)
        leader.crash()
        c.wait_leader()
        put_keys(c, 3, 3)
        assert_converged(c, range(6))


def test_deterministic():
    def run():
        with Cluster(3, 9, disk_delay=(0, 25)) as c:
            leader = c.wait_leader()
            put_keys(c, 0, 4)
            leader.crash()
            c.wait_leader()
            put_keys(c, 4, 4)
            return c.elections, c.messages_sent, c.now

    assert run() == run()


def test_commands_round_trip():
    with Cluster(3, 3) as c:
        c.wait_leader()
        index = c.put("key with spaces", "välue")
        assert decode_command(c.applied[index].data) == ("key with spaces", "välue")
        assert c.applied[index].data == json.dumps(["key with spaces", "välue"]).encode()  # unpadded


def test_no_leaks_under_a_counting_heap():
    """Every raft_malloc of a whole run (submissions, received batches, barriers, entry arrays,
    snapshots and their configurations, configurations passed in events) is freed."""
    gc.collect()
    with CountingHeap() as heap:
        with Cluster(3, 6, snapshot_threshold=4, snapshot_trailing=1, disk_delay=(0, 15)) as c:
            leader = c.wait_leader()
            follower = next(n for n in c.nodes.values() if n is not leader)
            put_keys(c, 0, 3)
            follower.crash()
            put_keys(c, 3, 10)
            leader.crash()
            follower.start()  # needs the snapshot of the only other live node
            c.wait_leader()
            leader.start()
            c.put("k13", "v13")
            assert_converged(c, range(14))
            assert follower.snapshots_installed >= 1
        del c, leader, follower
        gc.collect()
    assert heap.errors == []
    assert heap.allocations > 100
    assert heap.live == {}, f"{len(heap.live)} of {heap.allocations} blocks leaked"
    assert heap.allocations == heap.frees


@pytest.mark.parametrize("seed", range(12))
def test_random_crashes_and_restarts(seed):
    """Writes interleaved with crashes and restarts of random nodes (never more than one down),
    slow disks and snapshots; the cluster must keep committing and converge."""
    with Cluster(3, 100 + seed, disk_delay=(0, 40), snapshot_threshold=5, snapshot_trailing=2) as c:
        rng = c.rng
        c.wait_leader()
        keys = 0
        for _ in range(6):
            put_keys(c, keys, 3)
            keys += 3
            down = [n for n in c.nodes.values() if not n.alive]
            if down:
                down[0].start()
            else:
                rng.choice(list(c.nodes.values())).crash()
            c.run_for(rng.randint(0, 300))
            c.wait_leader()
        for n in c.nodes.values():
            if not n.alive:
                n.start()
        c.wait_leader()
        put_keys(c, keys, 1)
        assert_converged(c, range(keys + 1))
        assert_one_leader_per_term(c)


@pytest.mark.parametrize("seed", range(4))
def test_linearizable_reads_see_every_acknowledged_write(seed):
    """Reads through RAFT_READ (docs/reads.md), also after the leader crashed."""
    with Cluster(3, seed, disk_delay=(0, 20)) as c:
        c.wait_leader()
        put_keys(c, 0, 4)
        assert c.read("k3") == "v3"
        assert c.read("nothing") is None
        c.leader().crash()
        c.wait_leader()
        c.put("k3", "again")
        assert c.read("k3") == "again"


def test_followers_forward_reads_to_their_leader():
    import raft

    with Cluster(3, 1) as c:
        leader = c.wait_leader()
        written = c.put("k", "v")
        follower = next(n for n in c.nodes.values() if n is not leader)
        c.run_until(lambda: follower.raft.leader[0] == leader.id)
        follower.step(raft.Read(99))
        c.run_until(lambda: 99 in follower.reads)
        result = follower.reads[99]
        assert result.status == 0 and result.index >= written
