"""The Conflicts pages: review side by side, resolve one, resolve many, fix a mapping.

Each view renders its full page, and to HTMX the fragment it changed (``template#partial``).
A refused resolution comes back as an inline message: status 200 to HTMX (htmx swaps no 4xx
answer), 409 or 422 to a plain browser; never a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.core.audit import actor_of_request
from apps.core.http import HtmxHttpRequest
from apps.sync.conflict_fixes import (
    activity_fix_context,
    agent_fix_context,
    map_activity_and_recheck,
    map_agent_and_recheck,
)
from apps.sync.conflict_pages import (
    ConflictFilters,
    conflict_detail_context,
    conflict_list_context,
    conflicts_with_people,
)
from apps.sync.models import Conflict, Run
from apps.sync.resolutions import (
    ACTION_LABELS,
    ResolutionParams,
    ResolutionRefused,
    apply_bulk,
    apply_resolution,
)

LIST = "sync/conflicts.html"
DETAIL = "sync/conflict.html"
FIX = "sync/conflict_fix.html"
# A bulk step stops after this long, so the page shows progress between steps.
BULK_STEP_SECONDS = 1.5
BULK_LIMIT = 10_000


@require_GET
def conflicts(request: HtmxHttpRequest) -> HttpResponse:
    context = conflict_list_context(
        ConflictFilters.from_query(request.GET), request.GET.get("page")
    )
    fragment = request.htmx and request.htmx.target == "conflict-list"
    return render(request, f"{LIST}#conflict-list" if fragment else LIST, context)


@require_GET
def conflict_detail(request: HtmxHttpRequest, conflict_id: int) -> HttpResponse:
    conflict = get_object_or_404(conflicts_with_people(), pk=conflict_id)
    context = conflict_detail_context(conflict)
    if request.htmx and request.GET.get("fragment") == "conflict":  # following a re-check
        context |= _still_checking(conflict, request.GET.get("checking", ""))
        response = render(request, f"{DETAIL}#conflict", context)
        if not context["checking"]:
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, DETAIL, context)


def _still_checking(conflict: Conflict, run_ids: str) -> dict[str, Any]:
    """The re-check runs still to finish while the conflict is open (the page follows them)."""
    ids = _ids(run_ids.split(","))[:20]
    pending: list[int] = []
    if conflict.status == Conflict.Status.OPEN and ids:
        waiting = Run.objects.filter(pk__in=ids, status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
        pending = sorted(waiting.values_list("pk", flat=True))
    return {"checking": ",".join(map(str, pending)), "checking_list": pending}


@require_POST
def conflict_resolve(request: HtmxHttpRequest, conflict_id: int) -> HttpResponse:
    conflict = get_object_or_404(Conflict, pk=conflict_id)
    params = ResolutionParams(
        kimai_id=request.POST.get("kimai_id", "")[:64],
        note=request.POST.get("note", "")[:2000],
        version=request.POST.get("version", "")[:64],
    )
    try:
        done = apply_resolution(
            conflict, request.POST.get("action", ""), params, actor_of_request(request)
        )
    except ResolutionRefused as refused:
        context = conflict_detail_context(
            get_object_or_404(conflicts_with_people(), pk=conflict_id)
        )
        context["refusal"] = refused.message
        status = 200 if request.htmx else refused.status
        return render(
            request, f"{DETAIL}#conflict" if request.htmx else DETAIL, context, status=status
        )
    if not request.htmx:
        messages.success(request, done.message)
        return HttpResponseRedirect(reverse("sync:conflict", args=[conflict_id]))
    context = conflict_detail_context(get_object_or_404(conflicts_with_people(), pk=conflict_id))
    context["done"] = done.message
    return render(request, f"{DETAIL}#conflict", context)


# -- bulk ----------------------------------------------------------------------------------------
def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()][:BULK_LIMIT]


def _bulk_state(post: QueryDict) -> dict[str, Any]:
    """The batch as the page carries it between steps (HTMX) or as first submitted."""
    if post.get("remaining") is not None:  # a later step
        ids = _ids(post.get("remaining", "").split(","))
    elif post.get("scope") == "filtered":
        filters = ConflictFilters.from_query(post)
        ids = list(filters.apply(Conflict.objects.all()).values_list("pk", flat=True)[:BULK_LIMIT])
    else:
        ids = _ids(post.getlist("ids"))

    def number(name: str, default: int) -> int:
        value = post.get(name, "")
        return int(value) if value.isdigit() else default

    action = post.get("action", "")
    return {
        "ids": ids,
        "action": action,
        "label": {a.value: label for a, label in ACTION_LABELS.items()}.get(action, action),
        "note": post.get("note", "")[:2000],
        "total": number("total", len(ids)),
        "ok": number("ok", 0),
        "failed": number("failed", 0),
        "first": post.get("remaining") is None,
    }


@require_POST
def conflicts_bulk(request: HtmxHttpRequest) -> HttpResponse:
    bulk = _bulk_state(request.POST)
    if not bulk["ids"]:
        bulk["error"] = "Select at least one conflict (or all that match the filters) first."
        return _bulk_response(request, bulk, status=422)
    try:
        outcome = apply_bulk(
            bulk["ids"], bulk["action"], ResolutionParams(note=bulk["note"]),
            actor_of_request(request),
            budget_seconds=BULK_STEP_SECONDS if request.htmx else None,
        )  # fmt: skip
    except ResolutionRefused as refused:
        bulk["error"] = refused.message
        bulk["waiting"] = refused.reason == ResolutionRefused.BUSY and request.htmx
        bulk["remaining"] = bulk["ids"] if bulk["waiting"] else []
        return _bulk_response(request, bulk, status=refused.status)
    bulk["results"] = outcome.results
    bulk["remaining"] = outcome.remaining
    bulk["ok"] += sum(1 for r in outcome.results if r.ok)
    bulk["failed"] += sum(1 for r in outcome.results if not r.ok)
    return _bulk_response(request, bulk)


def _bulk_response(
    request: HtmxHttpRequest, bulk: dict[str, Any], status: int = 200
) -> HttpResponse:
    bulk["done"] = bulk["ok"] + bulk["failed"]
    bulk["remaining_csv"] = ",".join(str(i) for i in bulk.get("remaining", []))
    finished = not bulk.get("remaining")
    filters = ConflictFilters.from_query(request.GET)
    if request.htmx:
        context: dict[str, Any] = {"bulk": bulk, "finished": finished, "filters": filters}
        if finished:  # the list shows what is still open
            context |= conflict_list_context(filters, None) | {"oob": True}
        return render(request, "sync/conflicts.html#bulk-step", context)
    context = conflict_list_context(filters, None) | {"bulk": bulk, "finished": True}
    return render(request, LIST, context, status=status)


# -- quick fixes ---------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def map_agent(request: HtmxHttpRequest, person_id: int) -> HttpResponse:
    context = agent_fix_context(person_id)
    if request.method == "POST":
        context |= map_agent_and_recheck(
            context, request.POST.get("kimai_user", ""), actor_of_request(request)
        )
    return _fix_response(request, context)


@require_http_methods(["GET", "POST"])
def map_activity(request: HtmxHttpRequest) -> HttpResponse:
    context = activity_fix_context(request.GET.get("type", ""))
    if request.method == "POST":
        context |= map_activity_and_recheck(
            context, request.POST.get("kimai_activity", ""), actor_of_request(request)
        )
    return _fix_response(request, context)


def _fix_response(request: HtmxHttpRequest, context: dict[str, Any]) -> HttpResponse:
    status = 400 if context.get("error") and not request.htmx else 200
    if context.get("saved") and not request.htmx:
        messages.success(request, context["saved"])
        return HttpResponseRedirect(context["back"])
    conflict_id = request.POST.get("conflict") or request.GET.get("conflict", "")
    context["conflict_id"] = conflict_id if conflict_id.isdigit() else ""
    if context.get("saved") and context["conflict_id"]:
        # Made on a conflict's page: that page shows the outcome, and follows the re-check.
        conflict = get_object_or_404(conflicts_with_people(), pk=int(context["conflict_id"]))
        checking = ",".join(str(pk) for pk in context.get("checking_runs", []))
        page = conflict_detail_context(conflict) | {"quick_fix": context}
        page |= _still_checking(conflict, checking)
        response = render(request, f"{DETAIL}#conflict", page)
        response["HX-Retarget"] = "#conflict"
        response["HX-Reswap"] = "outerHTML"
        return response
    template = f"{FIX}#fix" if request.htmx else FIX
    return render(request, template, context, status=status)
