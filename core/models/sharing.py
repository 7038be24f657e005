"""Sharing one loaded model among runs: turns batch by batch, and a per-run work limit.

Every run on a server uses the same loaded model (``LoadedModel.lock`` is a
:class:`ModelShare`). A run holds the model only while it uses it: for one
model call (``with share.turn():``) or for a loop of batches
(``with share.turns() as turns:`` and ``turns.next()`` before each batch), and
the share hands the model on at batch boundaries:

- a run that has used the model for less than ``PRIORITY_SECONDS`` goes before
  runs that have used it longer, the least-used first (ties: the earlier run):
  a short run waits for at most the batch in progress;
- runs past that take turns batch by batch (round robin), so a long run never
  shuts another long run out;
- a run with priority that gives the model back between two steps (generating
  the target, then scoring) keeps it reserved for ``GRACE_SECONDS``, so that it
  does not wait for another run's batch at every step.

A run is the thread doing it; ``with share.job():`` marks where it starts and
ends, and :meth:`ModelShare.place` tells a waiting run how many runs go before
it. Batches are independent, so a run's numbers are the same whether it shares
the model or not.

The work limit: inside ``with work_limit(n, what_to_lower, max_tokens=t):`` the scorer and the
gradient engine call :func:`plan_forward_passes`, :func:`plan_tokens` and :func:`plan_memory`
before their first batch, which refuse (``WorkLimitExceeded``, ``MemoryLimitExceeded``: sentences)
a run that needs more than n forward passes, more than t tokens through the model, or more memory
for one prompt than the scorer's budget (``WHYLM_MEMORY_BUDGET_MB``).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import Cancelled, WhyLMError

PRIORITY_SECONDS = 10.0
GRACE_SECONDS = 0.5
_POLL_SECONDS = 0.1


@dataclass
class _Run:
    """What the share knows of one run (one thread)."""

    started: int  # when the run started, in the share's order of events
    jobs: int = 0  # depth of ``job()`` scopes
    used: float = 0.0  # seconds the run has held the model
    asked: int | None = None  # when its pending request was made (None: not waiting)


class ModelShare:
    """Grants one model to one run at a time, batch by batch, least-used runs first.

    Also usable as ``with share:`` (hold the model for the whole block, as a lock).
    """

    def __init__(
        self, priority_seconds: float = PRIORITY_SECONDS, grace_seconds: float = GRACE_SECONDS
    ) -> None:
        self.priority_seconds = priority_seconds
        self.grace_seconds = grace_seconds
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._runs: dict[int, _Run] = {}
        self._holder: int | None = None
        self._depth = 0
        self._since = 0.0
        self._reserved: tuple[int, float] | None = None  # (thread, until when)

    # ------------------------------------------------------------ runs

    @contextmanager
    def job(self) -> Iterator[None]:
        """Mark the current thread's run from start to end (nests; holds nothing)."""
        me = threading.get_ident()
        with self._cond:
            self._run(me).jobs += 1
        try:
            yield
        finally:
            with self._cond:
                self._runs[me].jobs -= 1
                if not self._runs[me].jobs and self._reserved and self._reserved[0] == me:
                    self._reserved = None
                    self._cond.notify_all()
                self._forget(me)

    def place(self, thread_id: int) -> int | None:
        """Runs going before this thread's run: 0 while it holds the model, None when it is not waiting."""
        with self._cond:
            if self._holder == thread_id:
                return 0
            run = self._runs.get(thread_id)
            if run is None or run.asked is None:
                return None
            key = self._key(run)
            ahead = sum(1 for r in self._waiting() if r is not run and self._key(r) < key)
            return ahead + (self._holder is not None or self._reserved_against(run, thread_id))

    def holds(self) -> bool:
        """Whether the current thread holds the model."""
        with self._cond:
            return self._holder == threading.get_ident()

    def runs(self) -> int:
        """How many runs are using the model now, holding it or waiting for it or between batches."""
        with self._cond:
            return len(self._runs)

    # ------------------------------------------------------------ turns

    def acquire(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Wait for the model's turn (re-entrant); ``should_stop`` turning True raises ``Cancelled``."""
        me = threading.get_ident()
        with self._cond:
            if self._holder == me:
                self._depth += 1
                return
            self._wait_for_turn(self._run(me), me, 1, should_stop)

    def release(self) -> None:
        """Give the turn back (the outermost release hands the model on)."""
        me = threading.get_ident()
        with self._cond:
            if self._holder != me:
                raise RuntimeError("this thread does not hold the model")
            self._depth -= 1
            if self._depth:
                return
            run = self._runs[me]
            now = time.monotonic()
            run.used += now - self._since
            self._holder = None
            # a run between two steps keeps its priority for a moment (see _reserved_against)
            self._reserved = (me, now + self.grace_seconds) if run.jobs and self.grace_seconds > 0 else None
            self._cond.notify_all()
            self._forget(me)

    def checkpoint(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Between two batches of the holder: hand the model on when a run with priority over it waits."""
        me = threading.get_ident()
        with self._cond:
            if self._holder != me or self._depth > 1:  # deeper: held for a whole block up the stack
                return
            run = self._runs[me]
            now = time.monotonic()
            run.used += now - self._since
            self._since = now
            best = self._best()
            if best is None or not self._key(best) < self._key(run, holding=True):
                return
            self._holder, self._depth = None, 0
            self._cond.notify_all()
            self._wait_for_turn(run, me, 1, should_stop)

    @contextmanager
    def turn(self, should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
        """Hold the model for one step (a model call, a generation)."""
        self.acquire(should_stop)
        try:
            yield
        finally:
            self.release()

    @contextmanager
    def turns(self, should_stop: Callable[[], bool] | None = None) -> Iterator[Turns]:
        """A loop of batches: call ``next()`` before each; the model is handed on between them when due."""
        turns = Turns(self, should_stop)
        try:
            yield turns
        finally:
            turns.close()

    def __enter__(self) -> ModelShare:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------ internals (hold self._cond)

    def _run(self, me: int) -> _Run:
        if me not in self._runs:
            self._runs[me] = _Run(next(self._order))
        return self._runs[me]

    def _forget(self, me: int) -> None:
        run = self._runs.get(me)
        if run is not None and not run.jobs and run.asked is None and self._holder != me:
            del self._runs[me]

    def _waiting(self) -> list[_Run]:
        return [r for r in self._runs.values() if r.asked is not None]

    def _key(self, run: _Run, holding: bool = False) -> tuple[int, float, int]:
        """Order of service: the least-used run first while under the priority time, then round robin."""
        if run.used < self.priority_seconds:
            return (0, run.used, run.started)
        return (1, sys.maxsize if holding or run.asked is None else run.asked, 0)

    def _best(self) -> _Run | None:
        waiting = self._waiting()
        return min(waiting, key=self._key) if waiting else None

    def _reserved_against(self, run: _Run, me: int) -> bool:
        """Whether the model is kept for a moment for another run that has priority over this one."""
        if self._reserved is None or self._reserved[0] == me:
            return False
        owner = self._runs.get(self._reserved[0])
        if owner is None or time.monotonic() >= self._reserved[1]:
            self._reserved = None
            return False
        return self._key(owner, holding=True) < self._key(run)

    def _wait_for_turn(self, run: _Run, me: int, depth: int, should_stop: Callable[[], bool] | None) -> None:
        run.asked = next(self._order)
        try:
            while not (self._holder is None and self._best() is run and not self._reserved_against(run, me)):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                timeout = _POLL_SECONDS if should_stop is not None or self._reserved else None
                self._cond.wait(timeout)
        except BaseException:
            run.asked = None
            self._cond.notify_all()  # the next in line may go now
            self._forget(me)
            raise
        run.asked = None
        self._holder, self._depth, self._since = me, depth, time.monotonic()
        if self._reserved and self._reserved[0] == me:
            self._reserved = None


def share_of(lm: object) -> ModelShare:
    """The share of a loaded model (``lm.lock``); a stand-in model without one gets a share of its own."""
    share = getattr(lm, "lock", None)
    return share if isinstance(share, ModelShare) else ModelShare()


class Turns:
    """The model's turns for a loop of batches (see :meth:`ModelShare.turns`)."""

    def __init__(self, share: ModelShare, should_stop: Callable[[], bool] | None) -> None:
        self.share = share
        self.should_stop = should_stop
        self.held = False

    def next(self) -> None:
        """Before a batch: take the model, or keep it unless a run with priority waits."""
        if self.held:
            try:
                self.share.checkpoint(self.should_stop)
            except BaseException:
                self.held = self.share.holds()  # stopped while waiting to get the model back
                raise
        else:
            self.share.acquire(self.should_stop)
            self.held = True

    def close(self) -> None:
        """After the loop: give the model back."""
        if self.held:
            self.held = False
            self.share.release()


# ---------------------------------------------------------------- the work limit


class WorkLimitExceeded(WhyLMError):
    """A run needs more work than the limit allows: forward passes, tokens through the model, or memory at once."""

    def __init__(self, needed: int, limit: int, what_to_lower: str, unit: str = "forward passes") -> None:
        self.needed, self.limit, self.unit = needed, limit, unit
        if unit == "tokens":
            said = (
                f"This run puts about {needed:,} tokens through the model, more than the limit of {limit:,} "
                "for one run"
            )
            what_to_lower += " A shorter prompt is less work too."
        else:
            said = f"This run needs {needed:,} {unit}, more than the limit of {limit:,} for one run"
        super().__init__(f"{said}; {what_to_lower}")


class MemoryLimitExceeded(WhyLMError):
    """One prompt (or one gradient point) of a run needs more memory at once than the server's budget."""

    def __init__(self, needed_bytes: float, budget_bytes: float, what_to_lower: str) -> None:
        self.needed_bytes, self.budget_bytes = needed_bytes, budget_bytes
        super().__init__(
            f"This run needs about {_size(needed_bytes)} of memory for one prompt at once, more than this "
            f"server's memory budget of {_size(budget_bytes)} (WHYLM_MEMORY_BUDGET_MB); {what_to_lower}"
        )


def _size(nbytes: float) -> str:
    """Bytes in words: "4.7 GB", "850 MB"."""
    return f"{nbytes / 2**30:.1f} GB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MB"


@dataclass
class _Budget:
    limit: int | None
    what_to_lower: str
    planned: int = 0
    max_tokens: int | None = None
    planned_tokens: int = 0
    memory_to_lower: str = "shorten the prompt or the target."


_budget = threading.local()


@contextmanager
def work_limit(
    max_forward_passes: int | None,
    what_to_lower: str = "make it smaller.",
    max_tokens: int | None = None,
    memory_to_lower: str = "shorten the prompt or the target.",
) -> Iterator[None]:
    """Limit the runs in this block (in this thread): forward passes, tokens through the model, memory.

    ``max_forward_passes`` and ``max_tokens`` (None: no limit of that kind) bound each run's
    planned work; while either is set, a prompt (or gradient point) whose planned memory is over
    the scorer's budget is refused too (:func:`plan_memory`). ``what_to_lower`` ends the work
    refusals' sentence (e.g. "lower Samples (now 100,000)."), ``memory_to_lower`` the memory one.
    """
    previous = getattr(_budget, "current", None)
    passes = int(max_forward_passes) if max_forward_passes else None
    tokens = int(max_tokens) if max_tokens else None
    active = passes is not None or tokens is not None
    _budget.current = _Budget(passes, what_to_lower, max_tokens=tokens, memory_to_lower=memory_to_lower) if active else None
    try:
        yield
    finally:
        _budget.current = previous


def plan_forward_passes(count: int) -> None:
    """Before a step's first batch: count its forward passes against the limit; refuse the run when over."""
    budget: _Budget | None = getattr(_budget, "current", None)
    if budget is None:
        return
    budget.planned += int(count)
    if budget.limit is not None and budget.planned > budget.limit:
        raise WorkLimitExceeded(budget.planned, budget.limit, budget.what_to_lower)


def plan_tokens(count: int) -> None:
    """Before a step's first batch: count the tokens it puts through the model (a backward pass counts as
    its forward's again) against the limit; refuse the run when over."""
    budget: _Budget | None = getattr(_budget, "current", None)
    if budget is None:
        return
    budget.planned_tokens += int(count)
    if budget.max_tokens is not None and budget.planned_tokens > budget.max_tokens:
        raise WorkLimitExceeded(budget.planned_tokens, budget.max_tokens, budget.what_to_lower, unit="tokens")


def plan_memory(needed_bytes: float, budget_bytes: float) -> None:
    """Before a step's first batch: refuse a run whose smallest batch (one prompt, one gradient point)
    is planned to need more memory than the budget, while a work limit is on."""
    budget: _Budget | None = getattr(_budget, "current", None)
    if budget is not None and needed_bytes > budget_bytes:
        raise MemoryLimitExceeded(needed_bytes, budget_bytes, budget.memory_to_lower)
