"""Loading libraft.so and declaring the C types and signatures used by the binding.

Every Structure below mirrors a struct of ``include/raft.h`` field for field, so that its size
and offsets equal those of docs/contract.md#layout (x86-64 Linux); ``tests/test_layout.py`` checks them.
Anonymous C11 unions are declared as named ctypes Unions listed in ``_anonymous_``, so Python
code reads ``msg.append_entries`` exactly like C does.
"""

import ctypes
import os
import subprocess
from typing import List, Optional
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    Union,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_size_t,
    c_ubyte,
    c_uint,
    c_uint64,
    c_ulonglong,
    c_ushort,
    c_void_p,
)

raft_id = c_ulonglong
raft_term = c_ulonglong
raft_index = c_ulonglong
raft_time = c_ulonglong

RAFT_ERRMSG_BUF_SIZE = 256
RAFT_STRUCT_SIZE = 992  # C-Raft's default layout, the one our header ships


# --- Basic structs ---------------------------------------------------------------------------


class RaftBuffer(Structure):
    _fields_ = [("base", c_void_p), ("len", c_size_t)]


class RaftServer(Structure):
    _fields_ = [("id", raft_id), ("address", c_char_p), ("role", c_int)]


class RaftConfiguration(Structure):
    _fields_ = [("servers", POINTER(RaftServer)), ("n", c_uint)]


class RaftEntry(Structure):
    # `type` is a 4-byte enum in the real header (docs/contract.md#layout), not C-Raft's documented short.
    _fields_ = [("term", raft_term), ("type", c_int), ("buf", RaftBuffer), ("batch", c_void_p)]


class RaftSnapshotMetadata(Structure):
    _fields_ = [
        ("index", raft_index),
        ("term", raft_term),
        ("configuration", RaftConfiguration),
        ("configuration_index", raft_index),
    ]


# --- Messages (docs/contract.md#messages) ----------------------------------------------------


class RaftRequestVote(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("candidate_id", raft_id),
        ("last_log_index", raft_index),
        ("last_log_term", raft_index),
        ("disrupt_leader", c_bool),
        ("pre_vote", c_bool),
    ]


class RaftRequestVoteResult(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("vote_granted", c_bool),
        ("pre_vote", c_bool),
        ("features", c_ushort),
        ("capacity", c_ushort),
    ]


class RaftAppendEntries(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("prev_log_index", raft_index),
        ("prev_log_term", raft_term),
        ("leader_commit", raft_index),
        ("entries", POINTER(RaftEntry)),
        ("n_entries", c_uint),
        ("read_round", c_uint),
    ]


class RaftAppendEntriesResult(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("rejected", raft_index),
        ("last_log_index", raft_index),
        ("features", c_ushort),
        ("capacity", c_ushort),
        ("read_echo", c_uint),
    ]


class RaftInstallSnapshot(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("last_index", raft_index),
        ("last_term", raft_term),
        ("conf", RaftConfiguration),
        ("conf_index", raft_index),
        ("data", RaftBuffer),
    ]


class RaftTimeoutNow(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("last_log_index", raft_index),
        ("last_log_term", raft_index),
    ]


class RaftReadIndex(Structure):
    _fields_ = [("version", c_ubyte), ("term", raft_term), ("id", c_ulonglong)]


class RaftReadIndexResult(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("term", raft_term),
        ("id", c_ulonglong),
        ("index", raft_index),
    ]


class RaftInstallSnapshotChunk(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("last", c_ubyte),
        ("chunk", c_uint),
        ("term", raft_term),
        ("last_index", raft_index),
        ("last_term", raft_term),
        ("conf", RaftConfiguration),
        ("conf_index", raft_index),
        ("data", RaftBuffer),
    ]


class RaftInstallSnapshotChunkResult(Structure):
    _fields_ = [
        ("version", c_ubyte),
        ("gap", c_ubyte),
        ("term", raft_term),
        ("last_index", raft_index),
        ("next_chunk", c_ulonglong),
    ]


class _RaftMessageUnion(Union):
    _fields_ = [
        ("request_vote", RaftRequestVote),
        ("request_vote_result", RaftRequestVoteResult),
        ("append_entries", RaftAppendEntries),
        ("append_entries_result", RaftAppendEntriesResult),
        ("install_snapshot", RaftInstallSnapshot),
        ("timeout_now", RaftTimeoutNow),
        ("read_index", RaftReadIndex),
        ("read_index_result", RaftReadIndexResult),
        ("install_snapshot_chunk", RaftInstallSnapshotChunk),
        ("install_snapshot_chunk_result", RaftInstallSnapshotChunkResult),
    ]


class RaftMessage(Structure):
    _anonymous_ = ("u",)
    _fields_ = [
        ("type", c_int),
        ("server_id", raft_id),
        ("server_address", c_char_p),
        ("u", _RaftMessageUnion),
    ]


# --- Events (docs/contract.md#events) --------------------------------------------------------


class RaftEventStart(Structure):
    _fields_ = [
        ("term", raft_term),
        ("voted_for", raft_id),
        ("metadata", POINTER(RaftSnapshotMetadata)),
        ("start_index", raft_index),
        ("entries", POINTER(RaftEntry)),
        ("n_entries", c_uint),
    ]


class RaftEventReceive(Structure):
    _fields_ = [("message", POINTER(RaftMessage))]


class RaftEventPersistedEntries(Structure):
    _fields_ = [("index", raft_index)]


class RaftEventPersistedSnapshot(Structure):
    _fields_ = [("metadata", RaftSnapshotMetadata), ("offset", c_size_t), ("last", c_bool)]


class RaftEventConfiguration(Structure):
    _fields_ = [("index", raft_index), ("conf", RaftConfiguration)]


class RaftEventSnapshot(Structure):
    _fields_ = [("metadata", RaftSnapshotMetadata), ("trailing", c_uint)]


class RaftEventSubmit(Structure):
    _fields_ = [("entries", POINTER(RaftEntry)), ("n", c_uint)]


class RaftEventCatchUp(Structure):
    _fields_ = [("server_id", raft_id)]


class RaftEventTransfer(Structure):
    _fields_ = [("server_id", raft_id)]


class RaftEventRead(Structure):
    _fields_ = [("id", c_ulonglong)]


class RaftReadResult(Structure):
    _fields_ = [("id", c_ulonglong), ("index", raft_index), ("status", c_int)]


class _RaftEventUnion(Union):
    _fields_ = [
        ("start", RaftEventStart),
        ("receive", RaftEventReceive),
        ("persisted_entries", RaftEventPersistedEntries),
        ("persisted_snapshot", RaftEventPersistedSnapshot),
        ("configuration", RaftEventConfiguration),
        ("snapshot", RaftEventSnapshot),
        ("submit", RaftEventSubmit),
        ("catch_up", RaftEventCatchUp),
        ("transfer", RaftEventTransfer),
        ("read", RaftEventRead),
    ]


class RaftEvent(Structure):
    _anonymous_ = ("u",)
    _fields_ = [
        ("time", raft_time),
        ("type", c_int),
        ("unused", c_ubyte),
        ("capacity", c_ushort),
        ("reserved", c_ubyte * 4),
        ("u", _RaftEventUnion),
    ]


# --- Updates (docs/contract.md#the-update) ---------------------------------------------------


class RaftUpdateEntries(Structure):
    _fields_ = [("index", raft_index), ("batch", POINTER(RaftEntry)), ("n", c_uint)]


class RaftUpdateSnapshot(Structure):
    _fields_ = [
        ("metadata", RaftSnapshotMetadata),
        ("offset", c_size_t),
        ("chunk", RaftBuffer),
        ("last", c_bool),
    ]


class RaftUpdateMessages(Structure):
    _fields_ = [("batch", POINTER(RaftMessage)), ("n", c_uint)]


class RaftUpdate(Structure):
    _fields_ = [
        ("flags", c_uint),
        ("entries", RaftUpdateEntries),
        ("snapshot", RaftUpdateSnapshot),
        ("messages", RaftUpdateMessages),
    ]


# --- Tracing and heap (docs/contract.md#tracing, #memory) ------------------------------------


class RaftTracer(Structure):
    pass


TRACER_EMIT = CFUNCTYPE(None, POINTER(RaftTracer), c_int, c_void_p)
RaftTracer._fields_ = [("impl", c_void_p), ("version", c_int), ("emit", TRACER_EMIT)]


class RaftTracerDiagnostic(Structure):
    _fields_ = [("level", c_int), ("message", c_char_p), ("file", c_char_p), ("line", c_int)]


class _RaftTracerInfoUnion(Union):
    _fields_ = [("diagnostic", RaftTracerDiagnostic)]


class RaftTracerInfo(Structure):
    _anonymous_ = ("u",)
    _fields_ = [("version", c_int), ("u", _RaftTracerInfoUnion)]


HEAP_MALLOC = CFUNCTYPE(c_void_p, c_void_p, c_size_t)
HEAP_FREE = CFUNCTYPE(None, c_void_p, c_void_p)
HEAP_CALLOC = CFUNCTYPE(c_void_p, c_void_p, c_size_t, c_size_t)
HEAP_REALLOC = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_size_t)
HEAP_ALIGNED_ALLOC = CFUNCTYPE(c_void_p, c_void_p, c_size_t, c_size_t)
HEAP_ALIGNED_FREE = CFUNCTYPE(None, c_void_p, c_size_t, c_void_p)


class RaftHeap(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("malloc", HEAP_MALLOC),
        ("free", HEAP_FREE),
        ("calloc", HEAP_CALLOC),
        ("realloc", HEAP_REALLOC),
        ("aligned_alloc", HEAP_ALIGNED_ALLOC),
        ("aligned_free", HEAP_ALIGNED_FREE),
    ]


# --- The instance (docs/contract.md#layout) --------------------------------------------------


class RaftStruct(Structure):
    """``struct raft`` as our header declares it (C-Raft's default 992-byte layout).

    The members the binding reads are named (the library keeps ``current_term`` and
    ``voted_for`` current after every step); members starting with ``_`` are storage the
    binding never touches. ctypes objects never move, which satisfies "do not move an
    instance".
    """

    _fields_ = [
        ("data", c_void_p),
        ("tracer", POINTER(RaftTracer)),
        ("io", c_void_p),
        ("fsm", c_void_p),
        ("id", raft_id),
        ("address", c_char_p),
        ("current_term", raft_term),
        ("voted_for", raft_id),
        ("_between", c_uint64 * 50),  # configuration .. max_catch_up_round_duration
        ("errmsg", c_char * RAFT_ERRMSG_BUF_SIZE),
        ("_tail", c_uint64 * 34),  # pre_vote .. the library's private words
    ]


class LibraryNotFound(ImportError):
    """No libraft-rs ``libraft.so.0`` could be loaded (see :func:`library_candidates`)."""


def _pkg_config_libdir() -> Optional[str]:
    """The ``libdir`` of an installed ``raft.pc`` (PKG_CONFIG_PATH is honoured), if any."""
    try:
        out = subprocess.run(
            ["pkg-config", "--variable=libdir", "raft"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    libdir = out.stdout.strip()
    return libdir if out.returncode == 0 and libdir else None


def library_candidates() -> List[str]:
    """Where the library is looked for, in order: ``RAFT_LIBRARY`` (a path, which wins alone),
    the ``libdir`` of pkg-config's ``raft`` package, then the system loader's
    ``libraft.so.0``."""
    override = os.environ.get("RAFT_LIBRARY")
    if override:
        return [override]
    candidates = []
    libdir = _pkg_config_libdir()
    if libdir:
        candidates.append(os.path.join(libdir, "libraft.so.0"))
    candidates.append("libraft.so.0")
    return candidates


def _load(candidates: Optional[List[str]] = None) -> ctypes.CDLL:
    """The first of ``candidates`` (by default ``library_candidates()``) that loads and is
    libraft-rs. A C-Raft ``libraft`` (Debian's ``libraft.so.2``, or C-Raft's own
    ``libraft.so.0``) lacks ``raft_metrics_json`` and is passed over, since the binding relies
    on this library's contract. Raises ``LibraryNotFound`` naming every candidate and why it
    failed."""
    tried = []
    for path in library_candidates() if candidates is None else candidates:
        try:
            candidate = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
            continue
        if hasattr(candidate, "raft_metrics_json"):
            return candidate
        tried.append(f"{path}: not libraft-rs (no raft_metrics_json)")
    raise LibraryNotFound(
        "libraft-rs not found; install it (make install) so that pkg-config finds raft.pc, "
        "or set RAFT_LIBRARY to the path of libraft.so. Tried: " + "; ".join(tried)
    )


lib = _load()

_R = POINTER(RaftStruct)

_SIGNATURES = {
    "raft_strerror": (c_char_p, [c_int]),
    "raft_version_number": (c_int, []),
    "raft_state_name": (c_char_p, [c_int]),
    "raft_role_name": (c_char_p, [c_int]),
    "raft_malloc": (c_void_p, [c_size_t]),
    "raft_free": (None, [c_void_p]),
    "raft_heap_set": (None, [POINTER(RaftHeap)]),
    "raft_heap_set_default": (None, []),
    "raft_heap_get": (POINTER(RaftHeap), []),
    "raft_configuration_init": (None, [POINTER(RaftConfiguration)]),
    "raft_configuration_close": (None, [POINTER(RaftConfiguration)]),
    "raft_configuration_add": (c_int, [POINTER(RaftConfiguration), raft_id, c_char_p, c_int]),
    "raft_configuration_encode": (c_int, [POINTER(RaftConfiguration), POINTER(RaftBuffer)]),
    "raft_configuration_decode": (c_int, [POINTER(RaftBuffer), POINTER(RaftConfiguration)]),
    "raft_digest": (c_ulonglong, [c_char_p, c_ulonglong]),
    "raft_random": (c_uint, [POINTER(c_uint), c_uint, c_uint]),
    # Instances.
    "raft_init": (c_int, [_R, c_void_p, c_void_p, raft_id, c_char_p]),
    "raft_close": (None, [_R, c_void_p]),
    "raft_seed": (None, [_R, c_uint]),
    "raft_step": (c_int, [_R, POINTER(RaftEvent), POINTER(RaftUpdate)]),
    "raft_set_election_timeout": (None, [_R, c_uint]),
    "raft_set_heartbeat_timeout": (None, [_R, c_uint]),
    "raft_set_install_snapshot_timeout": (None, [_R, c_uint]),
    "raft_set_pre_vote": (None, [_R, c_bool]),
    "raft_set_max_catch_up_rounds": (None, [_R, c_uint]),
    "raft_set_max_catch_up_round_duration": (None, [_R, c_uint]),
    "raft_set_max_inflight_entries": (None, [_R, c_uint]),
    "raft_set_capacity_threshold": (None, [_R, c_ushort]),
    "raft_set_read_lease": (None, [_R, c_bool, c_uint]),
    "raft_set_snapshot_chunks": (c_int, [_R, c_ulonglong, c_uint]),
    "raft_set_snapshot_length": (c_int, [_R, raft_index, c_ulonglong]),
    "raft_update_reads": (c_int, [_R, POINTER(POINTER(RaftReadResult)), POINTER(c_uint)]),
    "raft_current_term": (raft_term, [_R]),
    "raft_voted_for": (raft_id, [_R]),
    "raft_commit_index": (raft_index, [_R]),
    "raft_timeout": (raft_time, [_R]),
    "raft_match_index": (c_int, [_R, raft_id, POINTER(raft_index)]),
    "raft_catch_up": (c_int, [_R, raft_id, POINTER(c_int)]),
    "raft_transferee": (raft_id, [_R]),
    "raft_state": (c_int, [_R]),
    "raft_role": (c_int, [_R]),
    "raft_leader": (None, [_R, POINTER(raft_id), POINTER(c_char_p)]),
    "raft_last_index": (raft_index, [_R]),
    "raft_errmsg": (c_char_p, [_R]),
}

for _name, (_restype, _argtypes) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes


class RaftError(Exception):
    """A failed library call: ``code`` is the RAFT_* value, ``message`` the detail."""

    def __init__(self, code: int, message: str = ""):
        self.code = code
        self.message = message or lib.raft_strerror(code).decode()
        super().__init__(f"{self.message} (code {code})")


def check(code: int, message: str = "") -> None:
    """Raises RaftError for a non-zero code."""
    if code != 0:
        raise RaftError(code, message)
