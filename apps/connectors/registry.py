"""Which connector kinds exist: one entry-point group, built-ins and installed plugins alike.

A connector package declares its class in its ``pyproject.toml`` (docs/CONNECTORS.md)::

    [project.entry-points."zammad_kimai_sync.connectors"]
    jira = "zks_connector_jira.connector:JiraConnector"

and is found once it is installed into the service's environment, the way pytest finds its
plugins. The built-in Zammad and Kimai connectors are declared the same way in this project's
``pyproject.toml``; a checkout that was never installed has no such metadata, so they are then
loaded from ``BUILT_IN_CONNECTORS``.

Discovery runs once per process, on first use, into a dict from kind to class. A plugin that
cannot be imported, is not a connector, or was written for another contract version is left out
and reported (``plugin_problems()``: the Connectors page and ``/readyz`` show it); it never stops
the service. A connection of a kind that is not available says so where it is shown.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import httpx
from pydantic import BaseModel

from apps.connectors.base import (
    Connector,
    Role,
    SourceConnector,
    TargetConnector,
    contract_mismatch,
)

ENTRY_POINT_GROUP = "zammad_kimai_sync.connectors"
DISTRIBUTION = "zammad-kimai-sync"
BUILT_IN = "built in"
BUILT_IN_CONNECTORS: dict[str, str] = {
    "zammad": "apps.connectors.zammad.connector:ZammadConnector",
    "kimai": "apps.connectors.kimai.connector:KimaiConnector",
}
# What Connection.kind can hold (30 characters) and a URL segment can carry unescaped.
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,29}$")


@dataclass(frozen=True)
class ConnectorKind:
    """A kind that loaded: its class and where it came from ("built in", "<package> <version>")."""

    kind: str
    cls: type[Connector]
    origin: str

    @property
    def role(self) -> Role:
        return self.cls.role


@dataclass(frozen=True)
class PluginProblem:
    """An entry point that did not become a kind, and why, in words."""

    kind: str
    origin: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} ({self.origin}): {self.reason}"


@dataclass(frozen=True)
class Discovery:
    kinds: Mapping[str, ConnectorKind]
    problems: tuple[PluginProblem, ...]


class UnknownConnectorKind(LookupError):
    def __init__(self, kind: str, problem: PluginProblem | None = None) -> None:
        known = ", ".join(available_kinds()) or "none"
        if problem is not None:
            message = f"The connector kind {kind!r} could not be loaded: {problem.reason}"
        else:
            message = (
                f"The connector kind {kind!r} is not installed (installed kinds: {known}); "
                "install its package into the service's environment and restart"
            )
        super().__init__(message)
        self.kind = kind
        self.message = message


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _origin(entry_point: metadata.EntryPoint) -> tuple[str, bool]:
    """Where an entry point comes from, and whether that is this project itself."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown package", False
    name = dist.metadata["Name"] or "an unknown package"
    if _normalized(name) == DISTRIBUTION:
        return BUILT_IN, True
    return f"{name} {dist.version}", False


def why_not_a_connector(kind: str, loaded: Any) -> str | None:
    """Why a loaded object is not a usable connector class for ``kind``, or None."""
    if not (inspect.isclass(loaded) and issubclass(loaded, SourceConnector | TargetConnector)):
        return "is not a SourceConnector or TargetConnector class of apps.connectors.contract"
    mismatch = contract_mismatch(getattr(loaded, "contract_version", None))
    if mismatch is not None:
        return mismatch
    if inspect.isabstract(loaded):
        missing = ", ".join(sorted(getattr(loaded, "__abstractmethods__", ())))
        return f"leaves methods of the contract unimplemented: {missing}"
    if getattr(loaded, "kind", None) != kind:
        return f"its class says kind {getattr(loaded, 'kind', None)!r}, its entry point {kind!r}"
    model = getattr(loaded, "settings_model", None)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        return "has no settings_model (a pydantic model)"
    return None


def _entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points, this project's first (built-ins win a name clash)."""
    found: Iterable[metadata.EntryPoint] = metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (not _origin(ep)[1], _origin(ep)[0], ep.name))


def _load(
    entry_point: metadata.EntryPoint, origin: str, kinds: dict[str, ConnectorKind]
) -> PluginProblem | None:
    kind = entry_point.name

    def problem(reason: str) -> PluginProblem:
        return PluginProblem(kind, origin, entry_point.value, reason)

    if not KIND_PATTERN.fullmatch(kind):
        return problem("a kind is 1 to 30 lower-case letters, digits or _, starting with a letter")
    if origin != BUILT_IN and kind in BUILT_IN_CONNECTORS:
        return problem("the kind is built in; this one is ignored")
    if kind in kinds:
        return problem(f"the kind is taken by {kinds[kind].origin}; this one is ignored")
    try:
        loaded = entry_point.load()
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, never fatal
        return problem(f"could not be imported: {type(exc).__name__}: {exc}")
    misfit = why_not_a_connector(kind, loaded)
    if misfit is not None:
        return problem(misfit)
    kinds[kind] = ConnectorKind(kind, loaded, origin)
    return None


@functools.cache
def discover() -> Discovery:
    """Load every connector of the entry-point group once; ``forget_discovery()`` starts over."""
    kinds: dict[str, ConnectorKind] = {}
    problems: list[PluginProblem] = []
    for entry_point in _entry_points():
        problem = _load(entry_point, _origin(entry_point)[0], kinds)
        if problem is not None:
            problems.append(problem)
    reported = {p.kind for p in problems}
    for kind, target in BUILT_IN_CONNECTORS.items():
        if kind not in kinds and kind not in reported:
            fallback = metadata.EntryPoint(name=kind, value=target, group=ENTRY_POINT_GROUP)
            problem = _load(fallback, BUILT_IN, kinds)
            if problem is not None:
                problems.append(problem)
    return Discovery(dict(sorted(kinds.items())), tuple(problems))


def forget_discovery() -> None:
    discover.cache_clear()


def available_kinds() -> list[str]:
    return list(discover().kinds)


def installed_connectors() -> list[ConnectorKind]:
    return list(discover().kinds.values())


def plugin_problems() -> tuple[PluginProblem, ...]:
    return discover().problems


def is_available(kind: str) -> bool:
    return kind in discover().kinds


def connector_class(kind: str) -> type[Connector]:
    found = discover()
    if kind not in found.kinds:
        problem = next((p for p in found.problems if p.kind == kind), None)
        raise UnknownConnectorKind(kind, problem)
    return found.kinds[kind].cls


def settings_model(kind: str) -> type[BaseModel]:
    """The pydantic model that validates a connection's settings JSON for this kind."""
    return connector_class(kind).settings_model


def kinds_for_role(role: Role) -> list[str]:
    return [kind for kind, found in discover().kinds.items() if found.role == role]


def build_connector(
    kind: str,
    base_url: str,
    token: str,
    settings: BaseModel | Mapping[str, Any] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    connection_id: int | None = None,
) -> Connector:
    cls = connector_class(kind)
    if sleep is None:
        return cls(base_url, token, settings, transport=transport, connection_id=connection_id)
    return cls(
        base_url, token, settings, transport=transport, sleep=sleep, connection_id=connection_id
    )
