"""The hand-written ctypes declarations agree with the header the library was built with.

A C program, generated from the ctypes classes, prints each mirrored struct's size and the
offset of every member the mirror names (members starting with ``_`` are opaque storage,
counted by the size alone), then the value of every enum constant and #define the binding
writes down as a Python number; it is compiled against ``raft.h`` (the source tree's include/,
or the installed one that pkg-config points to) and its output must equal what Python holds.

Only what the binding mirrors is checked, not all of raft.h: the header also declares the
classic API, which the binding does not use.
"""

import ctypes
import os
import shutil
import subprocess

import pytest

from raft import _lib as L
from raft import configuration, events, instance, messages
from raft.types import CatchUpStatus, EntryType, State

HERE = os.path.dirname(os.path.abspath(__file__))

# Each mirror and the C struct it stands for.
MIRRORS = {
    L.RaftBuffer: "raft_buffer",
    L.RaftServer: "raft_server",
    L.RaftConfiguration: "raft_configuration",
    L.RaftEntry: "raft_entry",
    L.RaftSnapshotMetadata: "raft_snapshot_metadata",
    L.RaftRequestVote: "raft_request_vote",
    L.RaftRequestVoteResult: "raft_request_vote_result",
    L.RaftAppendEntries: "raft_append_entries",
    L.RaftAppendEntriesResult: "raft_append_entries_result",
    L.RaftInstallSnapshot: "raft_install_snapshot",
    L.RaftTimeoutNow: "raft_timeout_now",
    L.RaftReadIndex: "raft_read_index",
    L.RaftReadIndexResult: "raft_read_index_result",
    L.RaftInstallSnapshotChunk: "raft_install_snapshot_chunk",
    L.RaftInstallSnapshotChunkResult: "raft_install_snapshot_chunk_result",
    L.RaftMessage: "raft_message",
    L.RaftEventStart: "raft_event_start",
    L.RaftEventReceive: "raft_event_receive",
    L.RaftEventPersistedEntries: "raft_event_persisted_entries",
    L.RaftEventPersistedSnapshot: "raft_event_persisted_snapshot",
    L.RaftEventConfiguration: "raft_event_configuration",
    L.RaftEventSnapshot: "raft_event_snapshot",
    L.RaftEventSubmit: "raft_event_submit",
    L.RaftEventCatchUp: "raft_event_catch_up",
    L.RaftEventTransfer: "raft_event_transfer",
    L.RaftEventRead: "raft_event_read",
    L.RaftReadResult: "raft_read_result",
    L.RaftEvent: "raft_event",
    L.RaftUpdateEntries: "raft_update_entries",
    L.RaftUpdateSnapshot: "raft_update_snapshot",
    L.RaftUpdateMessages: "raft_update_messages",
    L.RaftUpdate: "raft_update",
    L.RaftTracer: "raft_tracer",
    L.RaftTracerDiagnostic: "raft_tracer_diagnostic",
    L.RaftTracerInfo: "raft_tracer_info",
    L.RaftHeap: "raft_heap",
    L.RaftStruct: "raft",
}



def constants():
    """Each C constant the binding spells as a Python number, with that number."""
    table = {
        "RAFT_ERRMSG_BUF_SIZE": L.RAFT_ERRMSG_BUF_SIZE,
        "RAFT_NOMEM": instance.RAFT_NOMEM,
        "RAFT_TRACER_DIAGNOSTIC": instance.RAFT_TRACER_DIAGNOSTIC,
        "RAFT_STANDBY": configuration.STANDBY,
        "RAFT_VOTER": configuration.VOTER,
        "RAFT_SPARE": configuration.SPARE,
    }
    for flag in ("CURRENT_TERM", "VOTED_FOR", "ENTRIES", "SNAPSHOT", "MESSAGES", "STATE",
                 "COMMIT_INDEX", "TIMEOUT", "READS"):
        table["RAFT_UPDATE_" + flag] = getattr(instance, "UPDATE_" + flag)
    for name in ("START", "RECEIVE", "PERSISTED_ENTRIES", "PERSISTED_SNAPSHOT", "CONFIGURATION",
                 "SNAPSHOT", "TIMEOUT", "SUBMIT", "CATCH_UP", "TRANSFER", "READ"):
        table["RAFT_" + name] = getattr(events, name)
    for name in ("APPEND_ENTRIES", "APPEND_ENTRIES_RESULT", "REQUEST_VOTE", "REQUEST_VOTE_RESULT",
                 "INSTALL_SNAPSHOT", "TIMEOUT_NOW", "READ_INDEX", "READ_INDEX_RESULT",
                 "INSTALL_SNAPSHOT_CHUNK", "INSTALL_SNAPSHOT_CHUNK_RESULT"):
        table["RAFT_" + name] = getattr(messages, name)
    table.update({"RAFT_" + s.name: s.value for s in State})
    table.update({"RAFT_" + t.name: t.value for t in EntryType})
    table.update({"RAFT_CATCH_UP_" + c.name: c.value for c in CatchUpStatus})
    return table


def test_every_ctypes_struct_of_the_binding_is_checked():
    """A Structure added to raft._lib without an entry in MIRRORS would escape the check below;
    the Unions standing for C's anonymous unions are checked through their parents."""
    anonymous = {
        dict((n, t) for n, t, *_ in mirror._fields_)[name]
        for mirror in MIRRORS
        for name in getattr(mirror, "_anonymous_", ())
    }
    declared = {
        value
        for value in vars(L).values()
        if isinstance(value, type)
        and issubclass(value, (ctypes.Structure, ctypes.Union))
        and value.__module__ == L.__name__
    }
    assert declared - set(MIRRORS) - anonymous == set()
    assert anonymous, "the message, event and tracer-info unions are anonymous in C"


def members(struct, prefix="", base=0):
    """(C member path, offset) of every named member, looking through anonymous unions (whose
    members C names directly) and into nested structs."""
    anonymous = set(getattr(struct, "_anonymous_", ()))
    for name, ftype, *_ in struct._fields_:
        offset = base + getattr(struct, name).offset
        if name in anonymous:
            for inner, itype, *_ in ftype._fields_:
                yield from leaf(prefix + inner, itype, offset + getattr(ftype, inner).offset)
        elif not name.startswith("_"):
            yield from leaf(prefix + name, ftype, offset)


def leaf(path, ftype, offset):
    yield path, offset
    if isinstance(ftype, type) and issubclass(ftype, ctypes.Structure):
        yield from members(ftype, path + ".", offset)


def include_flags():
    source = os.path.join(HERE, "..", "..", "include")
    if not os.environ.get("RAFT_TEST_INSTALLED") and os.path.exists(os.path.join(source, "raft.h")):
        return ["-I" + source]
    out = subprocess.run(["pkg-config", "--cflags", "raft"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_mirrors_match_the_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to read the header's layout"
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <raft.h>", "int main(void) {"]
    expected = []
    for mirror, cname in MIRRORS.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof(struct {cname}));')
        expected.append(f"{cname} {ctypes.sizeof(mirror)}")
        for path, offset in members(mirror):
            lines.append(f'printf("{cname}.{path} %zu\\n", offsetof(struct {cname}, {path}));')
            expected.append(f"{cname}.{path} {offset}")
    for cname, value in constants().items():
        lines.append(f'printf("{cname} %lld\\n", (long long)({cname}));')
        expected.append(f"{cname} {value}")
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", *include_flags(), "-o", str(exe), str(src)], check=True)
    printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    assert [line for line in printed if line] == expected
