"""The Audit page: every write to Kimai, configuration change and resolution, filtered and
exported. The same few queries for any number of events."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.actors import actor_labels
from apps.core.http import HtmxHttpRequest
from apps.core.models import AuditEvent
from apps.sync.auditlog import AuditFilters, changes, export_response

PER_PAGE = 50
PAGE = "sync/audit.html"


def _distinct(name: str) -> list[str]:
    values = AuditEvent.objects.order_by(name).values_list(name, flat=True).distinct()
    return [v for v in values if v]


def audit_context(filters: AuditFilters, page_number: str | None) -> dict[str, Any]:
    page = Paginator(filters.apply(AuditEvent.objects.all()), PER_PAGE).get_page(page_number)
    events = list(page.object_list)
    actors = _distinct("actor")
    labels = actor_labels(actors)
    return {
        "filters": filters,
        "page": page,
        "events": [(e, labels[e.actor], changes(e.shown_before, e.shown_after)) for e in events],
        "actors": [(a, labels[a]) for a in actors],
        "actions": _distinct("action"),
        "object_types": _distinct("object_type"),
        "extra_query": f"&{filters.query()}" if filters.query() else "",
        "query": filters.query(),
    }


@require_GET
def audit_page(request: HtmxHttpRequest) -> HttpResponse:
    context = audit_context(AuditFilters.from_query(request.GET), request.GET.get("page"))
    fragment = request.htmx and request.htmx.target == "audit-list"
    return render(request, f"{PAGE}#audit-list" if fragment else PAGE, context)


@require_GET
def audit_export(request: HtmxHttpRequest) -> StreamingHttpResponse | HttpResponse:
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "json"):
        return HttpResponse("format must be csv or json", status=400, content_type="text/plain")
    events = AuditFilters.from_query(request.GET).apply(AuditEvent.objects.all())
    return export_response(events, fmt)
