"""Receiving Zammad's trigger webhooks (zammad-api.md §4): record the delivery, queue its run.

The Zammad connector verifies the signature and parses the payload
(apps/connectors/zammad/webhook.py); this is where the queue is, so the delivery row and the
queued one-ticket run are written here in one transaction and the request is answered at once.
Nothing here talks to Zammad or Kimai. Deliveries are deduplicated by ``X-Zammad-Delivery``
(the same across Zammad's retries); the payload is only a hint that a ticket changed: the queued
run re-reads the ticket's time accountings from the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from apps.connectors.models import WebhookDelivery
from apps.connectors.zammad.webhook import parse_delivery, verify
from apps.core import audit
from apps.mappings.services import NotConfigured, current_pair, profile_for
from apps.sync.models import Run
from apps.sync.services import request_run


@dataclass(frozen=True)
class Accepted:
    delivery: WebhookDelivery
    duplicate: bool


def receive(body: bytes, headers: dict[str, str]) -> Accepted:
    """Verify and record one delivery, queueing a one-ticket sync in the same transaction."""
    connection = verify(body, headers)
    parsed = parse_delivery(body, headers)
    with transaction.atomic():
        delivery = WebhookDelivery(
            connection=connection, delivery_id=parsed.delivery_id, ticket_id=parsed.ticket_id,
            ticket_number=parsed.ticket_number, trigger=parsed.trigger,
        )  # fmt: skip
        try:
            with transaction.atomic():
                delivery.save()
        except IntegrityError:
            existing = WebhookDelivery.objects.get(
                connection=connection, delivery_id=parsed.delivery_id
            )
            return Accepted(existing, duplicate=True)
        try:
            profile = profile_for(connection, current_pair(source_id=connection.pk)[1])
        except NotConfigured:
            delivery.outcome = WebhookDelivery.Outcome.NOT_CONFIGURED
        else:
            run, created = request_run(
                profile, scope=Run.Scope.TICKET, trigger=Run.Trigger.WEBHOOK,
                actor=audit.WEBHOOK, ticket_id=parsed.ticket_id,
            )  # fmt: skip
            delivery.run = run
            delivery.outcome = (
                WebhookDelivery.Outcome.QUEUED if created else WebhookDelivery.Outcome.MERGED
            )
        delivery.save(update_fields=["outcome", "run"])
    return Accepted(delivery, duplicate=False)
