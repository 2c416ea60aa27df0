"""Events passed to ``Raft.step`` (docs/contract.md#events), as Python objects.

The time and capacity common to all events are arguments of ``step`` rather than fields, so
one event object can be built before the host knows the time. Configuration is this module's
name for the ``RAFT_CONFIGURATION`` event; it is exported at package level as
``ConfigurationCommitted`` so as not to shadow ``raft.Configuration`` (a server list).
"""

from dataclasses import dataclass, field
from typing import List, Optional

from .configuration import Configuration as ServerList
from .messages import Message
from .types import Entry, SnapshotMetadata

START = 1
RECEIVE = 2
PERSISTED_ENTRIES = 3
PERSISTED_SNAPSHOT = 4
CONFIGURATION = 5
SNAPSHOT = 6
TIMEOUT = 7
SUBMIT = 8
CATCH_UP = 9
TRANSFER = 10
READ = 11


@dataclass(frozen=True)
class Event:
    """Base of the events a host steps; each subclass sets TYPE to its raft_event_type."""

    TYPE = 0


@dataclass(frozen=True)
class Start(Event):
    """The durable state: term, vote, latest snapshot (or None) and the log from start_index.

    start_index defaults to the index after the snapshot (1 without one)."""

    term: int = 0
    voted_for: int = 0
    snapshot: Optional[SnapshotMetadata] = None
    entries: List[Entry] = field(default_factory=list)
    start_index: Optional[int] = None
    TYPE = START


@dataclass(frozen=True)
class Receive(Event):
    """A message whose server_id/server_address name its sender."""

    message: Message
    TYPE = RECEIVE


@dataclass(frozen=True)
class PersistedEntries(Event):
    """Every entry up to ``index``, as last handed out, is durable."""

    index: int
    TYPE = PERSISTED_ENTRIES


@dataclass(frozen=True)
class PersistedSnapshot(Event):
    """The snapshot of an update (metadata, offset, last) is durable."""

    metadata: SnapshotMetadata
    offset: int = 0
    last: bool = True
    TYPE = PERSISTED_SNAPSHOT


@dataclass(frozen=True)
class Configuration(Event):
    """A RAFT_CHANGE entry at ``index`` is committed; ``conf`` is its decoded payload."""

    index: int
    conf: ServerList
    TYPE = CONFIGURATION


@dataclass(frozen=True)
class Snapshot(Event):
    """The host durably stored a snapshot; keep ``trailing`` entries before it."""

    metadata: SnapshotMetadata
    trailing: int = 0
    TYPE = SNAPSHOT


@dataclass(frozen=True)
class Timeout(Event):
    """The deadline ``Raft.timeout`` passed."""

    TYPE = TIMEOUT


@dataclass(frozen=True)
class Submit(Event):
    """New entries for a leader; each term must be the current term."""

    entries: List[Entry]
    TYPE = SUBMIT


@dataclass(frozen=True)
class CatchUp(Event):
    """Leader only: start catch-up rounds for server ``server_id``."""

    server_id: int
    TYPE = CATCH_UP


@dataclass(frozen=True)
class Transfer(Event):
    """Transfer leadership to ``server_id`` (0: let the library choose)."""

    server_id: int = 0
    TYPE = TRANSFER


@dataclass(frozen=True)
class Read(Event):
    """Leader only: a linearizable read named ``id`` (docs/reads.md). Its outcome comes back in
    ``Update.reads`` of this step or a later one; serve it once the state machine has applied
    up to its index."""

    id: int
    TYPE = READ
