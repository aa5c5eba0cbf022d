"""Which of the connectors' rows expire (apps/gdpr/registry.py)."""

from __future__ import annotations

from apps.connectors.models import WebhookDelivery, WebhookRejection
from apps.gdpr.registry import Expiring, register_expiring


def register() -> None:
    register_expiring(
        Expiring(
            "webhook_deliveries", "webhook deliveries", "deliveries_days",
            expired=lambda cutoff: WebhookDelivery.objects.filter(received_at__lt=cutoff),
        )
    )  # fmt: skip
    register_expiring(
        Expiring(
            "webhook_rejections", "counts of refused webhook requests", "deliveries_days",
            expired=lambda cutoff: WebhookRejection.objects.filter(minute__lt=cutoff),
        )
    )  # fmt: skip
