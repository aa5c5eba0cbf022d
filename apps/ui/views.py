from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import ApiKey
from apps.core.health import readiness_checks
from apps.core.http import HtmxHttpRequest
from apps.core.models import WorkerHeartbeat
from apps.ui.dashboard import dashboard_context, hours_chart
from apps.ui.forms import ApiKeyForm


@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    checks = {c.name: c for c in readiness_checks()}
    context = {
        "checks": checks,
        "database_location": "embedded (DATA_DIR/pgdata)"
        if not settings.DATABASE_URL
        else f"{settings.DATABASES['default'].get('HOST') or 'local socket'}",
        "workers": list(WorkerHeartbeat.objects.alive()),
        "active_api_keys": ApiKey.objects.active().count(),
    }
    mode = request.GET.get("chart", "worked")
    if request.htmx and request.htmx.target == "chart":  # the chart's switch
        return render(request, "ui/dashboard.html#chart", {"chart": hours_chart(mode=mode)})
    if request.htmx:  # the health cards refresh themselves
        return render(request, "ui/dashboard.html#health", context)
    return render(request, "ui/dashboard.html", context | dashboard_context(mode))


def _api_keys_context(form: ApiKeyForm | None = None, new_key: str | None = None) -> dict:
    return {
        "api_keys": list(ApiKey.objects.all()),
        "form": form or ApiKeyForm(),
        "new_key": new_key,
    }


@require_GET
def settings_page(request: HtmxHttpRequest) -> HttpResponse:
    from apps.connectors.views import webhook_context
    from apps.sync.views import settings_context

    context = _api_keys_context() | settings_context() | webhook_context(request)
    return render(request, "ui/settings.html", context)


@require_POST
def api_key_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    new_key = None
    status = 200
    if form.is_valid():
        _, new_key = ApiKey.issue(form.cleaned_data["name"])
        form = ApiKeyForm()
    else:
        status = 400
    template = "ui/settings.html#api-keys" if request.htmx else "ui/settings.html"
    return render(request, template, _api_keys_context(form, new_key), status=status)


@require_POST
def api_key_revoke(request: HtmxHttpRequest, key_id: int) -> HttpResponse:
    get_object_or_404(ApiKey, pk=key_id).revoke()
    template = "ui/settings.html#api-keys" if request.htmx else "ui/settings.html"
    return render(request, template, _api_keys_context())
