"""Python's garbage collector and thread switching, tuned for long batch work: the worker and
`manage.py sync`.

A sync allocates millions of short-lived objects (entries, plans, decisions). With CPython's
default thresholds (700, 10, 10) a young collection runs every 700 net allocations, and the
full collections it leads to walk every object the process holds, Django's own included:
about a quarter of the CPU of reconciling 100,000 entries (``bench.sync_bench --reconcile``).
So, once per process: what is alive at start-up is frozen (``gc.freeze``: never scanned again,
and forked children keep sharing those pages), and a young collection waits for 50,000
allocations. Cycles are still collected; only less often.

A sync's writes make none: an answered request's stream is detached from its response
(``apps/connectors/http.py``) and an audit event's detail row refers to it by id
(``apps/core/audit.py``). Before, each write left about 40 objects in reference cycles, so
young collections came every few hundred writes, each a pause of every thread (28 ms on
average at 20,000 entries) while the senders' answers waited (tests/core/
test_no_reference_cycles.py).

The interpreter lets a thread that wants its lock wait up to ``sys.getswitchinterval()`` (5 ms)
while another computes. A sync's 16 senders each need it a few times per request, mostly while
the run's thread plans and records: 1 ms lets their answers in sooner (five interleaved pairs of
``bench.sync_bench --entries 20000``: 22.0-22.5 s against 22.3-23.4 s; 0.5 ms did no better).
"""

from __future__ import annotations

import gc
import sys

YOUNG_THRESHOLD = 50_000
SWITCH_INTERVAL_SECONDS = 0.001


def tune_for_batch_work() -> None:
    """Once per process (again, it would freeze whatever garbage is waiting at that moment)."""
    young, middle, old = gc.get_threshold()
    if young == YOUNG_THRESHOLD:
        return
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
