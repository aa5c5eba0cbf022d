"""The Audit page: every write to Kimai, configuration change and resolution, filtered and
exported. The same few queries for any number of events."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.actors import actor_labels
from apps.core.http import HtmxHttpRequest
from apps.core.models import AuditEvent
from apps.core.paging import keyed_page
from apps.sync.auditlog import AuditFilters, changes, distinct_values, export_response

PER_PAGE = 50
PAGE = "sync/audit.html"


def audit_context(filters: AuditFilters, page_number: str | None) -> dict[str, Any]:
    page = keyed_page(filters.apply(AuditEvent.objects.all()), page_number, PER_PAGE)
    actors = distinct_values("actor")
    labels = actor_labels(actors)
    return {
        "filters": filters,
        "page": page,
        "events": [(e, labels[e.actor], changes(e.shown_before, e.shown_after)) for e in page],
        "actors": [(a, labels[a]) for a in actors],
        "actions": distinct_values("action"),
        "object_types": distinct_values("object_type"),
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
