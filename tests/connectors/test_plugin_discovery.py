"""Connector kinds come from the `zammad_kimai_sync.connectors` entry points: built-ins and
installed plugins alike; a broken or incompatible plugin is reported and the rest loads."""

from __future__ import annotations

import httpx
import pytest

from apps.connectors.base import Role, SourceConnector
from apps.connectors.registry import (
    UnknownConnectorKind,
    available_kinds,
    build_connector,
    connector_class,
    installed_connectors,
    kinds_for_role,
    plugin_problems,
)
from apps.connectors.zammad.connector import ZammadConnector
from tests.connectors.plugins import FakeEnvironment, good_source


def _reasons() -> dict[str, str]:
    return {problem.kind: problem.reason for problem in plugin_problems()}


def test_it_finds_the_built_in_kinds_through_this_projects_entry_points(
    environment: FakeEnvironment,
) -> None:
    environment.install_this_project()

    assert [(c.kind, c.origin) for c in installed_connectors()] == [
        ("kimai", "built in"),
        ("zammad", "built in"),
    ]
    assert connector_class("zammad") is ZammadConnector
    assert plugin_problems() == ()


def test_it_falls_back_to_the_built_in_kinds_when_this_project_has_no_metadata(
    environment: FakeEnvironment,
) -> None:
    assert available_kinds() == ["kimai", "zammad"]
    assert {c.origin for c in installed_connectors()} == {"built in"}
    assert plugin_problems() == ()


def test_it_loads_an_installed_plugin_as_a_kind_of_its_role(
    environment: FakeEnvironment,
) -> None:
    environment.install_this_project()
    environment.install(
        "zks-connector-acme", "1.2.0", {"acme": "zks_acme.connector:AcmeConnector"},
        zks_acme__connector=good_source("Acme", "acme"),
    )  # fmt: skip

    assert available_kinds() == ["acme", "kimai", "zammad"]
    assert kinds_for_role(Role.SOURCE) == ["acme", "zammad"]
    assert installed_connectors()[0].origin == "zks-connector-acme 1.2.0"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    connector = build_connector("acme", "https://acme.example", "t", {}, transport=transport)
    assert isinstance(connector, SourceConnector)
    assert connector.settings.page_size == 50  # type: ignore[attr-defined]


def test_a_plugin_that_cannot_be_imported_is_reported_and_the_others_load(
    environment: FakeEnvironment,
) -> None:
    environment.install(
        "zks-connector-broken", "0.1", {"broken": "zks_broken.connector:BrokenConnector"},
        zks_broken__connector="import acme_sdk_that_is_not_installed\n",
    )  # fmt: skip

    assert available_kinds() == ["kimai", "zammad"]
    assert _reasons() == {
        "broken": "could not be imported: ModuleNotFoundError: "
        "No module named 'acme_sdk_that_is_not_installed'"
    }
    assert str(plugin_problems()[0]).startswith("broken (zks-connector-broken 0.1): ")


def test_a_plugin_written_for_another_contract_major_is_not_loaded(
    environment: FakeEnvironment,
) -> None:
    environment.install(
        "zks-connector-old", "3.0", {"old": "zks_old.connector:OldConnector"},
        zks_old__connector=good_source("Old", "old", version='"2.0"'),
    )  # fmt: skip

    assert "old" not in available_kinds()
    assert _reasons()["old"] == (
        "was written for connector contract 2.0; this service speaks 1.1 "
        "(install a version of the connector made for 1.x)"
    )


def test_a_plugin_that_needs_a_newer_contract_minor_is_not_loaded(
    environment: FakeEnvironment,
) -> None:
    environment.install(
        "zks-connector-new", "1.0", {"new": "zks_new.connector:NewConnector"},
        zks_new__connector=good_source("New", "new", version='"1.7"'),
    )  # fmt: skip

    assert _reasons()["new"].startswith("needs connector contract 1.7; this service speaks 1.1")


def test_a_plugin_that_declares_no_contract_version_is_not_loaded(
    environment: FakeEnvironment,
) -> None:
    source = good_source("Vague", "vague").replace("    contract_version = CONTRACT_VERSION\n", "")
    environment.install(
        "zks-connector-vague", "1.0", {"vague": "zks_vague.connector:VagueConnector"},
        zks_vague__connector=source,
    )  # fmt: skip

    assert _reasons()["vague"] == (
        "declares no contract_version (this service speaks connector contract 1.1)"
    )


def test_an_entry_point_that_is_not_a_connector_class_is_reported(
    environment: FakeEnvironment,
) -> None:
    environment.install(
        "zks-connector-odd", "1.0", {"odd": "zks_odd.connector:make"},
        zks_odd__connector="def make():\n    return None\n",
    )  # fmt: skip

    assert _reasons()["odd"] == (
        "is not a SourceConnector or TargetConnector class of apps.connectors.contract"
    )


def test_a_plugin_may_not_take_a_built_in_kind(environment: FakeEnvironment) -> None:
    environment.install_this_project()
    environment.install(
        "zks-connector-evil", "1.0", {"zammad": "zks_evil.connector:ZammadConnector"},
        zks_evil__connector=good_source("Zammad", "zammad"),
    )  # fmt: skip

    assert connector_class("zammad") is ZammadConnector
    assert _reasons() == {"zammad": "the kind is built in; this one is ignored"}


def test_asking_for_a_kind_that_failed_to_load_says_why(environment: FakeEnvironment) -> None:
    environment.install(
        "zks-connector-broken", "0.1", {"broken": "zks_broken2.connector:BrokenConnector"},
        zks_broken2__connector="raise RuntimeError('no licence key')\n",
    )  # fmt: skip

    with pytest.raises(UnknownConnectorKind, match="'broken' could not be loaded: could not be "
                       "imported: RuntimeError: no licence key"):  # fmt: skip
        connector_class("broken")


def test_asking_for_a_kind_that_is_not_installed_names_the_installed_ones(
    environment: FakeEnvironment,
) -> None:
    with pytest.raises(UnknownConnectorKind, match=r"'jira' is not installed \(installed kinds: "
                       r"kimai, zammad\)"):  # fmt: skip
        connector_class("jira")
