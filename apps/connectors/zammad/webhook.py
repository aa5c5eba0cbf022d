"""Zammad's trigger webhooks (zammad-api.md §4): secrets, and verifying and parsing a delivery.

Zammad signs the raw body with ``X-Hub-Signature: sha1=<hex HMAC-SHA1>`` when a signature token is
set, and sends no signature when none is (§4.2). ``X-Zammad-Delivery`` stays the same across its
retries (5 attempts within about two minutes), so it is the deduplication key. The payload is only
a hint that a ticket changed: the queued run re-reads the ticket's time accountings from the API.

The connector only verifies and parses; recording the delivery and queueing its run happen in
the sync app (apps/sync/webhooks.py), which owns the queue, in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.connectors.base import Role
from apps.connectors.models import Connection
from apps.connectors.registry import kinds_for_role
from apps.core import audit

MAX_BODY_BYTES = 1024 * 1024
# The lengths WebhookDelivery stores: longer values are refused, never cut (a cut delivery id
# could make two deliveries one).
MAX_DELIVERY_ID = 100
MAX_TICKET_ID = 64
READ_CHUNK = 64 * 1024
SIGNATURE_PREFIX = "sha1="
# A rotated-out secret keeps working this long, so Zammad can be updated without losing events.
ROTATION_GRACE = timedelta(days=7)


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ParsedDelivery:
    """What a verified delivery says: the ticket, Zammad's delivery id and the trigger's name."""

    ticket_id: str
    ticket_number: str
    delivery_id: str
    trigger: str


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def rotate_secret(connection: Connection, actor: str) -> str:
    """A new secret; the old one stays valid for ROTATION_GRACE. Returns the new secret."""
    secret = new_secret()
    had_secret = bool(connection.webhook_secret)
    connection.webhook_previous_secret = connection.webhook_secret or None
    connection.webhook_secret = secret
    connection.webhook_rotated_at = timezone.now() if had_secret else None
    connection.save(
        update_fields=["webhook_secret", "webhook_previous_secret", "webhook_rotated_at"]
    )
    audit.record(
        actor, "webhook.secret.rotate" if had_secret else "webhook.secret.create",
        "connection", connection.pk, after={"previous_secret_valid_until": _grace_end(connection)},
    )  # fmt: skip
    return secret


def end_rotation(connection: Connection, actor: str) -> None:
    connection.webhook_previous_secret = None
    connection.webhook_rotated_at = None
    connection.save(update_fields=["webhook_previous_secret", "webhook_rotated_at"])
    audit.record(actor, "webhook.secret.end_rotation", "connection", connection.pk)


def _grace_end(connection: Connection) -> str | None:
    if connection.webhook_rotated_at is None:
        return None
    return (connection.webhook_rotated_at + ROTATION_GRACE).isoformat()


def _secrets_of(connection: Connection) -> list[str]:
    candidates = [connection.webhook_secret or ""]
    rotated = connection.webhook_rotated_at
    if connection.webhook_previous_secret and rotated and timezone.now() < rotated + ROTATION_GRACE:
        candidates.append(connection.webhook_previous_secret)
    return [c for c in candidates if c]


def _signed_by(body: bytes, signature: str) -> Connection | None:
    """The Zammad connection whose secret produced ``signature``, compared in constant time."""
    given = signature[len(SIGNATURE_PREFIX) :].strip().lower()
    found = None
    for connection in Connection.objects.filter(kind__in=kinds_for_role(Role.SOURCE)):
        for secret in _secrets_of(connection):
            expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
            if hmac.compare_digest(expected, given) and found is None:
                found = connection
    return found


def _refuse(reason: str, delivery_id: str) -> WebhookRefused:
    # 401 and nothing written here: the API counts the refusal per source and minute in one
    # row (apps/connectors/rejections.py), so unsigned callers cannot grow a table.
    return WebhookRefused(401, reason)


def verify(body: bytes, headers: dict[str, str]) -> Connection:
    delivery_id = headers.get("x-zammad-delivery", "")
    signature = headers.get("x-hub-signature", "")
    if (
        not Connection.objects.filter(kind__in=kinds_for_role(Role.SOURCE))
        .exclude(webhook_secret__isnull=True)
        .exists()
    ):
        raise _refuse("no webhook secret is configured (Settings → Real-time sync)", delivery_id)
    if not signature:
        raise _refuse("the request has no X-Hub-Signature header", delivery_id)
    if not signature.startswith(SIGNATURE_PREFIX):
        raise _refuse("X-Hub-Signature must start with sha1=", delivery_id)
    connection = _signed_by(body, signature)
    if connection is None:
        raise _refuse("the signature does not match the configured secret", delivery_id)
    return connection


class BodyTooLarge(Exception):
    pass


def read_body(environ: dict[str, Any], declared: str | None, stream: Any) -> bytes:
    """The body as sent, at most MAX_BODY_BYTES; with Content-Length or chunked (§4.1).

    Django reads nothing without Content-Length, so a chunked body (a proxy may re-encode
    Zammad's request that way) is read from the WSGI input, which the server de-chunks.
    """
    if declared:
        if not declared.isdigit():
            raise WebhookRefused(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise BodyTooLarge
        source = stream
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        source = environ["wsgi.input"]
    else:
        return b""
    parts: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        part = source.read(min(READ_CHUNK, MAX_BODY_BYTES + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > MAX_BODY_BYTES:
        raise BodyTooLarge
    return b"".join(parts)


def _checked_text(value: str, name: str, max_length: int) -> str:
    if "\x00" in value:
        raise WebhookRefused(400, f"{name} contains a NUL character")
    if len(value) > max_length:
        raise WebhookRefused(400, f"{name} is longer than {max_length} characters")
    return value


def parse_ticket(body: bytes) -> tuple[str, str]:
    """The ticket id and number of a Zammad webhook payload (§4.3)."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused(400, "the body is not JSON") from None
    ticket = payload.get("ticket") if isinstance(payload, dict) else None
    ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int | str) or not str(ticket_id):
        raise WebhookRefused(400, "the body has no ticket.id")
    # Zammad's ticket ids are positive integers (zammad-api.md §4.3); anything else would only
    # make the queued run fail, so it is refused here and nothing is queued.
    text = _checked_text(str(ticket_id).strip(), "ticket.id", MAX_TICKET_ID)
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) < 1:
        raise WebhookRefused(400, f"ticket.id must be a positive whole number, not {text[:40]!r}")
    number = ticket.get("number") if isinstance(ticket, dict) else ""
    return str(int(text)), _checked_text(str(number or ""), "ticket.number", 50)


def parse_delivery(body: bytes, headers: dict[str, str]) -> ParsedDelivery:
    """The ticket and the delivery's headers, checked to fit WebhookDelivery; never truncated
    where truncating could merge two deliveries."""
    ticket_id, number = parse_ticket(body)
    delivery_id = _checked_text(
        headers.get("x-zammad-delivery", "").strip(), "X-Zammad-Delivery", MAX_DELIVERY_ID
    )
    # The trigger's name is only shown to people: a long one is shortened, not refused.
    trigger = headers.get("x-zammad-trigger", "").replace("\x00", "")[:250]
    return ParsedDelivery(ticket_id, number, delivery_id or f"unnamed-{new_secret()}", trigger)
