"""The connector registry: kinds from entry points, built-ins by the same route."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from apps.connectors.base import Capability, Role, TargetConnector
from apps.connectors.kimai.config import KimaiSettings
from apps.connectors.kimai.connector import KimaiConnector
from apps.connectors.registry import (
    BUILT_IN_CONNECTORS,
    UnknownConnectorKind,
    build_connector,
    connector_class,
    kinds_for_role,
    settings_model,
)
from apps.connectors.zammad.config import ZammadSettings
from apps.connectors.zammad.connector import ZammadConnector
from tests.connectors.plugins import FakeEnvironment


def test_it_declares_the_built_in_kinds_as_its_own_entry_points() -> None:
    pyproject = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"]["zammad_kimai_sync.connectors"]
    assert (
        declared
        == BUILT_IN_CONNECTORS
        == {
            "zammad": "apps.connectors.zammad.connector:ZammadConnector",
            "kimai": "apps.connectors.kimai.connector:KimaiConnector",
        }
    )


def test_it_imports_the_class_of_a_kind() -> None:
    assert connector_class("zammad") is ZammadConnector
    assert connector_class("kimai") is KimaiConnector


def test_it_explains_an_unknown_kind(environment: FakeEnvironment) -> None:
    with pytest.raises(UnknownConnectorKind, match="'nope' is not installed"):
        connector_class("nope")


def test_it_gives_the_settings_model_of_a_kind() -> None:
    assert settings_model("zammad") is ZammadSettings
    assert settings_model("kimai") is KimaiSettings


def test_it_tells_sources_from_targets(environment: FakeEnvironment) -> None:
    assert kinds_for_role(Role.SOURCE) == ["zammad"]
    assert kinds_for_role(Role.TARGET) == ["kimai"]


def test_it_builds_a_connector_from_plain_values() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={}))
    connector = build_connector(
        "kimai", "https://kimai.example.com/", "t", {"page_size": 100}, transport=transport
    )

    assert isinstance(connector, TargetConnector)
    assert connector.settings == KimaiSettings(page_size=100)
    assert connector.supports(Capability.SEARCH_BY_MARKER)
    assert not connector.supports(Capability.ENTRIES_CHANGED_SINCE)


def test_it_refuses_a_capability_that_does_not_fit_the_role() -> None:
    with pytest.raises(TypeError, match="is a target but declares entries_of_ticket"):

        class Confused(KimaiConnector):
            capabilities = frozenset({Capability.ENTRIES_OF_TICKET})
