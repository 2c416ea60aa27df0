"""Python binding of libraft-rs through ctypes.

The library is found through the ``RAFT_LIBRARY`` environment variable (a path to
``libraft.so``), else the system's ``libraft.so.0``.
"""

from ._lib import lib, RaftError, check
from .configuration import Configuration, Server, STANDBY, VOTER, SPARE

__all__ = [
    "lib",
    "RaftError",
    "check",
    "strerror",
    "version_number",
    "Configuration",
    "Server",
    "STANDBY",
    "VOTER",
    "SPARE",
]


def strerror(code: int) -> str:
    """The library's text for an error code (C-Raft's strings)."""
    return lib.raft_strerror(code).decode()


def version_number() -> int:
    return lib.raft_version_number()
