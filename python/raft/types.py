"""Plain Python values exchanged with an instance: enums, log entries, snapshot metadata.

None of these hold library memory: the binding copies into and out of C structs at the
boundary, so hosts can keep them as long as they like.
"""

from dataclasses import dataclass, field
from enum import IntEnum

from .configuration import Configuration


class State(IntEnum):
    """The server's state: FOLLOWER, CANDIDATE or LEADER."""

    UNAVAILABLE = 0
    FOLLOWER = 1
    CANDIDATE = 2
    LEADER = 3


class EntryType(IntEnum):
    """The type of a log entry."""

    COMMAND = 1
    BARRIER = 2
    CHANGE = 3


class CatchUpStatus(IntEnum):
    """Where a server's catch-up stands."""

    NONE = 0
    RUNNING = 1
    ABORTED = 2
    FINISHED = 3


COMMAND, BARRIER, CHANGE = EntryType.COMMAND, EntryType.BARRIER, EntryType.CHANGE
FOLLOWER, CANDIDATE, LEADER = State.FOLLOWER, State.CANDIDATE, State.LEADER


@dataclass(frozen=True)
class Entry:
    """A log entry: its term, type (an EntryType value) and payload."""

    term: int
    type: int
    data: bytes = b""


@dataclass(frozen=True)
class SnapshotMetadata:
    """Last index and term a snapshot covers, and the configuration as of that index."""

    index: int
    term: int
    configuration: Configuration = field(default_factory=Configuration)
    configuration_index: int = 0
