"""A Raft server instance: the owner of one ``struct raft``, driven by ``step``.

The binding converts at the boundary in both directions, so that no library memory ever
escapes into Python objects (docs/contract.md#events, #the-update):

- Events: Python objects are turned into C structs for the duration of one ``raft_step``.
  Memory whose ownership the library may take (the batch of a received AppendEntries, the data
  of a received InstallSnapshot, the payloads of SUBMIT) is allocated with ``raft_malloc``; on
  success it belongs to the library (which frees it or hands it back in the update), on error
  the binding frees it. Everything else (entry arrays, configurations, metadata) stays the
  binding's and is released after the call whatever its outcome.
- Updates: entries, snapshot and messages are copied into Python objects before ``step``
  returns; then every entry batch (once per distinct pointer), the entries array, the snapshot
  configuration and chunk are released. Messages point into the instance and die at the next
  step, which is why they are converted at once.
"""

import ctypes
from ctypes import POINTER, byref, c_char_p, c_int, c_uint, c_void_p, cast, string_at
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from . import events as ev
from . import messages as msgs
from ._lib import (
    TRACER_EMIT,
    RaftBuffer,
    RaftEntry,
    RaftError,
    RaftEvent,
    RaftMessage,
    RaftReadResult,
    RaftSnapshotMetadata,
    RaftStruct,
    RaftTracer,
    RaftTracerInfo,
    RaftUpdate,
    check,
    lib,
    raft_id,
    raft_index,
)
from .configuration import Configuration
from .types import CatchUpStatus, Entry, EntryType, SnapshotMetadata, State

RAFT_NOMEM = 1
RAFT_TRACER_DIAGNOSTIC = 1
TRACER_VERSION = 2

UPDATE_CURRENT_TERM = 1 << 0
UPDATE_VOTED_FOR = 1 << 1
UPDATE_ENTRIES = 1 << 2
UPDATE_SNAPSHOT = 1 << 3
UPDATE_MESSAGES = 1 << 4
UPDATE_STATE = 1 << 5
UPDATE_COMMIT_INDEX = 1 << 6
UPDATE_TIMEOUT = 1 << 7
UPDATE_READS = 1 << 8


@dataclass(frozen=True)
class ReadResult:
    """What became of a read (``events.Read``): ``status`` 0 means serve it once the state
    machine applied up to ``index``; RAFT_LEADERSHIPLOST means ask the new leader."""

    id: int
    index: int
    status: int


@dataclass(frozen=True)
class SnapshotUpdate:
    """A snapshot received from the leader, to be stored and then acknowledged with
    ``PersistedSnapshot(metadata, offset, last)``."""

    metadata: SnapshotMetadata
    offset: int
    chunk: bytes
    last: bool


@dataclass
class Update:
    """What a step asks the host to do, in the order of docs/contract.md#update-order."""

    flags: int = 0
    term_changed: bool = False  # persist current_term ...
    vote_changed: bool = False  # ... and voted_for, before sending anything
    entries_index: int = 0  # index of entries[0]; the host drops its log from there first
    entries: List[Entry] = field(default_factory=list)
    snapshot: Optional[SnapshotUpdate] = None
    messages: List[msgs.Message] = field(default_factory=list)
    state_changed: bool = False
    commit_index_changed: bool = False
    timeout_changed: bool = False
    reads: List[ReadResult] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnostic:
    """A trace message from the library (level: 1 error .. 5 trace)."""

    level: int
    message: str
    file: str
    line: int


def _text(raw: Optional[bytes]) -> str:
    return raw.decode(errors="replace") if raw else ""


def _bytes_at(address: Optional[int], length: int) -> bytes:
    """A copy of C memory; an empty buffer may have a NULL base."""
    return string_at(address, length) if length else b""


def _entry_type(value: int):
    try:
        return EntryType(value)
    except ValueError:
        return value


def _raft_malloc(size: int) -> int:
    # raft_malloc(0) may legally return NULL, but a batch must be non-NULL: ask for 1 byte.
    ptr = lib.raft_malloc(max(size, 1))
    if not ptr:
        raise RaftError(RAFT_NOMEM)
    return ptr


class _Scratch:
    """Memory lent to the library for one step.

    ``keep`` holds ctypes objects alive until the call returns; ``owned`` lists raft heap
    blocks that pass to the library only if the step succeeds; ``confs`` lists configurations
    filled through the library, closed after the call in every case.
    """

    def __init__(self):
        self.keep: list = []
        self.owned: List[int] = []
        self.confs: list = []

    def configuration(self, conf: Optional[Configuration]):
        c = (conf or Configuration()).to_c()
        self.confs.append(c)
        return c

    def payload(self, data: bytes) -> RaftBuffer:
        """A copy of ``data`` on the raft heap, which the library takes over when a receive
        succeeds (and is freed with the scratch otherwise)."""
        base = _raft_malloc(len(data))
        self.owned.append(base)
        ctypes.memmove(base, data, len(data))
        return RaftBuffer(base, len(data))

    def metadata(self, meta: SnapshotMetadata) -> RaftSnapshotMetadata:
        return RaftSnapshotMetadata(
            meta.index, meta.term, self.configuration(meta.configuration), meta.configuration_index
        )

    def entries(self, entries: List[Entry], on_raft_heap: bool):
        """A C array of ``entries`` whose payloads share one batch; NULL when empty."""
        if not entries:
            return None
        total = sum(len(e.data) for e in entries)
        if on_raft_heap:
            base = _raft_malloc(total)
            self.owned.append(base)
        else:
            block = ctypes.create_string_buffer(max(total, 1))
            self.keep.append(block)
            base = ctypes.addressof(block)
        array = (RaftEntry * len(entries))()
        self.keep.append(array)
        offset = 0
        for i, e in enumerate(entries):
            ctypes.memmove(base + offset, e.data, len(e.data))
            array[i].term = e.term
            array[i].type = int(e.type)
            array[i].buf.base = base + offset
            array[i].buf.len = len(e.data)
            array[i].batch = base
            offset += len(e.data)
        return cast(array, POINTER(RaftEntry))

    def release(self) -> None:
        for ptr in self.owned:
            lib.raft_free(ptr)
        self.owned.clear()
        for c in self.confs:
            lib.raft_configuration_close(byref(c))
        self.confs.clear()
        self.keep.clear()


def _message_to_c(m: msgs.Message, scratch: _Scratch) -> RaftMessage:
    c = RaftMessage()
    c.type = m.TYPE
    c.server_id = m.server_id
    # ctypes keeps the bytes object alive as long as `c`, which outlives the step (the library
    # copies the addresses it keeps: docs/contract.md#raft_receive).
    c.server_address = m.server_address.encode()
    if isinstance(m, msgs.AppendEntries):
        if m.entries and m.n_entries not in (0, len(m.entries)):
            raise ValueError(f"AppendEntries: n_entries {m.n_entries} but {len(m.entries)} entries")
        if m.n_entries and not m.entries:
            raise ValueError("AppendEntries: entries not attached")
        a = c.append_entries
        a.version, a.term = m.version, m.term
        a.prev_log_index, a.prev_log_term = m.prev_log_index, m.prev_log_term
        a.leader_commit = m.leader_commit
        a.entries = scratch.entries(m.entries, on_raft_heap=True)
        a.n_entries = len(m.entries)
        a.read_round = m.read_round
    elif isinstance(m, msgs.AppendEntriesResult):
        r = c.append_entries_result
        r.version, r.term, r.rejected = m.version, m.term, m.rejected
        r.last_log_index, r.features, r.capacity = m.last_log_index, m.features, m.capacity
        r.read_echo = m.read_echo
    elif isinstance(m, msgs.RequestVote):
        v = c.request_vote
        v.version, v.term, v.candidate_id = m.version, m.term, m.candidate_id
        v.last_log_index, v.last_log_term = m.last_log_index, m.last_log_term
        v.disrupt_leader, v.pre_vote = m.disrupt_leader, m.pre_vote
    elif isinstance(m, msgs.RequestVoteResult):
        r = c.request_vote_result
        r.version, r.term = m.version, m.term
        r.vote_granted, r.pre_vote = m.vote_granted, m.pre_vote
        r.features, r.capacity = m.features, m.capacity
    elif isinstance(m, msgs.InstallSnapshot):
        s = c.install_snapshot
        s.version, s.term, s.last_index, s.last_term = m.version, m.term, m.last_index, m.last_term
        s.conf = scratch.configuration(m.conf)
        s.conf_index = m.conf_index
        s.data = scratch.payload(m.data or b"")
    elif isinstance(m, msgs.TimeoutNow):
        t = c.timeout_now
        t.version, t.term = m.version, m.term
        t.last_log_index, t.last_log_term = m.last_log_index, m.last_log_term
    elif isinstance(m, msgs.ReadIndex):
        r = c.read_index
        r.version, r.term, r.id = m.version, m.term, m.id
    elif isinstance(m, msgs.ReadIndexResult):
        r = c.read_index_result
        r.version, r.term, r.id, r.index = m.version, m.term, m.id, m.index
    elif isinstance(m, msgs.InstallSnapshotChunk):
        s = c.install_snapshot_chunk
        s.version, s.term, s.last_index, s.last_term = m.version, m.term, m.last_index, m.last_term
        s.chunk, s.last, s.conf_index = m.chunk, m.last, m.conf_index
        s.conf = scratch.configuration(m.conf) if m.last else s.conf
        s.data = scratch.payload(m.data or b"")
    elif isinstance(m, msgs.InstallSnapshotChunkResult):
        r = c.install_snapshot_chunk_result
        r.version, r.term, r.last_index, r.next_chunk = m.version, m.term, m.last_index, m.next_chunk
        r.gap = int(m.gap)
    else:
        raise TypeError(f"not a message: {m!r}")
    return c


def _message_from_c(c: RaftMessage) -> msgs.Message:
    common = dict(server_id=c.server_id, server_address=_text(c.server_address))
    if c.type == msgs.APPEND_ENTRIES:
        a = c.append_entries
        return msgs.AppendEntries(
            **common, term=a.term, prev_log_index=a.prev_log_index, prev_log_term=a.prev_log_term,
            leader_commit=a.leader_commit, n_entries=a.n_entries, version=a.version,
            read_round=a.read_round,
        )
    if c.type == msgs.APPEND_ENTRIES_RESULT:
        r = c.append_entries_result
        return msgs.AppendEntriesResult(
            **common, term=r.term, rejected=r.rejected, last_log_index=r.last_log_index,
            features=r.features, capacity=r.capacity, version=r.version, read_echo=r.read_echo,
        )
    if c.type == msgs.REQUEST_VOTE:
        v = c.request_vote
        return msgs.RequestVote(
            **common, term=v.term, candidate_id=v.candidate_id, last_log_index=v.last_log_index,
            last_log_term=v.last_log_term, disrupt_leader=v.disrupt_leader, pre_vote=v.pre_vote,
            version=v.version,
        )
    if c.type == msgs.REQUEST_VOTE_RESULT:
        r = c.request_vote_result
        return msgs.RequestVoteResult(
            **common, term=r.term, vote_granted=r.vote_granted, pre_vote=r.pre_vote,
            features=r.features, capacity=r.capacity, version=r.version,
        )
    if c.type == msgs.INSTALL_SNAPSHOT:
        s = c.install_snapshot
        return msgs.InstallSnapshot(
            **common, term=s.term, last_index=s.last_index, last_term=s.last_term,
            conf_index=s.conf_index, version=s.version,
        )
    if c.type == msgs.TIMEOUT_NOW:
        t = c.timeout_now
        return msgs.TimeoutNow(
            **common, term=t.term, last_log_index=t.last_log_index, last_log_term=t.last_log_term,
            version=t.version,
        )
    if c.type == msgs.READ_INDEX:
        r = c.read_index
        return msgs.ReadIndex(**common, term=r.term, id=r.id, version=r.version)
    if c.type == msgs.READ_INDEX_RESULT:
        r = c.read_index_result
        return msgs.ReadIndexResult(
            **common, term=r.term, id=r.id, index=r.index, version=r.version
        )
    if c.type == msgs.INSTALL_SNAPSHOT_CHUNK:
        s = c.install_snapshot_chunk
        return msgs.InstallSnapshotChunk(
            **common, term=s.term, last_index=s.last_index, last_term=s.last_term,
            conf_index=s.conf_index, chunk=s.chunk, last=bool(s.last), length=s.data.len,
            version=s.version,
        )
    if c.type == msgs.INSTALL_SNAPSHOT_CHUNK_RESULT:
        r = c.install_snapshot_chunk_result
        return msgs.InstallSnapshotChunkResult(
            **common, term=r.term, last_index=r.last_index, next_chunk=r.next_chunk,
            gap=bool(r.gap), version=r.version,
        )
    raise ValueError(f"unknown message type {c.type}")


def _update_from_c(u: RaftUpdate) -> Update:
    """Copies an update into Python objects and releases what it handed to the host."""
    flags = u.flags
    out = Update(
        flags=flags,
        term_changed=bool(flags & UPDATE_CURRENT_TERM),
        vote_changed=bool(flags & UPDATE_VOTED_FOR),
        state_changed=bool(flags & UPDATE_STATE),
        commit_index_changed=bool(flags & UPDATE_COMMIT_INDEX),
        timeout_changed=bool(flags & UPDATE_TIMEOUT),
    )
    try:
        if flags & UPDATE_ENTRIES:
            out.entries_index = u.entries.index
            out.entries = [
                Entry(e.term, _entry_type(e.type), _bytes_at(e.buf.base, e.buf.len))
                for e in u.entries.batch[: u.entries.n]
            ]
        if flags & UPDATE_SNAPSHOT:
            s = u.snapshot
            meta = SnapshotMetadata(
                s.metadata.index,
                s.metadata.term,
                Configuration.from_c(s.metadata.configuration),
                s.metadata.configuration_index,
            )
            chunk = _bytes_at(s.chunk.base, s.chunk.len)
            out.snapshot = SnapshotUpdate(meta, s.offset, chunk, s.last)
        # `messages` is always written (n may be 0), whether or not its flag is set.
        out.messages = [_message_from_c(u.messages.batch[i]) for i in range(u.messages.n)]
    finally:
        # Runs even if a conversion failed, so that nothing handed over leaks.
        if flags & UPDATE_ENTRIES:
            freed = set()
            for e in u.entries.batch[: u.entries.n]:
                if e.batch and e.batch not in freed:  # entries of one batch share the pointer
                    freed.add(e.batch)
                    lib.raft_free(e.batch)
            lib.raft_free(cast(u.entries.batch, c_void_p))
        if flags & UPDATE_SNAPSHOT:
            lib.raft_configuration_close(byref(u.snapshot.metadata.configuration))
            lib.raft_free(u.snapshot.chunk.base)
    return out


def _fill_event(event: ev.Event, c: RaftEvent, scratch: _Scratch) -> None:
    if isinstance(event, ev.Start):
        s = c.start
        s.term, s.voted_for = event.term, event.voted_for
        if event.snapshot is not None:
            meta = scratch.metadata(event.snapshot)
            scratch.keep.append(meta)
            s.metadata = ctypes.pointer(meta)
        start_index = event.start_index
        if start_index is None:
            start_index = event.snapshot.index + 1 if event.snapshot else 1
        s.start_index = start_index
        # START borrows the entries: host memory is fine (docs/contract.md#raft_start).
        s.entries = scratch.entries(event.entries, on_raft_heap=False)
        s.n_entries = len(event.entries)
    elif isinstance(event, ev.Receive):
        m = _message_to_c(event.message, scratch)
        scratch.keep.append(m)
        c.receive.message = ctypes.pointer(m)
    elif isinstance(event, ev.PersistedEntries):
        c.persisted_entries.index = event.index
    elif isinstance(event, ev.PersistedSnapshot):
        p = c.persisted_snapshot
        p.metadata = scratch.metadata(event.metadata)
        p.offset, p.last = event.offset, event.last
    elif isinstance(event, ev.Configuration):
        c.configuration.index = event.index
        c.configuration.conf = scratch.configuration(event.conf)
    elif isinstance(event, ev.Snapshot):
        c.snapshot.metadata = scratch.metadata(event.metadata)
        c.snapshot.trailing = event.trailing
    elif isinstance(event, ev.Submit):
        # Payloads go on the raft heap: on success they come back in RAFT_UPDATE_ENTRIES.
        c.submit.entries = scratch.entries(event.entries, on_raft_heap=True)
        c.submit.n = len(event.entries)
    elif isinstance(event, ev.CatchUp):
        c.catch_up.server_id = event.server_id
    elif isinstance(event, ev.Transfer):
        c.transfer.server_id = event.server_id
    elif isinstance(event, ev.Read):
        c.read.id = event.id
    elif not isinstance(event, ev.Timeout):
        raise TypeError(f"not an event: {event!r}")


class Raft:
    """One Raft server. Not thread-safe; call ``close()`` (or use ``with``) when done.

    ``seed`` initialises the instance's random generator (election timeouts); it defaults to
    the server ID so that servers differ and runs are reproducible.
    """

    def __init__(self, id: int, address: str, *, seed: Optional[int] = None):
        self._r = RaftStruct()
        self._p = ctypes.pointer(self._r)
        self._open = False
        self._tracer_fn: Optional[Callable[[Diagnostic], None]] = None
        self._tracer_keep = None
        check(lib.raft_init(self._p, None, None, id, address.encode()))
        self._open = True
        lib.raft_seed(self._p, (id if seed is None else seed) & 0xFFFFFFFF)

    # --- Lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Releases everything the library allocated for the instance. Idempotent."""
        if self._open:
            self._open = False
            lib.raft_close(self._p, None)
            self._tracer_keep = None

    def __enter__(self) -> "Raft":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # A safety net only: at interpreter exit `lib` may already be gone.
        try:
            self.close()
        except Exception:
            pass

    def _ptr(self):
        if not self._open:
            raise RuntimeError("the instance is closed")
        return self._p

    # --- Stepping -------------------------------------------------------------------------

    def step(self, event: ev.Event, time: int, capacity: int = 0) -> Update:
        """Feeds one event at ``time`` (ms, never decreasing) and returns the update.

        Raises RaftError (code and ``raft_errmsg`` text) on failure; the instance is then
        unchanged and everything the event carried has been released.
        """
        p = self._ptr()
        c = RaftEvent()
        c.time, c.type, c.capacity = time, event.TYPE, capacity
        scratch = _Scratch()
        try:
            _fill_event(event, c, scratch)
            update = RaftUpdate()
            rv = lib.raft_step(p, byref(c), byref(update))
            if rv != 0:
                raise RaftError(rv, _text(lib.raft_errmsg(p)))
            # Success: the library now owns the raft_malloc'd payloads (docs/contract.md#raft_receive).
            scratch.owned.clear()
            out = _update_from_c(update)
            if out.flags & UPDATE_READS:
                out.reads = self._reads()
            return out
        finally:
            scratch.release()

    # --- Accessors ------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """The server ID given at creation."""
        return self._r.id

    @property
    def address(self) -> str:
        """The server's address (the library's copy)."""
        return _text(self._r.address)

    @property
    def state(self) -> State:
        """Follower, candidate or leader."""
        return State(lib.raft_state(self._ptr()))

    @property
    def current_term(self) -> int:
        """The current term."""
        return lib.raft_current_term(self._ptr())

    @property
    def voted_for(self) -> int:
        """The server voted for in the current term, 0 for none."""
        return lib.raft_voted_for(self._ptr())

    @property
    def commit_index(self) -> int:
        """The highest index known to be committed."""
        return lib.raft_commit_index(self._ptr())

    @property
    def last_index(self) -> int:
        """Index of the last entry of the log (or of the snapshot when the log is empty)."""
        return lib.raft_last_index(self._ptr())

    @property
    def timeout(self) -> int:
        """Absolute time of the next Timeout event."""
        return lib.raft_timeout(self._ptr())

    @property
    def leader(self) -> Tuple[int, Optional[str]]:
        """(id, address) of the known leader, (0, None) when unknown."""
        leader_id, address = raft_id(), c_char_p()
        lib.raft_leader(self._ptr(), byref(leader_id), byref(address))
        return leader_id.value, address.value.decode() if address.value is not None else None

    @property
    def role(self) -> Optional[int]:
        """This server's role in the current configuration, None if it is not in it."""
        role = lib.raft_role(self._ptr())
        return None if role < 0 else role

    @property
    def transferee(self) -> int:
        """The target of a pending leadership transfer, or 0."""
        return lib.raft_transferee(self._ptr())

    @property
    def errmsg(self) -> str:
        """The message of the last failed call on this instance."""
        return _text(lib.raft_errmsg(self._ptr()))

    def match_index(self, server_id: int) -> int:
        """Leader only: the highest index known replicated on the server."""
        index = raft_index()
        p = self._ptr()
        rv = lib.raft_match_index(p, server_id, byref(index))
        if rv != 0:
            raise RaftError(rv, _text(lib.raft_errmsg(p)))
        return index.value

    def catch_up(self, server_id: int) -> CatchUpStatus:
        """Leader only: the catch-up status of the server (see the CatchUp event)."""
        status = c_int()
        p = self._ptr()
        rv = lib.raft_catch_up(p, server_id, byref(status))
        if rv != 0:
            raise RaftError(rv, _text(lib.raft_errmsg(p)))
        return CatchUpStatus(status.value)

    # --- Settings (immediate, produce no update: re-read ``timeout`` afterwards) ------------

    def seed(self, value: int) -> None:
        """Seeds the election timer's random generator (differently on every server)."""
        lib.raft_seed(self._ptr(), value & 0xFFFFFFFF)

    def set_election_timeout(self, msecs: int) -> None:
        """Base election timeout in ms (each reset draws in [T, 2T])."""
        lib.raft_set_election_timeout(self._ptr(), msecs)

    def set_heartbeat_timeout(self, msecs: int) -> None:
        """Interval between a leader's heartbeats, in ms."""
        lib.raft_set_heartbeat_timeout(self._ptr(), msecs)

    def set_install_snapshot_timeout(self, msecs: int) -> None:
        """How long a leader waits for an InstallSnapshot answer before probing again, in ms."""
        lib.raft_set_install_snapshot_timeout(self._ptr(), msecs)

    def set_pre_vote(self, enabled: bool) -> None:
        """Enables the pre-vote round before elections."""
        lib.raft_set_pre_vote(self._ptr(), enabled)

    def set_max_catch_up_rounds(self, n: int) -> None:
        """Most catch-up rounds before a slow server's catch-up is aborted."""
        lib.raft_set_max_catch_up_rounds(self._ptr(), n)

    def set_max_catch_up_round_duration(self, msecs: int) -> None:
        """Longest a catch-up round may last, in ms."""
        lib.raft_set_max_catch_up_round_duration(self._ptr(), msecs)

    def set_max_inflight_entries(self, n: int) -> None:
        """Most entries sent to one follower beyond its acknowledged index."""
        lib.raft_set_max_inflight_entries(self._ptr(), n)

    def set_snapshot_chunks(self, chunk_size: int, window: int = 4) -> None:
        """Streamed snapshots (docs/snapshots.md): chunks of ``chunk_size`` bytes, at most
        ``window`` unacknowledged; 0 sends and takes snapshots whole. Before the start."""
        p = self._ptr()
        rv = lib.raft_set_snapshot_chunks(p, chunk_size, window)
        if rv != 0:
            raise RaftError(rv, _text(lib.raft_errmsg(p)))

    def set_snapshot_length(self, index: int, length: int) -> None:
        """The length of the data of our latest snapshot (at ``index``), so that a leader can
        stream it. Raises RaftError for any other index."""
        p = self._ptr()
        rv = lib.raft_set_snapshot_length(p, index, length)
        if rv != 0:
            raise RaftError(rv, _text(lib.raft_errmsg(p)))

    def set_read_lease(self, enabled: bool, max_clock_drift: int = 100) -> None:
        """Serve reads from the leader lease (docs/reads.md); set it on every server."""
        lib.raft_set_read_lease(self._ptr(), enabled, max_clock_drift)

    def _reads(self) -> List[ReadResult]:
        results = POINTER(RaftReadResult)()
        n = c_uint()
        check(lib.raft_update_reads(self._ptr(), byref(results), byref(n)))
        return [ReadResult(r.id, r.index, r.status) for r in results[: n.value]]

    def set_capacity_threshold(self, minimum: int) -> None:
        """Refuse submissions when a majority of voters report less disk capacity than this (0: never)."""
        lib.raft_set_capacity_threshold(self._ptr(), minimum)

    # --- Tracing --------------------------------------------------------------------------

    @property
    def tracer(self) -> Optional[Callable[[Diagnostic], None]]:
        """The installed tracer function, or None."""
        return self._tracer_fn

    @tracer.setter
    def tracer(self, fn: Optional[Callable[[Diagnostic], None]]) -> None:
        """Installs ``fn(Diagnostic)`` as the tracer; None disables tracing altogether.

        The callable runs inside ``raft_step``: it must not step this instance (the library
        answers RAFT_BUSY), and an exception it raises cannot cross the C frames, so ctypes
        reports it as unraisable and the step goes on.
        """
        self._ptr()
        if fn is None:
            self._r.tracer = POINTER(RaftTracer)()
            self._tracer_fn = self._tracer_keep = None
            return

        def emit(_tracer, type_, info):
            if type_ != RAFT_TRACER_DIAGNOSTIC or not info:
                return
            d = cast(info, POINTER(RaftTracerInfo)).contents.diagnostic
            fn(Diagnostic(d.level, _text(d.message), _text(d.file), d.line))

        callback = TRACER_EMIT(emit)
        tracer = RaftTracer(None, TRACER_VERSION, callback)
        # The library keeps a raw pointer to `tracer`, which calls `callback`: both must live
        # as long as they are installed, so the instance holds them.
        self._tracer_keep = (tracer, callback)
        self._tracer_fn = fn
        self._r.tracer = ctypes.pointer(tracer)
