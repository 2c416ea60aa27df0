"""RPC messages as Python objects (docs/contract.md#messages).

``server_id``/``server_address`` name the destination in a message taken from an update, and
MUST name the sender in a message passed to ``Receive``: a host routing a message rewrites
them, e.g. ``dataclasses.replace(msg, server_id=src.id, server_address=src.address)``.

Emitted AppendEntries carry ``n_entries`` but no entries: the host attaches the entries at
``prev_log_index + 1 .. prev_log_index + n_entries`` from its own log (the library keeps no
payloads). Emitted InstallSnapshot messages likewise carry no ``conf``/``data``: the host
attaches its latest snapshot. ``version`` defaults to what C-Raft writes; a host decoding a
wire message sets it from the encoding.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from .configuration import Configuration
from .types import Entry

APPEND_ENTRIES = 1
APPEND_ENTRIES_RESULT = 2
REQUEST_VOTE = 3
REQUEST_VOTE_RESULT = 4
INSTALL_SNAPSHOT = 5
TIMEOUT_NOW = 6
READ_INDEX = 7
READ_INDEX_RESULT = 8
INSTALL_SNAPSHOT_CHUNK = 9
INSTALL_SNAPSHOT_CHUNK_RESULT = 10


@dataclass(frozen=True, kw_only=True)
class Message:
    """Base of the RPC messages: the peer's ID and address (destination when sent, sender when received)."""

    server_id: int
    server_address: str
    term: int
    TYPE = 0  # the RAFT_* message type, set by each subclass


@dataclass(frozen=True, kw_only=True)
class RequestVote(Message):
    """A candidate asks for a vote (or a pre-vote)."""

    candidate_id: int
    last_log_index: int
    last_log_term: int
    disrupt_leader: bool = False
    pre_vote: bool = False
    version: int = 2
    TYPE = REQUEST_VOTE


@dataclass(frozen=True, kw_only=True)
class RequestVoteResult(Message):
    """The answer to a RequestVote."""

    vote_granted: bool
    pre_vote: bool = False
    features: int = 0
    capacity: int = 0
    version: int = 2
    TYPE = REQUEST_VOTE_RESULT


@dataclass(frozen=True, kw_only=True)
class AppendEntries(Message):
    """A leader's entries (or heartbeat) after prev_log_index."""

    prev_log_index: int
    prev_log_term: int
    leader_commit: int
    n_entries: int = 0
    # Empty in emitted messages; the host fills it (n_entries long) before delivery.
    entries: List[Entry] = field(default_factory=list)
    version: int = 0
    # The leader's read round (docs/reads.md): carry it to the follower unchanged.
    read_round: int = 0
    TYPE = APPEND_ENTRIES


@dataclass(frozen=True, kw_only=True)
class AppendEntriesResult(Message):
    """A follower's answer to AppendEntries."""

    rejected: int
    last_log_index: int
    features: int = 0
    capacity: int = 0
    version: int = 2
    # The read round echoed to the leader (docs/reads.md): carry it unchanged.
    read_echo: int = 0
    TYPE = APPEND_ENTRIES_RESULT


@dataclass(frozen=True, kw_only=True)
class InstallSnapshot(Message):
    """A leader's snapshot, whole."""

    last_index: int
    last_term: int
    conf_index: int
    # None in emitted messages; the host attaches its latest snapshot's configuration and data.
    conf: Optional[Configuration] = None
    data: Optional[bytes] = None
    version: int = 0
    TYPE = INSTALL_SNAPSHOT


@dataclass(frozen=True, kw_only=True)
class TimeoutNow(Message):
    """A leader asks the transfer's target to stand at once."""

    last_log_index: int
    last_log_term: int
    version: int = 0
    TYPE = TIMEOUT_NOW


@dataclass(frozen=True, kw_only=True)
class ReadIndex(Message):
    """A follower asks its leader to confirm read ``id`` (docs/reads.md)."""

    id: int
    version: int = 0
    TYPE = READ_INDEX


@dataclass(frozen=True, kw_only=True)
class ReadIndexResult(Message):
    """The leader's answer: the read index, or 0 when the read failed."""

    id: int
    index: int
    version: int = 0
    TYPE = READ_INDEX_RESULT


@dataclass(frozen=True, kw_only=True)
class InstallSnapshotChunk(Message):
    """Chunk ``chunk`` of the snapshot at ``last_index`` (docs/snapshots.md): bytes
    ``chunk * chunk_size .. + length`` of it. Emitted with ``data`` None and ``length`` set:
    the host attaches those bytes (and on the ``last`` chunk the configuration)."""

    last_index: int
    last_term: int
    conf_index: int
    chunk: int
    last: bool
    length: int = 0
    conf: Optional[Configuration] = None
    data: Optional[bytes] = None
    version: int = 0
    TYPE = INSTALL_SNAPSHOT_CHUNK


@dataclass(frozen=True, kw_only=True)
class InstallSnapshotChunkResult(Message):
    """A follower stored chunks ``0 .. next_chunk`` of the snapshot at ``last_index``;
    ``gap``: the chunk answered came after one it lacks (the leader resends at once)."""

    last_index: int
    next_chunk: int
    gap: bool = False
    version: int = 0
    TYPE = INSTALL_SNAPSHOT_CHUNK_RESULT
