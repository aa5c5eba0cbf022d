from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from apps.connectors.deletion import DeletionRefused
from apps.connectors.deletion import delete_connection as remove_connection
from apps.connectors.models import Connection
from apps.connectors.services import (
    ConnectionInput,
    ConnectionInvalid,
    check_connection,
    save_connection,
)
from apps.core.api_errors import ErrorOut, errors
from apps.core.api_types import Id

router = Router(tags=["Connections"])


class ConnectionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        description="An installed connector kind: `zammad`, `kimai` or a plugin's "
        "(the Connectors page lists them)."
    )
    name: str = Field(max_length=100)
    base_url: str = Field(
        max_length=500, description="The server's address, e.g. https://zammad.example.com"
    )
    token: str = Field(max_length=2000, description="API token; write-only, never returned.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Per-kind settings.")
    enabled: bool = True


class ConnectionPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=100)
    base_url: str | None = Field(default=None, max_length=500)
    token: str | None = Field(default=None, max_length=2000, description="Omit to keep the token.")
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class PermissionOut(Schema):
    name: str
    granted: bool
    advice: str


class CheckOut(Schema):
    kind: str
    role: str
    base_url: str
    ok: bool
    reachable: bool
    authenticated: bool
    token_refused: bool = Field(
        default=False, description="The server answered 401 or 403 to the token."
    )
    version: str | None
    identity: str | None
    permissions: list[PermissionOut]
    problems: list[str]
    warnings: list[str]
    reference_counts: dict[str, int]
    facts: dict[str, str]
    requests_made: int


class ConnectionOut(Schema):
    id: int
    kind: str
    kind_available: bool = Field(
        description="False when the connector kind is not installed: the connection is kept, "
        "nothing syncs through it, and `kind_problem` says why."
    )
    kind_problem: str = Field(description="Why the kind cannot be used; empty when it can.")
    role: str | None = Field(description="source or target; null when the kind is not installed.")
    name: str
    base_url: str
    token_hint: str = Field(description="The last characters of the token, masked.")
    settings: dict[str, Any]
    enabled: bool
    last_checked: datetime | None
    last_error: str
    last_check: CheckOut | None
    created_at: datetime
    updated_at: datetime


class ConnectionErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(default_factory=dict)
    check: CheckOut | None = None


@router.get("/connections", response=list[ConnectionOut], summary="List connections")
def list_connections(request: HttpRequest) -> list[Connection]:
    return list(Connection.objects.all())


@router.post(
    "/connections",
    response={201: ConnectionOut, 422: ConnectionErrorOut},
    summary="Add a connection (its server is checked first; nothing is saved if it fails)",
)
def create_connection(request: HttpRequest, payload: ConnectionIn) -> Status[Connection]:
    connection, _ = save_connection(ConnectionInput(**payload.model_dump()))
    return Status(201, connection)


@router.get("/connections/{connection_id}", response=ConnectionOut, summary="Get a connection")
def get_connection(request: HttpRequest, connection_id: Id) -> Connection:
    return get_object_or_404(Connection, pk=connection_id)


@router.patch(
    "/connections/{connection_id}",
    response={200: ConnectionOut, 422: ConnectionErrorOut},
    summary="Change a connection (checked again before saving)",
)
def update_connection(
    request: HttpRequest, connection_id: Id, payload: ConnectionPatch
) -> Connection:
    connection = get_object_or_404(Connection, pk=connection_id)
    changes = payload.model_dump(exclude_unset=True)
    if "kind" in changes:
        raise ConnectionInvalid({"kind": ["The kind of a connection cannot change"]})
    data = ConnectionInput(
        kind=connection.kind,
        name=changes.get("name") or connection.name,
        base_url=changes.get("base_url") or connection.base_url,
        token=changes.get("token"),
        settings=changes["settings"]
        if changes.get("settings") is not None
        else connection.settings,
        enabled=connection.enabled if changes.get("enabled") is None else changes["enabled"],
    )
    connection, _ = save_connection(data, connection)
    return connection


class DeletionRefusedOut(ErrorOut):
    history: dict[str, int] = Field(description="What deleting would erase, e.g. sync runs.")


@router.delete(
    "/connections/{connection_id}",
    response={204: None, **errors(404), 409: DeletionRefusedOut},
    summary="Delete a connection and everything of its pairs; refused (409) when it has history "
    "(runs, conflicts, deliveries) unless force=true: disable it instead to keep that",
)
def delete_connection(request: HttpRequest, connection_id: Id, force: bool = False) -> Status[Any]:
    connection = get_object_or_404(Connection, pk=connection_id)
    try:
        remove_connection(connection, force=force)
    except DeletionRefused as refused:
        return Status(409, {"detail": refused.message, "history": refused.history})
    return Status(204, None)


@router.post(
    "/connections/{connection_id}/test",
    response=CheckOut,
    summary="Check the server and the token: version, identity, what the token may do and lacks",
)
def test_connection(request: HttpRequest, connection_id: Id) -> dict[str, Any]:
    connection = get_object_or_404(Connection, pk=connection_id)
    return check_connection(connection).as_dict()
