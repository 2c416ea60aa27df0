"""Cluster configurations, encoded and decoded by the library."""

import ctypes
from dataclasses import dataclass
from typing import List

from ._lib import RaftBuffer, RaftConfiguration, check, lib

STANDBY, VOTER, SPARE = 0, 1, 2


@dataclass(frozen=True)
class Server:
    """One server of a configuration: its ID, address and role (VOTER, STANDBY or SPARE)."""

    id: int
    address: str
    role: int = VOTER


class Configuration:
    """A list of servers, with C-Raft's encoding."""

    def __init__(self, servers: List[Server] = ()):
        self.servers = list(servers)

    def to_c(self) -> RaftConfiguration:
        """A C configuration filled through the library (so its addresses and array live on the
        raft heap). The caller owns it and must release it with ``raft_configuration_close``."""
        conf = RaftConfiguration()
        lib.raft_configuration_init(ctypes.byref(conf))
        try:
            for s in self.servers:
                address = s.address.encode()
                check(lib.raft_configuration_add(ctypes.byref(conf), s.id, address, s.role))
        except BaseException:
            lib.raft_configuration_close(ctypes.byref(conf))
            raise
        return conf

    @classmethod
    def from_c(cls, conf: RaftConfiguration) -> "Configuration":
        """A copy of a C configuration (which stays owned by whoever owned it)."""
        servers = conf.servers[: conf.n] if conf.n else []
        return cls(Server(s.id, (s.address or b"").decode(), s.role) for s in servers)

    def encode(self) -> bytes:
        """C-Raft's byte encoding (the payload of a RAFT_CHANGE entry)."""
        conf = self.to_c()
        try:
            buf = RaftBuffer()
            check(lib.raft_configuration_encode(ctypes.byref(conf), ctypes.byref(buf)))
            try:
                return ctypes.string_at(buf.base, buf.len)
            finally:
                lib.raft_free(buf.base)
        finally:
            lib.raft_configuration_close(ctypes.byref(conf))

    @classmethod
    def decode(cls, data: bytes) -> "Configuration":
        """Decodes C-Raft's encoding; raises RaftError(RAFT_MALFORMED) on bad input."""
        raw = ctypes.create_string_buffer(data, len(data))
        buf = RaftBuffer(ctypes.cast(raw, ctypes.c_void_p), len(data))
        conf = RaftConfiguration()
        check(lib.raft_configuration_decode(ctypes.byref(buf), ctypes.byref(conf)))
        try:
            return cls.from_c(conf)
        finally:
            lib.raft_configuration_close(ctypes.byref(conf))

    def voters(self) -> List[int]:
        """The servers that vote."""
        return [s.id for s in self.servers if s.role == VOTER]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Configuration) and self.servers == other.servers

    def __repr__(self) -> str:
        return f"Configuration({self.servers!r})"
