from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.core import audit
from apps.gdpr.models import Person
from apps.mappings.services import NotConfigured, current_pair, profile_for
from apps.sync.engine import settings_of
from apps.sync.forms import SyncNowForm, SyncSettingsForm
from apps.sync.models import Run, RunItem, WriteIntent
from apps.sync.schedules import apply_schedule, schedule_enabled, switch_schedule_on
from apps.sync.services import RunRequestInvalid, request_run
from apps.ui.http import HtmxHttpRequest

ITEMS_PER_PAGE = 100


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


@require_GET
def run_page(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(Run.objects.select_related("profile__target"), pk=run_id)
    if request.htmx and request.GET.get("fragment") == "progress":
        response = render(request, "sync/run.html#progress", {"run": run})
        return HttpResponseStopPolling(response.content) if run.finished else response
    items = Paginator(RunItem.objects.filter(run=run), ITEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "run": run,
        "items": items,
        "hours": _hours_rows(run),
        "kimai_url": run.profile.target.base_url,
        "schedule_off": run.dry_run and not schedule_enabled(run.profile_id),
        "settled_later": _settled_later(run),
    }
    return render(request, "sync/run.html", context)


@require_POST
def run_confirm(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    """Turn a finished dry run into the real run of the same scope."""
    planned = get_object_or_404(Run, pk=run_id, dry_run=True)
    run, _ = request_run(
        planned.profile, scope=planned.scope, trigger=Run.Trigger.MANUAL,
        actor=audit.actor_of_request(request), start=planned.window_start,
        end=planned.window_end, ticket_id=planned.ticket_id,
    )  # fmt: skip
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
