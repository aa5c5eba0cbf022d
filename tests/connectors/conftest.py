"""Fixtures of the connector tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from apps.connectors.registry import forget_discovery
from tests.connectors.plugins import FakeEnvironment


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnvironment]:
    """No distribution at all until the test installs some (this project's included)."""
    fake = FakeEnvironment(tmp_path)

    def entry_points(*, group: str) -> metadata.EntryPoints:
        found = [ep for dist in fake.distributions for ep in dist.entry_points]
        return metadata.EntryPoints(found).select(group=group)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_discovery()
    yield fake
    forget_discovery()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]
