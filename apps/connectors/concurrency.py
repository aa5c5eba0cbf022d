"""How many requests one connection may have in flight: found by AIMD, never above a ceiling.

A sync that fires every request at once overruns a small Kimai; one that sends a fixed few
leaves a large one idle. Like TCP finding a path's capacity, :class:`AdaptiveLimit` starts low
and adds one request in flight for every round of answers that came back fine and no slower
(additive increase; only when the round used every slot it had), and halves what was in flight on
a sign of overload (multiplicative decrease):

* HTTP 429 or 503 (a rate-limiting proxy, or the server itself saying it is busy; Kimai sits
  behind nginx or Apache, whose limiters answer so) or a timeout;
* two rounds in a row whose median latency is twice the lowest of the recent rounds (and at least
  10 ms more): requests queue at the server before it refuses any. One slow round alone is not
  enough: a pause of our own (the collector) delays every answer in flight at once. Nor is a
  round with an answer that came during :func:`own_work` (a batch of entries being planned):
  this process held the interpreter lock while the answers waited to be read. Before both, a
  20,000-entry sync against a Kimai that never slowed down halved its limit ten times.

It remembers how many requests were in flight when the server refused and stays one below,
trying that level again only after a wait that doubles with each refusal (10 s, 20 s, … 5 min),
so a server that takes 4 at once sees one 429 now and then, not one every few rounds. A
``Retry-After`` the server sends holds back every request of the connection, not only the
refused one. Only the first
refusal of a round counts: requests sent before the limit was halved were sent under the old
limit and say nothing new.

Requests sent from inside :func:`behind_others` (a sync's writes, queued by the hundred) take a
free slot only when no other request waits for one: the run's own reads go first.

The limit, why it last changed and its history are kept for the run's figures (``figures()``)
and logged as ``outbound_concurrency_changed`` (decreases at INFO, increases at DEBUG).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

logger = structlog.get_logger(__name__)

START_LIMIT = 2
LATENCY_RISE = 2.0
LATENCY_RISE_FLOOR_SECONDS = 0.010
SLOW_ROUNDS = 2  # slow rounds in a row that halve the limit
BASELINE_ROUNDS = 30
PROBE_WAIT_FIRST_SECONDS = 10.0
PROBE_WAIT_MAX_SECONDS = 300.0
KEPT_CHANGES = 20
KEPT_LATENCIES = 200_000

Overload = Literal["rate_limited", "busy", "timeout"]
OVERLOAD_WORDS: dict[str, str] = {
    "rate_limited": "the server answered 429 (too many requests)",
    "busy": "the server answered 503 (busy)",
    "timeout": "a request timed out",
}


_thread = threading.local()
# Work of our own under way (own_work), and a count that moves when any starts or ends: an
# answer to a request sent under another count waited, in part, for that work.
_own_lock = threading.Lock()
_own_busy = 0
_own_epoch = 0


@contextmanager
def own_work() -> Iterator[None]:
    """CPU-bound work of this process (a batch being planned): answers to requests in flight
    meanwhile are late because of us, so they never count as the server slowing down."""
    global _own_busy, _own_epoch
    with _own_lock:
        _own_busy += 1
        _own_epoch += 1
    try:
        yield
    finally:
        with _own_lock:
            _own_busy -= 1
            _own_epoch += 1


def _own_work_since(epoch: int) -> bool:
    return _own_busy > 0 or _own_epoch != epoch


@contextmanager
def behind_others() -> Iterator[None]:
    """Requests this thread sends meanwhile yield their turn to any other waiting for a slot."""
    before = getattr(_thread, "behind", False)
    _thread.behind = True
    try:
        yield
    finally:
        _thread.behind = before


@dataclass(frozen=True)
class Ticket:
    """A slot taken by one request: the round and the limit it was sent under, and how many
    requests were in flight with it (itself included)."""

    generation: int
    limit: int
    in_flight: int
    own_epoch: int = 0  # see own_work


class AdaptiveLimit:
    """Requests in flight for one connection, adapted to how the server answers (see module)."""

    def __init__(
        self,
        ceiling: int,
        *,
        service: str = "",
        start: int = START_LIMIT,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.service = service
        self.adaptive = adaptive
        self._clock = clock
        self._cond = threading.Condition()
        self.limit = max(1, min(start if adaptive else self.ceiling, self.ceiling))
        self.peak = self.limit
        self.reason = "starting low" if self.limit < self.ceiling else "the ceiling"
        if not adaptive:
            self.reason = "fixed (adaptive concurrency is off)"
        self.changed_at: datetime | None = None
        self.increases = 0
        self.decreases: Counter[str] = Counter()
        self.overloads: Counter[str] = Counter()
        self.changes: deque[dict[str, Any]] = deque(maxlen=KEPT_CHANGES)
        self.paused_seconds = 0.0
        self._in_flight = 0
        self._first_waiting = 0  # requests waiting that are not behind others
        self._generation = 0
        self._round_latencies: list[float] = []
        self._round_peak = 0  # the most requests in flight seen by this round's answers
        self._medians: deque[float] = deque(maxlen=BASELINE_ROUNDS)
        self._slow_rounds = 0  # slow rounds in a row
        self._round_ours = False  # an answer of this round waited for our own work
        self._refused_at: int | None = None
        self._probe_wait = PROBE_WAIT_FIRST_SECONDS
        self._probe_after = 0.0
        self._paused_until = 0.0
        self._latencies: list[float] = []

    # -- taking and giving back a slot ------------------------------------------------------------
    def acquire(self, waited_until: float = 0.0) -> Ticket:
        """Wait for a free slot and for any pause a ``Retry-After`` imposed. ``waited_until``:
        the end of a pause the caller has already waited out itself."""
        behind = getattr(_thread, "behind", False)
        with self._cond:
            if not behind:
                self._first_waiting += 1
            try:
                while True:
                    pause = self._paused_until - self._clock()
                    if pause > 0 and self._paused_until > waited_until:
                        self._cond.wait(pause)
                        continue
                    if self._in_flight < self.limit and not (behind and self._first_waiting):
                        self._in_flight += 1
                        return Ticket(self._generation, self.limit, self._in_flight, _own_epoch)
                    self._cond.wait()
            finally:
                if not behind:
                    self._first_waiting -= 1
                    if not self._first_waiting:
                        self._cond.notify_all()  # those behind may go now

    def answered(self, ticket: Ticket, seconds: float) -> None:
        """The server answered (not with a sign of overload) after ``seconds``."""
        with self._cond:
            self._in_flight -= 1
            if len(self._latencies) < KEPT_LATENCIES:
                self._latencies.append(seconds)
            if self.adaptive and ticket.generation == self._generation:
                self._round_latencies.append(seconds)
                self._round_peak = max(self._round_peak, ticket.in_flight)
                self._round_ours = self._round_ours or _own_work_since(ticket.own_epoch)
                if len(self._round_latencies) >= self.limit:
                    self._end_round()
            self._cond.notify_all()

    def overloaded(self, ticket: Ticket, kind: Overload, retry_after: float | None) -> float:
        """A sign of overload; returns the end of the pause it imposed (0.0: none)."""
        with self._cond:
            self._in_flight -= 1
            self.overloads[kind] += 1
            now = self._clock()
            until = 0.0
            if retry_after is not None and retry_after > 0:
                until = now + retry_after
                if until > self._paused_until:
                    self.paused_seconds += until - max(self._paused_until, now)
                    self._paused_until = until
            if self.adaptive and ticket.generation == self._generation:
                # The server refused with this many of ours in flight: stay below that level,
                # and halve what was in use (the limit may not have been: RFC 7661).
                level = max(ticket.in_flight, self._in_flight + 1)
                if self._refused_at is not None and level >= self._refused_at:
                    self._probe_wait = min(2 * self._probe_wait, PROBE_WAIT_MAX_SECONDS)
                self._refused_at = min(level, self._refused_at or level)
                self._probe_after = now + self._probe_wait
                self._set(max(1, min(self.limit, level) // 2), kind, OVERLOAD_WORDS[kind])
            self._cond.notify_all()
            return until

    def released(self) -> None:
        """The request ended without an answer that says anything about load (e.g. refused
        connection, invalid URL)."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    # -- adapting ---------------------------------------------------------------------------------
    def _end_round(self) -> None:
        median = statistics.median(self._round_latencies)
        peak, ours = self._round_peak, self._round_ours
        self._round_latencies = []
        self._round_peak = 0
        self._round_ours = False
        baseline = min(self._medians) if self._medians else median
        slow = median > LATENCY_RISE * baseline and median - baseline > LATENCY_RISE_FLOOR_SECONDS
        if slow and ours:
            return  # our own work made it slow: it says nothing about the server
        self._medians.append(median)
        if slow:
            self._slow_rounds += 1
            if self._slow_rounds < SLOW_ROUNDS:
                return  # neither up nor down until the next round says more
            words = (
                f"answers became slower (median {median * 1000:.0f} ms, "
                f"was {baseline * 1000:.0f} ms)"
            )
            self._set(max(1, self.limit // 2), "slower", words)
            return
        self._slow_rounds = 0
        if self._refused_at is not None and peak >= self._refused_at:
            # A whole round at the level once refused went through: the server takes more now.
            self._refused_at = None
            self._probe_wait = PROBE_WAIT_FIRST_SECONDS
        if self.limit >= self.ceiling or peak < self.limit:
            return  # at the ceiling, or not using all it may: no reason to allow more
        below_refusal = self._refused_at is not None and self.limit + 1 >= self._refused_at
        if below_refusal and self._clock() < self._probe_after:
            return
        self._set(self.limit + 1, "fine", "answers came back fine and no slower")

    def _set(self, limit: int, code: str, words: str) -> None:
        previous = self.limit
        self.limit = limit
        self.peak = max(self.peak, limit)
        self.reason = words
        self.changed_at = datetime.now(UTC)
        self._generation += 1
        self._round_latencies = []
        self._round_peak = 0
        self._round_ours = False
        self._slow_rounds = 0
        if code == "fine":
            self.increases += 1
        else:
            self.decreases[code] += 1
        self.changes.append(
            {"at": self.changed_at.isoformat(), "limit": limit, "previous": previous,
             "reason": words}
        )  # fmt: skip
        # Going up is routine (a dozen steps at the start of a run); going down is news.
        log = logger.debug if code == "fine" else logger.info
        log(
            "outbound_concurrency_changed",
            service=self.service,
            limit=limit,
            previous=previous,
            ceiling=self.ceiling,
            reason=code,
            why=words,
        )

    # -- figures ----------------------------------------------------------------------------------
    def figures(self, *, with_p95: bool = True) -> dict[str, Any]:
        """What a run shows about this connection's requests in flight (the p95 sorts every
        latency: leave it out of progress updates)."""
        with self._cond:
            latencies = sorted(self._latencies) if with_p95 else []
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0
            return {
                "ceiling": self.ceiling,
                "limit": self.limit,
                "peak": self.peak,
                "reason": self.reason,
                "changed_at": self.changed_at.isoformat() if self.changed_at else None,
                "increases": self.increases,
                "decreases": dict(self.decreases),
                "overloads": dict(self.overloads),
                "paused_seconds": round(self.paused_seconds, 3),
                "p95_ms": round(p95 * 1000, 1),
                "changes": list(self.changes),
            }
