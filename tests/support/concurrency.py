"""The numbers of requests at once that the fault tests run at: exactly once must hold at each.

A test module runs every test at 1, 4 and 16 by importing the ``at_once`` fixture (autouse)::

    from tests.support.concurrency import at_once, tuned  # noqa: F401  (at_once: a fixture)
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.connectors.http import HttpTuning

CONCURRENCIES = (1, 4, 16)
AT_ONCE: dict[str, int] = {"n": 16}


def fixed_concurrency(at_once: int) -> dict[str, Any]:
    """HTTP tuning that starts at ``at_once`` requests in flight, the ceiling, at once (rather
    than working up from 2), so a short test really has that many requests in flight."""
    return {"max_concurrent_requests": at_once, "initial_concurrent_requests": at_once}


def concurrency_id(at_once: int) -> str:
    return f"{at_once}-at-once"


@pytest.fixture(autouse=True, params=CONCURRENCIES, ids=concurrency_id)
def at_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setitem(AT_ONCE, "n", request.param)
    return int(request.param)


def tuned(**tuning: object) -> HttpTuning:
    """``tuning`` at the test's number of requests at once."""
    return HttpTuning.model_validate({**fixed_concurrency(AT_ONCE["n"]), **tuning})
