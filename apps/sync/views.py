from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.actors import actor_label
from apps.core import audit
from apps.core.http import HtmxHttpRequest
from apps.core.paging import keyed_page
from apps.gdpr.models import Person
from apps.mappings.services import NotConfigured, current_pair, profile_for
from apps.sync.engine import settings_of
from apps.sync.forms import SyncNowForm, SyncSettingsForm
from apps.sync.models import Outcome, Run, RunItem, WriteIntent
from apps.sync.schedules import apply_schedule, schedule_enabled, switch_schedule_on
from apps.sync.services import RunRequestInvalid, confirm_plan, request_run
from apps.sync.wording import people_namer

# 25 entries keep a run page short on a phone (each entry is a card there).
ITEMS_PER_PAGE = 25


def _profile_or_none() -> Any:
    try:
        return profile_for(*current_pair())
    except NotConfigured:
        return None


@require_http_methods(["GET", "POST"])
def sync_page(request: HtmxHttpRequest) -> HttpResponse:
    profile = _profile_or_none()
    today = timezone.localdate()
    form = SyncNowForm(
        request.POST or None,
        initial={"start": today.replace(day=1), "end": today, "dry_run": True},
    )
    if request.method == "POST" and profile is not None and form.is_valid():
        start, end = form.window()
        try:
            run, _ = request_run(
                profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.MANUAL,
                actor=audit.actor_of_request(request), dry_run=form.cleaned_data["dry_run"],
                start=start, end=end,
            )  # fmt: skip
        except RunRequestInvalid as error:
            form.add_error(None, str(error))
        else:
            return redirect("sync:run", run_id=run.pk)
    runs = Paginator(Run.objects.all(), 25).get_page(request.GET.get("page"))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "profile": profile, "runs": runs}
    return render(request, "sync/sync.html", context, status=status)


def _hours_rows(run: Run) -> list[dict[str, Any]]:
    ids = [int(k) for k in run.hours if k.isdigit()]
    names = {p.pk: p.label for p in Person.objects.filter(pk__in=ids)}
    rows = []
    for key, totals in sorted(run.hours.items()):
        label = names.get(int(key), f"#{key}") if key.isdigit() else "no Kimai user"
        rows.append(
            {"user": label, "create": totals["create"] / 3600, "update": totals["update"] / 3600}
        )
    return rows


def _settled_later(run: Run) -> list[dict[str, Any]]:
    """Writes this run left uncertain that later runs looked up in Kimai, per settling run."""
    rows = (
        WriteIntent.objects.filter(run=run, settled_by__isnull=False)
        .values("settled_by_id", "state")
        .annotate(n=Count("id"))
        .order_by("settled_by_id")
    )
    by_run: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = by_run.setdefault(row["settled_by_id"], {"run": row["settled_by_id"]})
        key = "applied" if row["state"] == WriteIntent.State.DONE else "not_applied"
        entry[key] = entry.get(key, 0) + row["n"]
    return list(by_run.values())


def run_context(run: Run, query: QueryDict) -> dict[str, Any]:
    """The run page: its progress, and once it finished the hours, the plan's state and one
    page of its entries, filtered by outcome."""
    context: dict[str, Any] = {
        "run": run,
        "actor": actor_label(run.actor),
        "settled_later": _settled_later(run),
    }
    if not run.finished:
        return context
    outcome = query.get("outcome", "")
    items = RunItem.objects.filter(run=run)
    if outcome in Outcome.values:
        items = items.filter(planned=outcome)
    else:
        outcome = ""
    page = keyed_page(items, query.get("page"), ITEMS_PER_PAGE)
    named = people_namer((item.reason for item in page), run.profile)
    for item in page:
        item.reason_text = named(item.reason)  # type: ignore[attr-defined]
    return context | {
        "items": page,
        "outcome": outcome,
        "outcome_query": f"&outcome={outcome}" if outcome else "",
        "hours": _hours_rows(run),
        "kimai_url": run.profile.target.base_url.rstrip("/"),
        "confirmation": run.confirmations.order_by("created_at").first() if run.dry_run else None,
        "schedule_off": run.dry_run and not schedule_enabled(run.profile_id),
    }


@require_GET
def run_page(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(Run.objects.select_related("profile__target", "plan"), pk=run_id)
    context = run_context(run, request.GET)
    fragment = request.GET.get("fragment")
    if request.htmx and fragment in ("run-body", "entries"):
        response = render(request, f"sync/run.html#{fragment}", context)
        # Polling ends with the answer that shows the finished run (htmx stops on 286).
        if fragment == "run-body" and run.finished:
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "sync/run.html", context)


@require_POST
def run_confirm(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    """Turn a finished dry run into the real run of the same scope (once)."""
    planned = get_object_or_404(Run, pk=run_id, dry_run=True)
    already = planned.confirmations.exists()
    try:
        run = confirm_plan(planned, audit.actor_of_request(request))
    except RunRequestInvalid as invalid:
        messages.error(request, str(invalid))
        return redirect("sync:run", run_id=planned.pk)
    if already:
        messages.info(request, f"This plan was confirmed already: run {run.pk} carries it out.")
        return redirect("sync:run", run_id=run.pk)
    if request.POST.get("schedule") == "on":
        switch_schedule_on(planned.profile_id)
        messages.success(request, "The schedule is on: changes sync on their own from now on.")
    messages.success(request, f"Syncing {run.describe_scope()}.")
    return redirect("sync:run", run_id=run.pk)


@require_POST
def settings_save(request: HtmxHttpRequest) -> HttpResponse:
    profile = _profile_or_none()
    if profile is None:
        messages.error(request, "Add a Zammad and a Kimai connection first.")
        return redirect("ui:settings")
    sync_settings = settings_of(profile)
    form = SyncSettingsForm(request.POST, instance=sync_settings)
    if not form.is_valid():
        if not request.htmx:  # the page is put together by the Settings view: say it there
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else ""
                words = " ".join(str(e) for e in errors)
                messages.error(request, f"Nothing was saved. {label}: {words}")
            return redirect(f"{reverse('ui:settings')}#sync-settings")
        return render(
            request, "sync/_settings.html", {"sync_form": form, "profile": profile}, status=400
        )
    saved = form.save()
    apply_schedule(saved)
    if request.htmx:
        context = {"sync_form": SyncSettingsForm(instance=saved), "profile": profile, "saved": True}
        return render(request, "sync/_settings.html", context)
    messages.success(request, "Sync schedule saved.")
    return redirect("ui:settings")


def settings_context() -> dict[str, Any]:
    """The Settings page's sync section."""
    profile = _profile_or_none()
    form = SyncSettingsForm(instance=settings_of(profile)) if profile else None
    return {"sync_form": form, "profile": profile}
