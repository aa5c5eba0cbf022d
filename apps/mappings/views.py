"""The mapping pages: rules with a "try it" preview, users, activities, and settings.

Every view serves its full page and, to HTMX, the fragment it changed (``#partial`` names from
django-template-partials). Forms with mistakes come back with the messages next to the fields:
status 200 to HTMX (htmx 2 swaps no 4xx answer), 400 to a plain browser.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.http import HtmxHttpRequest
from apps.mappings import services
from apps.mappings.lookups import PreviewUnavailable
from apps.mappings.models import Rule
from apps.mappings.pages import (
    Pair,
    activities_context,
    plan_views,
    rule_form_context,
    rule_from_post,
    rules_context,
    settings_context,
    settings_from_post,
    users_context,
    zammad_choices,
)
from apps.mappings.pickers import KINDS, build_picker
from apps.mappings.rules import reference_errors

RULES = "mappings/rules.html"
RULE_FORM = "mappings/rule_form.html"


def _render(
    request: HtmxHttpRequest,
    template: str,
    fragment: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    if request.htmx:
        return render(request, f"{template}#{fragment}", context)
    return render(request, template, context, status=status)


def _rules_changed(request: HtmxHttpRequest, pair: Pair) -> HttpResponse:
    """After a change: the new table to HTMX (and a nudge for the preview), else the page."""
    if not request.htmx:
        return HttpResponseRedirect(f"{reverse('mappings:rules')}?{pair.query}")
    response = render(request, f"{RULES}#rule-list", rules_context(pair))
    response["HX-Trigger"] = "rules-changed"
    return response


def _rule(pair: Pair, rule_id: int) -> Rule:
    if pair.profile is None:
        raise Http404("no mappings yet")
    return get_object_or_404(Rule, pk=rule_id, profile=pair.profile)


@require_GET
def rules(request: HtmxHttpRequest) -> HttpResponse:
    pair = Pair.load(request.GET)
    fragment = request.htmx.target == "rule-list"
    template = f"{RULES}#rule-list" if fragment else RULES
    return render(request, template, rules_context(pair))


@require_http_methods(["GET", "POST"])
def rule_new(request: HtmxHttpRequest) -> HttpResponse:
    return _save_rule(request, Pair.load(request.GET), None)


@require_http_methods(["GET", "POST"])
def rule_edit(request: HtmxHttpRequest, rule_id: int) -> HttpResponse:
    pair = Pair.load(request.GET)
    return _save_rule(request, pair, _rule(pair, rule_id))


def _save_rule(request: HtmxHttpRequest, pair: Pair, rule: Rule | None) -> HttpResponse:
    if pair.profile is None:
        return render(request, RULES, rules_context(pair), status=409)
    if request.method != "POST":
        return _render(request, RULE_FORM, "rule-form", rule_form_context(pair, rule))
    data = rule_from_post(request.POST)
    try:
        spec = services.parse_rule(data)
        if rule is None:
            services.create_rule(pair.profile, spec, pair.catalog)
        else:
            services.update_rule(rule, spec, pair.catalog)
    except services.MappingInvalid as invalid:
        context = rule_form_context(pair, rule, data, invalid.errors)
        response = _render(request, RULE_FORM, "rule-form", context, status=400)
        # The form was aimed at the rule list; its corrected self goes where it stands.
        response["HX-Retarget"] = f"#rule-form-{rule.pk if rule else 'new'}"
        response["HX-Reswap"] = "outerHTML"
        return response
    return _rules_changed(request, pair)


@require_GET
def choices(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    """A rule condition's checkbox list, narrowed by what the admin types; ticked ones stay."""
    if kind not in KINDS:
        raise Http404("no such condition")
    pair = Pair.load(request.GET)
    picker = build_picker(
        kind, request.GET.getlist(KINDS[kind][0])[:200], request.GET.get("q", ""),
        zammad_choices(pair), pair.source,
    )  # fmt: skip
    return render(request, "mappings/_picker.html#picker-options", {"picker": picker})


@require_POST
def rule_check(request: HtmxHttpRequest) -> HttpResponse:
    """The editor asks while people choose: what would Kimai say about this combination?"""
    pair = Pair.load(request.GET)
    try:
        errors = reference_errors(services.parse_rule(rule_from_post(request.POST)), pair.catalog)
    except services.MappingInvalid as invalid:
        errors = invalid.errors
    return render(request, f"{RULE_FORM}#rule-check", {"errors": errors, "checked": True})


@require_POST
def rule_delete(request: HtmxHttpRequest, rule_id: int) -> HttpResponse:
    pair = Pair.load(request.GET)
    services.delete_rule(_rule(pair, rule_id))
    return _rules_changed(request, pair)


@require_POST
def rule_move(request: HtmxHttpRequest, rule_id: int, direction: str) -> HttpResponse:
    pair = Pair.load(request.GET)
    if direction not in ("up", "down"):
        raise Http404("up or down")
    services.move_rule(_rule(pair, rule_id), -1 if direction == "up" else 1)
    return _rules_changed(request, pair)


@require_POST
def preview(request: HtmxHttpRequest) -> HttpResponse:
    pair = Pair.load(request.GET)
    kind, value = request.POST.get("kind", "ticket"), request.POST.get("value", "").strip()
    context = rules_context(pair, preview_kind=kind, preview_value=value)
    lookup = {"accounting_id": value} if kind == "entry" else {"ticket_number": value}
    if value:
        try:
            found = services.preview_from_zammad(pair.source, pair.target, **lookup)
            context.update(plans=plan_views(found), preview_note=found.note)
        except (PreviewUnavailable, services.NotConfigured) as unavailable:
            context["preview_error"] = str(unavailable)
    return _render(request, RULES, "preview", context)


@require_POST
def refresh(request: HtmxHttpRequest) -> HttpResponse:
    """Fetch Kimai's and Zammad's reference data again, and find the agents who book time."""
    pair = Pair.load(request.GET)
    found, errors = services.refresh_pair(pair.source, pair.target)
    for error in errors:
        messages.error(request, error)
    if not errors:
        messages.success(request, f"Refreshed. {found} Zammad agents booked time recently.")
    next_page = request.POST.get("next", "rules")
    if next_page not in ("rules", "users", "activities"):
        next_page = "rules"
    return HttpResponseRedirect(f"{reverse('mappings:' + next_page)}?{pair.query}")


@require_GET
def users(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "mappings/users.html", users_context(Pair.load(request.GET)))


@require_POST
def user_set(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    pair = Pair.load(request.GET)
    error = ""
    if pair.source is not None and pair.target is not None:
        try:
            chosen = request.POST.get("kimai_user", "") or None
            services.set_user_mapping(pair.source, pair.target, agent_id, chosen)
        except services.MappingInvalid as invalid:
            error = " ".join(m for ms in invalid.errors.values() for m in ms)
    context = users_context(pair, error=error, changed=agent_id)
    return _render(request, "mappings/users.html", "agents", context, status=400 if error else 200)


@require_POST
def user_policy(request: HtmxHttpRequest) -> HttpResponse:
    pair = Pair.load(request.GET)
    errors: dict[str, list[str]] = {}
    if pair.profile is not None:
        try:
            services.set_unmapped_policy(
                pair.profile,
                request.POST.get("unmapped_policy", ""),
                request.POST.get("fallback_user"),
            )
        except services.MappingInvalid as invalid:
            errors = invalid.errors
    context = users_context(pair, policy_errors=errors, policy_saved=not errors)
    return _render(request, "mappings/users.html", "policy", context, status=400 if errors else 200)


@require_GET
def activities(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "mappings/activities.html", activities_context(Pair.load(request.GET)))


@require_POST
def activity_set(request: HtmxHttpRequest) -> HttpResponse:
    pair = Pair.load(request.GET)
    error = ""
    type_id = request.POST.get("zammad_type", "")
    if pair.profile is not None:
        try:
            chosen = request.POST.get("kimai_activity", "")
            services.set_activity_mapping(pair.profile, type_id, chosen or None, pair.catalog)
        except services.MappingInvalid as invalid:
            error = " ".join(m for ms in invalid.errors.values() for m in ms)
    context = activities_context(pair, error=error, changed=type_id)
    return _render(
        request, "mappings/activities.html", "activity-table", context, 400 if error else 200
    )


@require_http_methods(["GET", "POST"])
def settings_page(request: HtmxHttpRequest) -> HttpResponse:
    pair = Pair.load(request.GET)
    context = settings_context(pair)
    if request.method == "POST" and pair.profile is not None:
        try:
            services.update_settings(pair.profile, settings_from_post(request.POST))
            context = settings_context(pair, saved=True)
        except services.MappingInvalid as invalid:
            context.update(errors=invalid.errors, values=settings_from_post(request.POST))
            return _render(request, "mappings/settings.html", "settings-panel", context, 400)
    return _render(request, "mappings/settings.html", "settings-panel", context)
