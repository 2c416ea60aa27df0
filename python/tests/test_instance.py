"""One instance driven by hand: accessors, events, updates, errors, memory ownership, tracing."""

import gc

import pytest

import raft
from raft import (
    BARRIER,
    CANDIDATE,
    CHANGE,
    COMMAND,
    FOLLOWER,
    LEADER,
    SPARE,
    VOTER,
    CatchUp,
    CatchUpStatus,
    Configuration,
    ConfigurationCommitted,
    CountingHeap,
    Entry,
    PersistedEntries,
    PersistedSnapshot,
    Raft,
    RaftError,
    Receive,
    Server,
    Snapshot,
    SnapshotMetadata,
    Start,
    Submit,
    Timeout,
    Transfer,
    messages as m,
)

RAFT_BADID = 2
RAFT_MALFORMED = 6
RAFT_NOTLEADER = 7
RAFT_INVALID = 20

CMD = b"command!"
# Payload lengths C-Raft's wire and disk formats could not carry unpadded; raft_step takes them.
ODD_LENGTHS = (0, 1, 7, 9, 13, 4099)


@pytest.fixture
def heap():
    """Runs the test under a counting raft heap and checks that every block was freed."""
    gc.collect()  # no stray instance may be released while the heap is installed
    with CountingHeap() as h:
        yield h
        gc.collect()
    assert h.errors == []
    assert h.live == {}, f"{len(h.live)} blocks leaked"
    assert h.allocations == h.frees


def bootstrap(*servers, term=1):
    """Start event of a server bootstrapped with the given (id, role) servers."""
    conf = Configuration([Server(i, f"s{i}", role) for i, role in servers])
    return Start(term=term, entries=[Entry(term, CHANGE, conf.encode())])


def leader_of_two(now=0):
    """Server 1 elected leader of {1, 2}; returns (instance, time)."""
    r = Raft(1, "s1")
    r.step(bootstrap((1, VOTER), (2, VOTER)), now)
    now = r.timeout
    u = r.step(Timeout(), now)
    assert r.state == CANDIDATE and u.state_changed and u.term_changed and u.vote_changed
    (vote,) = u.messages
    assert isinstance(vote, m.RequestVote)
    assert (vote.server_id, vote.server_address, vote.term, vote.candidate_id) == (2, "s2", 2, 1)
    assert (vote.last_log_index, vote.last_log_term, vote.pre_vote) == (1, 1, False)
    reply = m.RequestVoteResult(server_id=2, server_address="s2", term=2, vote_granted=True)
    u = r.step(Receive(reply), now + 1)
    assert r.state == LEADER and u.state_changed
    return r, now + 1


def test_new_instance_accessors():
    with Raft(7, "addr7") as r:
        assert (r.id, r.address) == (7, "addr7")
        assert r.state == FOLLOWER
        assert (r.current_term, r.voted_for, r.commit_index, r.last_index) == (0, 0, 0, 0)
        assert r.leader == (0, None)
        assert r.role is None  # not in any configuration yet
        assert r.transferee == 0


def test_single_voter_becomes_leader_and_commits(heap):
    with Raft(1, "s1") as r:
        u = r.step(bootstrap((1, VOTER)), 100)
        assert u.state_changed and u.commit_index_changed and u.timeout_changed
        assert u.messages == []
        # It wins an election of its own: a new term, persisted before anything is sent, and a
        # barrier of that term (Raft §8).
        assert u.term_changed and u.vote_changed and (r.current_term, r.voted_for) == (2, 1)
        assert (u.entries_index, u.entries) == (2, [Entry(2, BARRIER, bytes(8))])
        assert r.state == LEADER and r.leader == (1, "s1") and r.role == VOTER
        assert r.match_index(1) == 1

        u = r.step(Submit([Entry(2, COMMAND, CMD), Entry(2, COMMAND, b"")]), 101)
        assert u.entries_index == 3
        assert u.entries == [Entry(2, COMMAND, CMD), Entry(2, COMMAND, b"")]
        assert r.last_index == 4 and r.commit_index == 1

        u = r.step(PersistedEntries(4), 102)
        assert u.commit_index_changed and r.commit_index == 4
        assert r.match_index(1) == 4


def test_step_errors_raise_with_code_and_errmsg_and_release_payloads(heap):
    with Raft(2, "s2") as r:
        r.step(bootstrap((1, VOTER), (2, VOTER)), 0)
        with pytest.raises(RaftError) as err:
            r.step(Submit([Entry(1, COMMAND, CMD)]), 1)
        assert err.value.code == RAFT_NOTLEADER
        assert err.value.message == "server is not the leader" == r.errmsg
        with pytest.raises(RaftError) as err:
            r.match_index(1)
        assert err.value.code == RAFT_NOTLEADER
        with pytest.raises(RaftError) as err:
            r.step(PersistedEntries(99), 2)  # beyond the log
        assert err.value.code == RAFT_INVALID and err.value.message
    # The fixture checks that the submitted payload was freed by the binding.


def test_invalid_submission_on_leader(heap):
    with Raft(1, "s1") as r:
        r.step(bootstrap((1, VOTER)), 0)
        with pytest.raises(RaftError) as err:
            r.step(Submit([Entry(5, COMMAND, CMD)]), 1)  # not the current term
        assert err.value.code == RAFT_INVALID
        with pytest.raises(RaftError) as err:
            r.match_index(42)
        assert err.value.code == RAFT_BADID


def test_leader_replicates_and_commits(heap):
    r, now = leader_of_two()
    with r:
        assert r.current_term == 2 and r.voted_for == 1
        assert r.last_index == 2  # the new leader's barrier (Raft §8)

        def ack(index):
            return Receive(m.AppendEntriesResult(server_id=2, server_address="s2", term=2,
                                                 rejected=0, last_log_index=index))

        r.step(ack(1), now + 1)  # the follower matches: replication pipelines from now on
        u = r.step(Submit([Entry(2, COMMAND, CMD)]), now + 2)
        assert (u.entries_index, u.entries) == (3, [Entry(2, COMMAND, CMD)])
        (ae,) = u.messages
        assert isinstance(ae, m.AppendEntries) and (ae.server_id, ae.server_address) == (2, "s2")
        assert (ae.term, ae.prev_log_index, ae.prev_log_term, ae.n_entries) == (2, 2, 2, 1)
        assert ae.entries == []  # the host attaches the entries from its log
        r.step(PersistedEntries(3), now + 3)
        assert r.commit_index == 1  # the follower has not acknowledged yet
        u = r.step(ack(3), now + 4)
        assert u.commit_index_changed and r.commit_index == 3
        assert r.match_index(2) == 3


def ack(index, term=2):
    """Server 2's success reply to leader 1, up to ``index``."""
    return Receive(m.AppendEntriesResult(server_id=2, server_address="s2", term=term,
                                         rejected=0, last_log_index=index))


def test_commands_of_any_length_are_submitted_received_committed_and_restarted(heap):
    """Like C-Raft's raft_step, the binding takes payloads of any length: the 8-byte rule is
    that of C-Raft's wire and disk formats, not of the protocol (Raft paper §5.3)."""
    commands = [Entry(2, COMMAND, bytes([0xA0 + k]) * n) for k, n in enumerate(ODD_LENGTHS)]
    barrier = Entry(2, BARRIER, bytes(8))
    last = 2 + len(commands)  # after the bootstrap entry and the leader's barrier
    r, now = leader_of_two()
    with r:
        r.step(ack(2), now + 1)
        u = r.step(Submit(commands), now + 2)
        assert (u.entries_index, u.entries) == (3, commands)
        (ae,) = u.messages
        assert (ae.prev_log_index, ae.n_entries) == (2, len(commands))
        r.step(PersistedEntries(last), now + 3)
        r.step(ack(last), now + 4)
        assert r.commit_index == last

    with Raft(2, "s2") as f:
        f.step(bootstrap((1, VOTER), (2, VOTER)), 0)
        ae = m.AppendEntries(server_id=1, server_address="s1", term=2, prev_log_index=1,
                             prev_log_term=1, leader_commit=last, entries=[barrier] + commands)
        u = f.step(Receive(ae), 10)
        assert (u.entries_index, u.entries) == (2, [barrier] + commands)
        f.step(PersistedEntries(last), 11)
        assert f.commit_index == last

    # Restarted from its persisted log: the bootstrap configuration, then the commands.
    with Raft(2, "s2") as f:
        start = bootstrap((1, VOTER), (2, VOTER))
        f.step(Start(term=2, entries=start.entries + [barrier] + commands), 20)
        assert (f.last_index, f.current_term) == (last, 2)


def test_follower_receives_entries_ownership(heap):
    """A received batch comes back in the update (and is freed once), or is freed by the
    library when nothing is new."""
    with Raft(2, "s2") as r:
        r.step(bootstrap((1, VOTER), (2, VOTER)), 0)
        entries = [Entry(2, BARRIER, bytes(8)), Entry(2, COMMAND, CMD)]
        ae = m.AppendEntries(server_id=1, server_address="s1", term=2, prev_log_index=1,
                             prev_log_term=1, leader_commit=1, entries=entries)
        u = r.step(Receive(ae), 10)
        assert u.term_changed and u.vote_changed and r.current_term == 2
        assert (u.entries_index, u.entries) == (2, entries)
        assert u.messages == []  # the success reply waits for persistence
        assert r.leader == (1, "s1")

        u = r.step(PersistedEntries(3), 11)
        (reply,) = u.messages
        assert isinstance(reply, m.AppendEntriesResult)
        assert (reply.server_id, reply.server_address) == (1, "s1")
        assert (reply.term, reply.rejected, reply.last_log_index) == (2, 0, 3)

        # The same message again: nothing new, the library frees the batch, reply at once.
        u = r.step(Receive(ae), 12)
        assert u.entries == []
        assert [x.last_log_index for x in u.messages] == [3]

        # A rejected one (unknown previous entry): a hint below `rejected`.
        ae2 = m.AppendEntries(server_id=1, server_address="s1", term=2, prev_log_index=9,
                              prev_log_term=2, leader_commit=3, entries=[Entry(2, COMMAND, CMD)])
        u = r.step(Receive(ae2), 13)
        (reply,) = u.messages
        assert reply.rejected == 9 and reply.last_log_index < 9


def test_receive_errors_release_payloads(heap):
    with Raft(2, "s2") as r:
        r.step(bootstrap((1, VOTER), (2, VOTER)), 0)
        ae = m.AppendEntries(server_id=0, server_address="s1", term=2, prev_log_index=1,
                             prev_log_term=1, leader_commit=1, entries=[Entry(2, COMMAND, CMD)])
        with pytest.raises(RaftError):
            r.step(Receive(ae), 1)  # sender ID 0
        snap = m.InstallSnapshot(server_id=1, server_address="s1", term=2, last_index=0,
                                 last_term=0, conf_index=1, conf=Configuration([Server(1, "s1")]),
                                 data=b"12345678")
        with pytest.raises(RaftError):
            r.step(Receive(snap), 2)  # last_index 0
        with pytest.raises(ValueError):
            unattached = m.AppendEntries(server_id=1, server_address="s1", term=2, prev_log_index=1,
                                         prev_log_term=1, leader_commit=1, n_entries=2)
            r.step(Receive(unattached), 3)
        assert r.current_term == 1  # nothing changed


def test_install_snapshot_round_trip(heap):
    conf = Configuration([Server(1, "s1"), Server(2, "s2")])
    with Raft(2, "s2") as r:
        r.step(bootstrap((1, VOTER), (2, VOTER)), 0)
        msg = m.InstallSnapshot(server_id=1, server_address="s1", term=3, last_index=10,
                                last_term=2, conf_index=1, conf=conf, data=b"snapshot-data!!!")
        u = r.step(Receive(msg), 5)
        assert u.snapshot is not None
        meta = u.snapshot.metadata
        assert (meta.index, meta.term, meta.configuration_index) == (10, 2, 1)
        assert meta.configuration == conf
        assert u.snapshot.chunk == b"snapshot-data!!!"
        assert (u.snapshot.offset, u.snapshot.last) == (0, True)
        assert r.last_index == 10

        u = r.step(PersistedSnapshot(meta), 6)
        assert u.commit_index_changed and r.commit_index == 10
        (reply,) = u.messages
        assert isinstance(reply, m.AppendEntriesResult) and reply.last_log_index == 10


def test_configuration_and_snapshot_events(heap):
    with Raft(1, "s1") as r:
        conf = Configuration([Server(1, "s1")])
        r.step(bootstrap((1, VOTER)), 0)
        r.step(ConfigurationCommitted(1, conf), 1)  # not pending: a no-op
        r.step(Submit([Entry(2, COMMAND, CMD)] * 3), 2)  # after the barrier at 2
        r.step(PersistedEntries(5), 3)
        r.step(Snapshot(SnapshotMetadata(4, 2, conf, 1), trailing=1), 4)
        assert r.last_index == 5

    # Restart from that snapshot and the entry after it: leader of term 3, whose barrier (entry
    # 6) commits entry 5 once durable.
    with Raft(1, "s1") as r:
        meta = SnapshotMetadata(4, 2, conf, 1)
        u = r.step(Start(term=2, snapshot=meta, entries=[Entry(2, COMMAND, CMD)]), 10)
        assert r.state == LEADER and r.current_term == 3
        assert r.commit_index == 4 and r.last_index == 6 and u.entries_index == 6
        assert u.commit_index_changed
        u = r.step(PersistedEntries(6), 11)
        assert u.commit_index_changed and r.commit_index == 6


def test_catch_up_and_transfer(heap):
    r = Raft(1, "s1")
    with r:
        r.step(bootstrap((1, VOTER), (3, SPARE)), 0)
        assert r.state == LEADER and r.role == VOTER  # the only voter
        assert r.catch_up(3) == CatchUpStatus.NONE
        u = r.step(CatchUp(3), 1)
        assert r.catch_up(3) == CatchUpStatus.RUNNING
        assert any(isinstance(x, m.AppendEntries) and x.server_id == 3 for x in u.messages)
        with pytest.raises(RaftError) as err:
            r.step(Transfer(0), 2)
        assert err.value.code == 19  # RAFT_NOTFOUND: no other voter
        assert err.value.message == "there's no other voting server"

    r, now = leader_of_two()
    with r:
        ack = m.AppendEntriesResult(server_id=2, server_address="s2", term=2, rejected=0,
                                    last_log_index=r.last_index)
        r.step(Receive(ack), now + 1)
        u = r.step(Transfer(2), now + 2)
        assert r.transferee == 2 and r.leader == (0, None)
        (tn,) = u.messages
        assert isinstance(tn, m.TimeoutNow) and tn.server_id == 2 and tn.term == 2
        assert tn.last_log_index == r.last_index


def test_settings_and_pre_vote():
    with Raft(1, "s1", seed=42) as r:
        r.set_election_timeout(200)
        r.set_heartbeat_timeout(20)
        r.set_pre_vote(True)
        r.set_install_snapshot_timeout(500)
        r.set_max_catch_up_rounds(3)
        r.set_max_catch_up_round_duration(1000)
        r.set_max_inflight_entries(8)
        r.set_capacity_threshold(0)
        r.step(bootstrap((1, VOTER), (2, VOTER)), 1000)
        assert 1200 <= r.timeout <= 1400
        u = r.step(Timeout(), r.timeout)
        (vote,) = u.messages
        assert vote.pre_vote and not u.term_changed and r.current_term == 1  # pre-vote


def test_tracer_receives_diagnostics_and_survives_gc():
    seen = []
    with Raft(1, "s1") as r:
        r.tracer = seen.append  # the binding keeps the ctypes callback alive
        gc.collect()
        r.step(bootstrap((1, VOTER)), 0)
        assert seen and all(isinstance(d, raft.Diagnostic) for d in seen)
        assert any(d.message.startswith("> ") for d in seen)
        assert all(1 <= d.level <= 5 for d in seen)
        assert r.tracer == seen.append
        n = len(seen)
        r.tracer = None
        r.step(Timeout(), r.timeout)
        assert len(seen) == n


def test_tracer_cannot_step_reentrantly():
    errors = []
    with Raft(1, "s1") as r:

        def tracer(d):
            try:
                r.step(Timeout(), 0)
            except RaftError as e:
                errors.append(e.code)

        r.tracer = tracer
        r.step(bootstrap((1, VOTER)), 0)
        r.tracer = None
    assert errors and set(errors) == {17}  # RAFT_BUSY


def test_closed_instance():
    r = Raft(1, "s1")
    r.close()
    r.close()  # idempotent
    with pytest.raises(RuntimeError):
        r.step(Timeout(), 0)
    with pytest.raises(RuntimeError):
        r.current_term


def test_names():
    assert raft.state_name(LEADER) == "leader" and raft.state_name(0) is None
    assert raft.role_name(SPARE) == "spare" and raft.role_name(7) is None
