"""Which connector kinds exist: a plain dict from kind to dotted path, imported on first use.

Adding a connector means adding one line here (see CONTRIBUTING.md, "How to add a connector").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from django.utils.module_loading import import_string
from pydantic import BaseModel

from apps.connectors.base import Connector, Role

CONNECTORS: dict[str, str] = {
    "zammad": "apps.connectors.zammad.connector.ZammadConnector",
    "kimai": "apps.connectors.kimai.connector.KimaiConnector",
}


class UnknownConnectorKind(LookupError):
    def __init__(self, kind: str) -> None:
        known = ", ".join(sorted(CONNECTORS))
        super().__init__(f"There is no connector of kind {kind!r}; known kinds: {known}")
        self.kind = kind


def connector_class(kind: str) -> type[Connector]:
    try:
        dotted_path = CONNECTORS[kind]
    except KeyError:
        raise UnknownConnectorKind(kind) from None
    cls: type[Connector] = import_string(dotted_path)
    return cls


def settings_model(kind: str) -> type[BaseModel]:
    """The pydantic model that validates a connection's settings JSON for this kind."""
    return connector_class(kind).settings_model


def kinds_for_role(role: Role) -> list[str]:
    return sorted(kind for kind in CONNECTORS if connector_class(kind).role == role)


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
