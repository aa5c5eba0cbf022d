from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from apps.core.health import failing, readiness_checks

router = Router(tags=["System"])


class ReadinessCheckOut(Schema):
    name: str
    ok: bool
    detail: str
    required: bool = Field(
        description="A failing required check makes the service not ready; the others "
        "(connector plugins) are reported only."
    )


class StatusOut(Schema):
    version: str
    ready: bool
    checks: list[ReadinessCheckOut]


@router.get("/status", response=StatusOut, summary="Version and readiness of this service")
def get_status(request: HttpRequest) -> dict[str, object]:
    checks = readiness_checks()
    return {
        "version": settings.APP_VERSION,
        "ready": not failing(checks),
        "checks": [c.__dict__ for c in checks],
    }
