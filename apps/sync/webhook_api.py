"""The Zammad webhook endpoint: refusals counted per source address, deliveries queued a run.

Mounted at /api/v1/webhooks/zammad without API authentication: the signature of the body is the
authentication (apps/connectors/zammad/webhook.py verifies it, apps/sync/webhooks.py records and
queues).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from pydantic import Field

from apps.accounts.throttle import client_ip
from apps.connectors.rejections import RATE_LIMITED, count_rejection, retry_after
from apps.connectors.zammad.webhook import (
    MAX_BODY_BYTES,
    BodyTooLarge,
    WebhookRefused,
    read_body,
)
from apps.sync.webhooks import receive

webhooks_router = Router(tags=["Webhooks"])


class DeliveryOut(Schema):
    status: str = Field(description="queued, merged, duplicate or not_configured")
    delivery_id: str
    ticket_id: str
    run_id: int | None


class WebhookErrorOut(Schema):
    detail: str


@webhooks_router.post(
    "/webhooks/zammad",
    # The operationId it was published with before it moved here from apps/connectors/api.py.
    operation_id="apps_connectors_api_zammad_webhook",
    auth=None,
    response={
        202: DeliveryOut,
        400: WebhookErrorOut,
        401: WebhookErrorOut,
        413: WebhookErrorOut,
        429: WebhookErrorOut,
    },
    summary="Zammad trigger webhook: signed with X-Hub-Signature, queues a sync of the ticket",
    description=(
        "Authenticated by the HMAC-SHA1 signature of the raw body (`X-Hub-Signature: sha1=...`) "
        "with the secret from Settings → Real-time sync; deduplicated by `X-Zammad-Delivery`. "
        "Answers 202 at once; the queued run re-reads the ticket's time accountings from Zammad. "
        "Refusals are counted per source address and minute; an address refused more than "
        "`WEBHOOK_REJECTIONS_PER_MINUTE` times this minute gets 429 with `Retry-After`."
    ),
)
def zammad_webhook(request: HttpRequest, response: HttpResponse) -> Status[Any]:
    headers = {name.lower(): value for name, value in request.headers.items()}
    source = client_ip(request)
    wait = retry_after(source)
    if wait:
        count_rejection(source, RATE_LIMITED)
        detail = f"Too many refused requests from this address; try again in {wait} s."
        response["Retry-After"] = str(wait)
        return Status(429, {"detail": detail})
    try:
        body = read_body(request.META, request.META.get("CONTENT_LENGTH"), request)
        accepted = receive(body, headers)
    except BodyTooLarge:
        count_rejection(source, "the body is too large")
        return Status(413, {"detail": f"The body is over {MAX_BODY_BYTES} bytes."})
    except WebhookRefused as refused:
        if refused.status == 401:
            count_rejection(source, refused.message)
        return Status(refused.status, {"detail": refused.message})
    delivery = accepted.delivery
    return Status(
        202,
        {
            "status": "duplicate" if accepted.duplicate else delivery.outcome,
            "delivery_id": delivery.delivery_id,
            "ticket_id": delivery.ticket_id,
            "run_id": delivery.run_id,
        },
    )
