"""The connector test kit: what a connector's own tests use to prove it follows the contract.

Public, like ``apps.connectors.contract`` (docs/CONNECTORS.md, "The test kit"):

- ``contract_problems(cls)`` / ``assert_follows_contract(cls)``: the class loads as a kind (a
  Source- or TargetConnector, every method implemented, a compatible ``contract_version``, a
  ``kind`` fit for a URL) and its settings model builds the Connectors form (``extra="forbid"``,
  ``frozen``, ``http: HttpTuning``, a ``title`` and a ``description`` on every other field);
- ``assert_installed(kind)``: the installed package's entry point really yields that kind;
- ``connector_with_double(cls, base_url, token, transport)``: a connector that talks to a
  double and never sleeps between retries;
- ``apps.connectors.testkit.double``: the base of a test double (``Double``, ``Reply``,
  ``Fault``: request log, fault injection, in-process and loopback transports), as the Zammad,
  Kimai and Jira doubles use it, and ``stop_on_signals()`` for a double served on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel

from apps.connectors.base import Connector
from apps.connectors.http import HttpTuning
from apps.connectors.registry import (
    KIND_PATTERN,
    connector_class,
    forget_discovery,
    installed_connectors,
    why_not_a_connector,
)


def _settings_problems(model: type[BaseModel]) -> list[str]:
    problems = []
    if model.model_config.get("extra") != "forbid":
        problems.append("the settings model must refuse unknown fields (extra='forbid')")
    if not model.model_config.get("frozen"):
        problems.append("the settings model must be frozen (frozen=True)")
    http = model.model_fields.get("http")
    if http is None or http.annotation is not HttpTuning:
        problems.append("the settings model needs `http: HttpTuning = HttpTuning()`")
    for name, field in model.model_fields.items():
        if name != "http" and not (field.title and field.description):
            problems.append(f"the setting {name!r} needs a title (its label) and a description")
    return problems


def contract_problems(cls: Any) -> list[str]:
    """Everything that keeps ``cls`` from being loaded and shown as a connector kind."""
    kind = getattr(cls, "kind", "")
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        return [f"kind {kind!r}: 1 to 30 lower-case letters, digits or _, starting with a letter"]
    misfit = why_not_a_connector(kind, cls)
    if misfit is not None:
        return [misfit]
    return _settings_problems(cls.settings_model)


def assert_follows_contract(cls: Any) -> None:
    problems = contract_problems(cls)
    assert not problems, f"{getattr(cls, '__name__', cls)}: " + "; ".join(problems)


def assert_installed(kind: str) -> None:
    """Discover again and require ``kind`` to load from its entry point, or say why it did not."""
    forget_discovery()
    connector_class(kind)  # raises UnknownConnectorKind with the plugin's problem
    assert kind in {found.kind for found in installed_connectors()}


def connector_with_double(
    cls: type[Connector],
    base_url: str,
    token: str,
    transport: httpx.BaseTransport,
    settings: BaseModel | Mapping[str, Any] | None = None,
) -> Connector:
    """``cls`` talking to a double through ``transport``, retrying without waiting."""
    return cls(base_url, token, settings, transport=transport, sleep=lambda _seconds: None)
