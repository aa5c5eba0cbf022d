"""Creating, checking and changing connections: shared by the Connectors page and the API."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from pydantic import ValidationError as PydanticValidationError

from apps.connectors.base import CheckReport
from apps.connectors.models import Connection
from apps.connectors.registry import available_kinds, build_connector, settings_model


class ConnectionInvalid(Exception):
    """Input that cannot become a working connection; messages per field, nothing saved."""

    def __init__(self, errors: dict[str, list[str]], report: CheckReport | None = None) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors
        self.report = report


@dataclass(frozen=True)
class ConnectionInput:
    kind: str
    name: str
    base_url: str
    token: str | None  # None or "": keep the stored token (updates only)
    settings: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


TOKEN_CHARACTERS = re.compile(r"[\x20-\x7e]+")


def clean_base_url(url: str) -> str:
    """Accept http(s) URLs of a server root or sub-path; refuse what cannot be a base URL."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("Enter the address of the server, starting with https:// or http://")
    if parts.username or parts.password:
        raise ValueError("Leave user names and passwords out of the address; use the token")
    if parts.query or parts.fragment:
        raise ValueError("Enter the server's address without ?query or #fragment")
    return url.rstrip("/")


def _name_taken(name: str, instance: Connection | None) -> bool:
    others = Connection.objects.filter(name=name)
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    return others.exists()


def clean_connection(data: ConnectionInput, instance: Connection | None = None) -> ConnectionInput:
    errors: dict[str, list[str]] = {}
    if data.kind not in available_kinds():
        errors["kind"] = [f"Choose one of: {', '.join(available_kinds())}"]
    elif instance is not None and instance.kind != data.kind:
        errors["kind"] = ["The kind of a connection cannot change; add a new connection instead"]
    name = (data.name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = ["Enter a name of 1 to 100 characters"]
    elif _name_taken(name, instance):
        errors["name"] = [f"A connection named {name!r} exists already"]
    try:
        base_url = clean_base_url(data.base_url)
    except ValueError as exc:
        errors["base_url"] = [str(exc)]
        base_url = data.base_url
    token = (data.token or "").strip()
    if not token and instance is None:
        errors["token"] = ["Enter the API token"]
    elif len(token) > 2000:
        errors["token"] = ["This token is too long to be real (over 2,000 characters)"]
    elif token and not TOKEN_CHARACTERS.fullmatch(token):
        # It travels in an HTTP header, which carries ASCII only (httpx refuses anything else).
        errors["token"] = [
            "A token has only ASCII letters, digits and punctuation: check for a stray character"
        ]
    settings: dict[str, Any] = {}
    if "kind" not in errors:
        try:
            model = settings_model(data.kind).model_validate(data.settings or {})
            settings = model.model_dump(mode="json", exclude_defaults=True)
        except PydanticValidationError as exc:
            for error in exc.errors():
                key = (
                    "settings." + ".".join(str(part) for part in error["loc"])
                    if error["loc"]
                    else "settings"
                )
                errors.setdefault(key, []).append(str(error["msg"]))
    if errors:
        raise ConnectionInvalid(errors)
    return replace(data, name=name, base_url=base_url, token=token or None, settings=settings)


def check_values(data: ConnectionInput, instance: Connection | None = None) -> CheckReport:
    """Probe the server with these values (the stored token when none is given)."""
    token = data.token or (instance.token if instance is not None else "")
    connector = build_connector(data.kind, data.base_url, token, data.settings)
    with connector:
        return connector.check()


def _unusable(report: CheckReport) -> dict[str, list[str]]:
    message = " ".join(report.problems) or "The server did not answer as expected."
    if not report.reachable:
        return {"base_url": [message]}
    if report.token_refused:
        return {"token": [message]}
    if not report.authenticated:  # it answers, but not as this kind of server does
        return {"base_url": [message]}
    return {}


def save_connection(
    data: ConnectionInput, instance: Connection | None = None
) -> tuple[Connection, CheckReport]:
    """Validate, prove the server answers and accepts the token, then save; or save nothing."""
    cleaned = clean_connection(data, instance)
    # The check talks to the server: do it before the transaction, not inside it.
    report = check_values(cleaned, instance)
    errors = _unusable(report)
    if errors:
        raise ConnectionInvalid(errors, report)
    connection = instance or Connection(kind=cleaned.kind)
    connection.name = cleaned.name
    connection.base_url = cleaned.base_url
    if cleaned.token:
        connection.token = cleaned.token
    connection.settings = cleaned.settings
    connection.enabled = cleaned.enabled
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise ConnectionInvalid(
            {"name": [f"A connection named {cleaned.name!r} exists already"]}
        ) from None
    connection.record_check(report)
    return connection, report


def check_connection(connection: Connection) -> CheckReport:
    """Check a saved connection and remember the outcome on it."""
    with connection.connector() as connector:
        report = connector.check()
    connection.record_check(report)
    return report
