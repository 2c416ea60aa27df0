"""A linearizability checker for key-value histories, one register per key.

A history is a list of operations, each a ``put`` of a unique value or a ``get`` that returned a
value (``None``: the key was absent), with the monotonic times at which the client invoked it
and saw it complete. An operation whose outcome is unknown (the client timed out or lost its
connection: Jepsen's ``:info``) may have taken effect at any point after its invocation, or
never: it gets completion time +infinity, which lets the search place it anywhere after its
invocation, including after everything else (the same as never, for a register whose values are
unique). Unknown reads say nothing and are dropped by the caller.

Registers are independent, so the history is checked key by key (P-compositionality). For each
key the search is the one of Wing & Gong with Lowe's memoisation, as Porcupine implements it:
walk the call/return events in time order; at a call, try to linearize that operation now
(apply it to the register; a get must return the register's value); at a return whose
operation is not linearized yet, backtrack. A (set of linearized operations, register value)
pair seen before is not explored again. The history is linearizable iff every operation gets
linearized.
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

INFINITY = float("inf")


@dataclass
class Op:
    """One client operation on `key`: kind "put" (value written) or "get" (value read)."""

    key: str
    kind: str
    value: Optional[str]
    invoke: float
    complete: float = INFINITY  # INFINITY: unknown outcome (a put that may or may not apply)
    client: int = 0


@dataclass
class Verdict:
    ok: bool
    key: Optional[str] = None  # the first key whose history is not linearizable (or undecided)
    ops: int = 0
    undecided: bool = False  # the search for `key` ran out of budget: not a proof either way


class _Entry:
    """A call or return event in the doubly linked list the search lifts operations out of."""

    __slots__ = ("op", "index", "is_call", "time", "match", "prev", "next")

    def __init__(self, op, index, is_call, time):
        self.op, self.index, self.is_call, self.time = op, index, is_call, time
        self.match = self.prev = self.next = None


def _events(ops: List[Op]) -> _Entry:
    """The call and return events of `ops` in time order, in a list with a sentinel head.
    At equal times returns come first: an operation that completed at t did not overlap one
    invoked at t."""
    events = []
    for i, op in enumerate(ops):
        call, ret = _Entry(op, i, True, op.invoke), _Entry(op, i, False, op.complete)
        call.match = ret
        events += [call, ret]
    events.sort(key=lambda e: (e.time, e.is_call))
    head = _Entry(None, -1, False, -INFINITY)
    prev = head
    for e in events:
        prev.next, e.prev = e, prev
        prev = e
    return head


def _lift(call: _Entry) -> None:
    call.prev.next = call.next
    call.next.prev = call.prev
    ret = call.match
    ret.prev.next = ret.next
    if ret.next is not None:
        ret.next.prev = ret.prev


def _unlift(call: _Entry) -> None:
    ret = call.match
    ret.prev.next = ret
    if ret.next is not None:
        ret.next.prev = ret
    call.prev.next = call
    call.next.prev = call


def _apply(state, op: Op) -> Tuple[bool, Optional[str]]:
    """The register's step: a put sets it; a get must see it."""
    if op.kind == "put":
        return True, op.value
    return op.value == state, state


def without_unobserved_unknown_writes(ops: List[Op]) -> List[Op]:
    """Drops the writes of unknown outcome whose value no read returned. They never constrain
    the others (each can go last, or nowhere: values are unique) and inserting one anywhere
    else can only break reads, so the verdict is the same, and the search no longer tries
    every subset of them (2^n for n unknown writes when the history is not linearizable)."""
    seen = {op.value for op in ops if op.kind == "get"}
    return [op for op in ops
            if not (op.kind == "put" and op.complete == INFINITY and op.value not in seen)]


class Undecided(Exception):
    """The search for one register took more than its budget of steps."""


def check_register(ops: List[Op], budget: int = 20_000_000) -> bool:
    """Whether the operations of one register (initially absent) are linearizable. Raises
    Undecided after `budget` search steps (the search is exponential in the worst case)."""
    ops = without_unobserved_unknown_writes(ops)
    if not ops:
        return True
    head = _events(ops)
    state = None
    linearized = 0
    seen = set()
    stack: List[Tuple[_Entry, Optional[str]]] = []
    entry = head.next
    while head.next is not None:
        budget -= 1
        if budget < 0:
            raise Undecided(f"{len(ops)} operations")
        if entry.is_call:
            ok, new_state = _apply(state, entry.op)
            if ok:
                bit = 1 << entry.index
                key = (linearized | bit, new_state)
                if key not in seen:
                    seen.add(key)
                    stack.append((entry, state))
                    state, linearized = new_state, linearized | bit
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # The operation of this return is not linearized, and everything before it is
            # tried: undo the latest choice.
            if not stack:
                return False
            call, state = stack.pop()
            linearized &= ~(1 << call.index)
            _unlift(call)
            entry = call.next
    return True


def check(history: Iterable[Op]) -> Verdict:
    """Checks a whole history key by key; reports the first key that fails."""
    by_key: Dict[str, List[Op]] = {}
    n = 0
    for op in history:
        by_key.setdefault(op.key, []).append(op)
        n += 1
    for key in sorted(by_key):
        try:
            if not check_register(by_key[key]):
                return Verdict(False, key, n)
        except Undecided:
            return Verdict(False, key, n, undecided=True)
    return Verdict(True, None, n)
