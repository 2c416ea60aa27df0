"""Loading libraft.so and declaring the C types and signatures used by the binding."""

import ctypes
import os
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_size_t,
    c_uint,
    c_ulonglong,
    c_void_p,
)

raft_id = c_ulonglong


class RaftBuffer(Structure):
    _fields_ = [("base", c_void_p), ("len", c_size_t)]


class RaftServer(Structure):
    _fields_ = [("id", raft_id), ("address", c_char_p), ("role", c_int)]


class RaftConfiguration(Structure):
    _fields_ = [("servers", POINTER(RaftServer)), ("n", c_uint)]


def _load() -> ctypes.CDLL:
    path = os.environ.get("RAFT_LIBRARY", "libraft.so.0")
    return ctypes.CDLL(path)


lib = _load()

_SIGNATURES = {
    "raft_strerror": (c_char_p, [c_int]),
    "raft_version_number": (c_int, []),
    "raft_malloc": (c_void_p, [c_size_t]),
    "raft_free": (None, [c_void_p]),
    "raft_configuration_init": (None, [POINTER(RaftConfiguration)]),
    "raft_configuration_close": (None, [POINTER(RaftConfiguration)]),
    "raft_configuration_add": (c_int, [POINTER(RaftConfiguration), raft_id, c_char_p, c_int]),
    "raft_configuration_encode": (c_int, [POINTER(RaftConfiguration), POINTER(RaftBuffer)]),
    "raft_configuration_decode": (c_int, [POINTER(RaftBuffer), POINTER(RaftConfiguration)]),
    "raft_digest": (c_ulonglong, [c_char_p, c_ulonglong]),
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
