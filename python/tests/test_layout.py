"""The ctypes mirrors have the sizes and offsets of docs/contract.md#layout (x86-64 Linux)."""

import ctypes

import pytest

from raft import _lib as L


def member_type(struct, name):
    """The type of a member, looking through anonymous unions as C does."""
    for fname, ftype, *_ in struct._fields_:
        if fname == name:
            return ftype
    for anon in getattr(struct, "_anonymous_", ()):
        utype = member_type(struct, anon)
        found = member_type(utype, name)
        if found is not None:
            return found
    return None


def offset(struct, path):
    """Offset of a dotted member path ("start.n_entries")."""
    total = 0
    for name in path.split("."):
        total += getattr(struct, name).offset
        struct = member_type(struct, name)
    return total


SIZES = {
    L.RaftBuffer: 16,
    L.RaftServer: 24,
    L.RaftConfiguration: 16,
    L.RaftEntry: 40,
    L.RaftSnapshotMetadata: 40,
    L.RaftRequestVote: 48,
    L.RaftRequestVoteResult: 24,
    L.RaftAppendEntries: 56,
    L.RaftAppendEntriesResult: 40,
    L.RaftInstallSnapshot: 72,
    L.RaftTimeoutNow: 32,
    L.RaftMessage: 96,
    L.RaftEvent: 80,
    L.RaftEventStart: 48,
    L.RaftEventPersistedSnapshot: 56,
    L.RaftEventConfiguration: 24,
    L.RaftEventSnapshot: 48,
    L.RaftEventSubmit: 16,
    L.RaftUpdate: 120,
    L.RaftUpdateEntries: 24,
    L.RaftUpdateSnapshot: 72,
    L.RaftUpdateMessages: 16,
    L.RaftTracer: 24,
    L.RaftTracerInfo: 40,
    L.RaftHeap: 56,
    L.RaftStruct: 992,
}

OFFSETS = [
    (L.RaftBuffer, {"base": 0, "len": 8}),
    (L.RaftServer, {"id": 0, "address": 8, "role": 16}),
    (L.RaftConfiguration, {"servers": 0, "n": 8}),
    (L.RaftEntry, {"term": 0, "type": 8, "buf": 16, "buf.base": 16, "buf.len": 24, "batch": 32}),
    (L.RaftSnapshotMetadata, {"index": 0, "term": 8, "configuration": 16,
                              "configuration_index": 32}),
    (L.RaftRequestVote, {"version": 0, "term": 8, "candidate_id": 16, "last_log_index": 24,
                         "last_log_term": 32, "disrupt_leader": 40, "pre_vote": 41}),
    (L.RaftRequestVoteResult, {"version": 0, "term": 8, "vote_granted": 16, "pre_vote": 17,
                               "features": 18, "capacity": 20}),
    (L.RaftAppendEntries, {"version": 0, "term": 8, "prev_log_index": 16, "prev_log_term": 24,
                           "leader_commit": 32, "entries": 40, "n_entries": 48}),
    (L.RaftAppendEntriesResult, {"version": 0, "term": 8, "rejected": 16, "last_log_index": 24,
                                 "features": 32, "capacity": 34}),
    (L.RaftInstallSnapshot, {"version": 0, "term": 8, "last_index": 16, "last_term": 24, "conf": 32,
                             "conf_index": 48, "data": 56}),
    (L.RaftTimeoutNow, {"version": 0, "term": 8, "last_log_index": 16, "last_log_term": 24}),
    (L.RaftMessage, {"type": 0, "server_id": 8, "server_address": 16, "request_vote": 24,
                     "request_vote_result": 24, "append_entries": 24, "append_entries_result": 24,
                     "install_snapshot": 24, "timeout_now": 24, "append_entries.n_entries": 72}),
    (L.RaftEvent, {
        "time": 0, "type": 8, "unused": 12, "capacity": 14, "reserved": 16,
        "start.term": 24, "start.voted_for": 32, "start.metadata": 40, "start.start_index": 48,
        "start.entries": 56, "start.n_entries": 64,
        "receive.message": 24,
        "persisted_entries.index": 24,
        "persisted_snapshot.metadata": 24, "persisted_snapshot.offset": 64,
        "persisted_snapshot.last": 72,
        "configuration.index": 24, "configuration.conf": 32,
        "snapshot.metadata": 24, "snapshot.trailing": 64,
        "submit.entries": 24, "submit.n": 32,
        "catch_up.server_id": 24,
        "transfer.server_id": 24,
    }),
    (L.RaftUpdate, {
        "flags": 0, "entries": 8, "entries.index": 8, "entries.batch": 16, "entries.n": 24,
        "snapshot": 32, "snapshot.metadata": 32, "snapshot.offset": 72, "snapshot.chunk": 80,
        "snapshot.last": 96, "messages": 104, "messages.batch": 104, "messages.n": 112,
    }),
    (L.RaftTracer, {"impl": 0, "version": 8, "emit": 16}),
    (L.RaftTracerInfo, {"version": 0, "diagnostic": 8, "diagnostic.level": 8,
                        "diagnostic.message": 16, "diagnostic.file": 24, "diagnostic.line": 32}),
    (L.RaftHeap, {"data": 0, "malloc": 8, "free": 16, "calloc": 24, "realloc": 32,
                  "aligned_alloc": 40, "aligned_free": 48}),
    # struct raft, default layout: the public members and the error buffer.
    (L.RaftStruct, {"data": 0, "tracer": 8, "io": 16, "fsm": 24, "id": 32, "address": 40,
                    "errmsg": 464}),
]


@pytest.mark.parametrize("struct,size", SIZES.items(), ids=lambda x: getattr(x, "__name__", ""))
def test_sizes(struct, size):
    assert ctypes.sizeof(struct) == size
    assert ctypes.alignment(struct) == 8


@pytest.mark.parametrize("struct,offsets", OFFSETS, ids=lambda x: getattr(x, "__name__", ""))
def test_offsets(struct, offsets):
    actual = {path: offset(struct, path) for path in offsets}
    assert actual == offsets


def test_errmsg_buffer_size():
    assert L.RaftStruct.errmsg.size == L.RAFT_ERRMSG_BUF_SIZE == 256


def test_errmsg_read_through_the_struct_matches_raft_errmsg():
    """The mirror of struct raft is the library's: raft_errmsg points at our errmsg member."""
    from raft import Raft

    errmsg_address = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(("raft_errmsg", L.lib))
    r = Raft(1, "a")
    try:
        assert errmsg_address(ctypes.addressof(r._r)) == ctypes.addressof(r._r) + 464
        assert r._r.id == 1 and r._r.address == b"a"
    finally:
        r.close()
