"""Settings → Privacy: retention, and what is held about one person, its export and purge.

Thin views over apps/gdpr (the API calls the same functions)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apps.core.audit import actor_of_request
from apps.core.http import HtmxHttpRequest
from apps.gdpr import retention
from apps.gdpr.export import export_response, summary
from apps.gdpr.models import RetentionPolicy
from apps.gdpr.purge import AlreadyPurged, purge
from apps.gdpr.subject import Subject, SubjectNotFound, find_subject, subject_people
from apps.ui.forms import PersonLookupForm, RetentionForm

PAGE = "ui/privacy.html"


def retention_context(form: RetentionForm | None = None, saved: bool = False) -> dict[str, Any]:
    policy = RetentionPolicy.load()
    due = retention.due(policy)
    labels = {row.key: row.label for row in due}
    return {
        "retention_form": form or RetentionForm(instance=policy),
        "policy": policy,
        "last_report": [(labels.get(k, k), rows) for k, rows in (policy.last_report or {}).items()],
        "due": due,
        "next_prune_at": retention.next_run(),
        "saved": saved,
    }


def _lookup(form: PersonLookupForm) -> tuple[Subject | None, str, int]:
    """(the person, or what is wrong and the status that says it)."""
    if not form.is_valid():
        return None, " ".join(str(e) for errors in form.errors.values() for e in errors), 400
    try:
        subject = find_subject(form.cleaned_data["email"] or None, form.cleaned_data["person_id"])
    except SubjectNotFound as missing:
        return None, str(missing), 404
    return subject, "", 200


def person_context(
    form: PersonLookupForm, subject: Subject | None = None, **extra: Any
) -> dict[str, Any]:
    """The person section: looked up from the form, or ``subject`` as it is now."""
    problem, status = "", 200
    if subject is None and form.is_bound:
        subject, problem, status = _lookup(form)
    context: dict[str, Any] = {
        "lookup": form, "problem": problem, "status": status, "subject": subject, **extra,
    }  # fmt: skip
    if subject is not None:
        email = form.cleaned_data.get("email") if form.is_bound and form.is_valid() else ""
        context["asked"] = urlencode(
            {"email": email} if email else {"person_id": subject.primary_id}
        )
        context["asked_email"] = email
        context["people"] = subject_people(subject)
        context["sections"] = summary(subject)
        context["purged"] = all(p.purged_at for p in context["people"])
    return context


@require_GET
def privacy_page(request: HtmxHttpRequest) -> HttpResponse:
    asked = bool(request.GET.get("email") or request.GET.get("person_id"))
    context = person_context(PersonLookupForm(request.GET if asked else None))
    status = context["status"]
    if request.htmx and request.htmx.target == "person":
        return render(request, f"{PAGE}#person", context, status=status)
    return render(request, PAGE, context | retention_context(), status=status)


@require_POST
def retention_save(request: HtmxHttpRequest) -> HttpResponse:
    form = RetentionForm(request.POST, instance=RetentionPolicy.load())
    if not form.is_valid():
        return render(request, f"{PAGE}#retention", retention_context(form), status=400)
    retention.save_policy(form.cleaned_data)
    template = f"{PAGE}#retention" if request.htmx else PAGE
    context = retention_context(saved=True)
    if not request.htmx:
        context |= person_context(PersonLookupForm())
    return render(request, template, context)


@require_GET
def person_export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    subject, problem, status = _lookup(PersonLookupForm(request.GET))
    if subject is None:
        return HttpResponse(problem, status=status, content_type="text/plain; charset=utf-8")
    return export_response(subject)


@require_POST
def person_purge(request: HtmxHttpRequest) -> HttpResponse:
    form = PersonLookupForm(request.POST)
    subject, problem, status = _lookup(form)
    report = None
    if subject is not None and request.POST.get("confirm") != "yes":
        problem, status = "Tick the box to confirm: a purge cannot be undone.", 400
    elif subject is not None:
        try:
            report = purge(subject, actor_of_request(request))
        except AlreadyPurged as done:
            problem, status = str(done), 409
    labels = {}
    if subject is not None and report:
        labels = {section["key"]: section["label"] for section in summary(subject)}
    changed = [(labels.get(k, k), rows) for k, rows in (report or {}).items() if rows]
    context = person_context(form, subject, purge_report=report, purge_changed=changed,
                             purge_problem=problem)  # fmt: skip
    template = f"{PAGE}#person" if request.htmx else PAGE
    if not request.htmx:
        context |= retention_context()
    return render(request, template, context, status=status)
