from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import failing, readiness_checks


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database reachable, migrations applied, a worker heartbeat seen recently.

    Checks that are not required (connector plugins) are listed under ``warnings`` when they
    fail and never make the answer 503."""
    checks = readiness_checks()
    not_ready = failing(checks)
    body = {
        "status": "fail" if not_ready else "ok",
        "failing": not_ready,
        "warnings": [c.name for c in checks if not c.required and not c.ok],
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JsonResponse(body, status=503 if not_ready else 200)
