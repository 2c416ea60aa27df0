"""A raft heap that counts and tracks allocations, for leak tests (docs/contract.md#memory).

Every block the library and the binding exchange goes through the raft heap, so installing
this heap around a run and checking ``live`` afterwards proves that each ``raft_malloc`` was
matched by a ``raft_free``. Blocks come from libc; only the bookkeeping is in Python.
"""

import ctypes
from ctypes import byref, c_size_t, c_void_p
from typing import Dict, List

from ._lib import (
    HEAP_ALIGNED_ALLOC,
    HEAP_ALIGNED_FREE,
    HEAP_CALLOC,
    HEAP_FREE,
    HEAP_MALLOC,
    HEAP_REALLOC,
    RaftHeap,
    lib,
)

_libc = ctypes.CDLL(None)
for _name, _restype, _argtypes in [
    ("malloc", c_void_p, [c_size_t]),
    ("calloc", c_void_p, [c_size_t, c_size_t]),
    ("realloc", c_void_p, [c_void_p, c_size_t]),
    ("aligned_alloc", c_void_p, [c_size_t, c_size_t]),
    ("free", None, [c_void_p]),
]:
    getattr(_libc, _name).restype = _restype
    getattr(_libc, _name).argtypes = _argtypes


class CountingHeap:
    """Use as ``with CountingHeap() as heap: ...``; then ``heap.live`` maps each block still
    allocated to its size, and ``heap.errors`` lists frees of unknown pointers.

    The heap is process-wide: install it only while no raft-heap memory is alive, and close
    every instance created under it before leaving the ``with`` block.
    """

    def __init__(self):
        self.live: Dict[int, int] = {}
        self.allocations = 0
        self.frees = 0
        self.errors: List[str] = []
        # The callbacks and the struct must outlive the installation: they are attributes.
        self._callbacks = (
            HEAP_MALLOC(self._malloc),
            HEAP_FREE(self._free),
            HEAP_CALLOC(self._calloc),
            HEAP_REALLOC(self._realloc),
            HEAP_ALIGNED_ALLOC(self._aligned_alloc),
            HEAP_ALIGNED_FREE(self._aligned_free),
        )
        self._heap = RaftHeap(None, *self._callbacks)

    def _track(self, ptr, size: int):
        if ptr:
            self.allocations += 1
            self.live[ptr] = size
        return ptr

    def _untrack(self, ptr) -> None:
        if ptr:
            self.frees += 1
            if self.live.pop(ptr, None) is None:
                self.errors.append(f"free of unknown pointer {ptr:#x}")

    def _malloc(self, _data, size):
        return self._track(_libc.malloc(size), size)

    def _calloc(self, _data, nmemb, size):
        return self._track(_libc.calloc(nmemb, size), nmemb * size)

    def _realloc(self, _data, ptr, size):
        new = _libc.realloc(ptr, size)
        if new or size == 0:  # on failure the old block is still allocated
            self._untrack(ptr)
            self._track(new, size)
        return new

    def _aligned_alloc(self, _data, alignment, size):
        return self._track(_libc.aligned_alloc(alignment, size), size)

    def _free(self, _data, ptr):
        self._untrack(ptr)
        _libc.free(ptr)

    def _aligned_free(self, _data, _alignment, ptr):
        self._untrack(ptr)
        _libc.free(ptr)

    def install(self) -> None:
        """Makes this the process-wide raft heap."""
        lib.raft_heap_set(byref(self._heap))

    @staticmethod
    def uninstall() -> None:
        """Restores the library's default heap (libc)."""
        lib.raft_heap_set_default()

    def __enter__(self) -> "CountingHeap":
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()
