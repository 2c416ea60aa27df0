"""Python binding of libraft-rs through ctypes.

The library is found through the ``RAFT_LIBRARY`` environment variable (a path to
``libraft.so``), else the ``libdir`` pkg-config reports for ``raft``, else the system
loader's ``libraft.so.0`` (see ``raft._lib.library_candidates``).

A host creates one ``Raft`` per server, feeds it events (``raft.events``) with
``Raft.step(event, time)`` and acts on the returned ``Update``: persist term and vote, store
entries, send messages (``raft.messages``), apply committed entries. See
``examples/python_cluster.py`` for a complete in-process host.
"""

from typing import Optional

from . import events, messages
from ._lib import LibraryNotFound, RaftError, check, lib
from ._version import __version__
from .configuration import SPARE, STANDBY, VOTER, Configuration, Server
from .events import (
    CatchUp,
    PersistedEntries,
    PersistedSnapshot,
    Read,
    Receive,
    Snapshot,
    Start,
    Submit,
    Timeout,
    Transfer,
)
from .events import Configuration as ConfigurationCommitted
from .heap import CountingHeap
from .instance import Diagnostic, Raft, ReadResult, SnapshotUpdate, Update
from .types import (
    BARRIER,
    CANDIDATE,
    CHANGE,
    COMMAND,
    FOLLOWER,
    LEADER,
    CatchUpStatus,
    Entry,
    EntryType,
    SnapshotMetadata,
    State,
)

__all__ = [
    "__version__",
    "LibraryNotFound",
    "lib",
    "RaftError",
    "check",
    "strerror",
    "version_number",
    "state_name",
    "role_name",
    "Configuration",
    "Server",
    "STANDBY",
    "VOTER",
    "SPARE",
    "events",
    "messages",
    "Start",
    "Receive",
    "PersistedEntries",
    "PersistedSnapshot",
    "ConfigurationCommitted",
    "Snapshot",
    "Timeout",
    "Submit",
    "CatchUp",
    "Transfer",
    "Read",
    "ReadResult",
    "Raft",
    "Update",
    "SnapshotUpdate",
    "Diagnostic",
    "CountingHeap",
    "Entry",
    "EntryType",
    "SnapshotMetadata",
    "State",
    "CatchUpStatus",
    "COMMAND",
    "BARRIER",
    "CHANGE",
    "FOLLOWER",
    "CANDIDATE",
    "LEADER",
]


def strerror(code: int) -> str:
    """The library's text for an error code (C-Raft's strings)."""
    return lib.raft_strerror(code).decode()


def version_number() -> int:
    """The library's ``raft_version_number()`` (C-Raft's scheme: major * 10000 + minor * 100 +
    release, e.g. 2201 for the 0.22.1 API it implements)."""
    return lib.raft_version_number()


def state_name(state: int) -> Optional[str]:
    """"follower", "candidate", "leader", or None."""
    name = lib.raft_state_name(state)
    return name.decode() if name is not None else None


def role_name(role: int) -> Optional[str]:
    """"stand-by", "voter", "spare", or None."""
    name = lib.raft_role_name(role)
    return name.decode() if name is not None else None
