from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connectors.deletion import (
    DeletionRefused,
    delete_connection,
    deletion_plan,
    disable_connection,
)
from apps.connectors.models import Connection
from apps.connectors.registry import (
    available_kinds,
    installed_connectors,
    is_available,
    plugin_problems,
    settings_model,
)
from apps.connectors.services import (
    ConnectionInput,
    ConnectionInvalid,
    check_connection,
    check_values,
    clean_connection,
    save_connection,
)
from apps.connectors.settings_fields import setting_fields, settings_from_post
from apps.connectors.webhook_address import webhook_address
from apps.core.http import HtmxHttpRequest


@require_GET
def connection_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(
        request,
        "connectors/list.html",
        {
            "connections": Connection.objects.all(),
            "kinds": available_kinds(),
            "installed": installed_connectors(),
            "plugin_problems": plugin_problems(),
        },
    )


def _input_from_post(
    kind: str, request: HtmxHttpRequest, instance: Connection | None = None
) -> ConnectionInput:
    saved = instance.settings if instance else None
    return ConnectionInput(
        kind=kind,
        name=request.POST.get("name", ""),
        base_url=request.POST.get("base_url", ""),
        token=request.POST.get("token", ""),
        settings=settings_from_post(settings_model(kind), request.POST, saved),
        enabled=request.POST.get("enabled") == "on",
    )


def _form_context(
    kind: str, instance: Connection | None, data: ConnectionInput | None, errors: dict[str, Any]
) -> dict[str, Any]:
    settings_values = data.settings if data else (instance.settings if instance else {})
    try:
        fields = setting_fields(settings_model(kind), settings_values)
    except ValueError:
        fields = setting_fields(settings_model(kind), instance.settings if instance else {})
    return {
        "kind": kind,
        "connection": instance,
        "values": data or instance,
        "errors": errors,
        "setting_fields": fields,
    }


@require_http_methods(["GET", "POST"])
def connection_new(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    if not is_available(kind):
        raise Http404("unknown connector kind")
    return _edit(request, kind, None)


@require_http_methods(["GET", "POST"])
def connection_edit(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=connection_id)
    if not connection.kind_available:
        messages.error(request, f"{connection.name} cannot be edited: {connection.kind_problem}.")
        return redirect("connectors:list")
    return _edit(request, connection.kind, connection)


def _edit(request: HtmxHttpRequest, kind: str, instance: Connection | None) -> HttpResponse:
    if request.method != "POST":
        context = _form_context(kind, instance, None, {})
        return render(request, "connectors/form.html", context)
    data = _input_from_post(kind, request, instance)
    try:
        connection, report = save_connection(data, instance)
    except ConnectionInvalid as invalid:
        context = _form_context(kind, instance, data, invalid.errors)
        context["report"] = invalid.report
        return render(request, "connectors/form.html", context, status=400)
    verb = "Saved" if instance else "Added"
    messages.success(
        request, f"{verb} {connection.name}: {'ready' if report.ok else 'see the check'}."
    )
    return redirect("connectors:list")


@require_POST
def connection_check(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=connection_id)
    if not connection.kind_available:  # the card says why; nothing was sent anywhere
        context = {"connection": connection}
        return render(request, "connectors/list.html#connection-card", context, status=409)
    report = check_connection(connection)
    connection.refresh_from_db()
    return render(
        request,
        "connectors/list.html#connection-card",
        {"connection": connection, "report": report},
    )


@require_POST
def connection_check_unsaved(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    """The form's Test button: check the values as typed, before anything is saved."""
    if not is_available(kind):
        raise Http404("unknown connector kind")
    instance = None
    if request.POST.get("connection_id", "").isdigit():
        instance = Connection.objects.filter(pk=int(request.POST["connection_id"])).first()
    data = _input_from_post(kind, request, instance)
    try:
        cleaned = clean_connection(data, instance)
    except ConnectionInvalid as invalid:
        errors = _in_words(kind, invalid.errors)
        return render(request, "connectors/_check.html", {"errors": errors}, status=400)
    return render(request, "connectors/_check.html", {"report": check_values(cleaned, instance)})


def _in_words(kind: str, errors: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """Field errors labelled as the form labels its fields ("Address", not ``base_url``)."""
    labels = {"name": "Name", "base_url": "Address", "token": "API token", "kind": "Kind"}
    labels |= {f.form_name: f.label for f in setting_fields(settings_model(kind))}
    return [(labels.get(key, key), messages) for key, messages in errors.items()]


@require_http_methods(["GET", "POST"])
def connection_delete(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    """Show what deleting would erase; delete only when that page is confirmed."""
    connection = get_object_or_404(Connection, pk=connection_id)
    confirmed = request.method == "POST" and request.POST.get("confirm") == "delete"
    if not confirmed:
        status = 400 if request.method == "POST" else 200
        context = {"plan": deletion_plan(connection), "confirm_missing": status == 400}
        return render(request, "connectors/delete.html", context, status=status)
    name = connection.name
    try:
        delete_connection(connection, force=True)  # the person saw the history and confirmed
    except DeletionRefused as refused:
        context = {"plan": deletion_plan(connection), "error": refused.message}
        return render(request, "connectors/delete.html", context, status=409)
    messages.success(request, f"Deleted {name} and everything listed with it.")
    return redirect("connectors:list")


@require_POST
def connection_disable(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=connection_id)
    disable_connection(connection)
    messages.success(
        request, f"Disabled {connection.name}: nothing syncs through it; its history stays."
    )
    return redirect("connectors:list")


# -- Settings → Real-time sync (Zammad webhooks) -----------------------------------------------
def webhook_context(request: HttpRequest, new_secret: str | None = None) -> dict[str, Any]:
    from apps.connectors.base import Role
    from apps.connectors.models import WebhookDelivery
    from apps.connectors.registry import kinds_for_role
    from apps.connectors.rejections import recent_rejections
    from apps.connectors.zammad.webhook import ROTATION_GRACE

    source = (
        Connection.objects.filter(kind__in=kinds_for_role(Role.SOURCE))
        .order_by("-enabled", "name")
        .first()
    )
    return {
        "webhook_source": source,
        "webhook": webhook_address(request.build_absolute_uri("/")),
        "webhook_new_secret": new_secret,
        "webhook_rotation_ends": (
            source.webhook_rotated_at + ROTATION_GRACE
            if source and source.webhook_rotated_at and source.webhook_previous_secret
            else None
        ),
        "deliveries": list(
            WebhookDelivery.objects.select_related("connection", "run").order_by("-received_at")[
                :20
            ]
        ),
        "rejections": recent_rejections(),
    }


@require_POST
def webhook_secret_rotate(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    from apps.connectors.zammad.webhook import rotate_secret
    from apps.core.audit import actor_of_request

    connection = get_object_or_404(Connection, pk=connection_id)
    secret = rotate_secret(connection, actor_of_request(request))
    return render(request, "connectors/_webhook_settings.html", webhook_context(request, secret))


@require_POST
def webhook_rotation_end(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    from apps.connectors.zammad.webhook import end_rotation
    from apps.core.audit import actor_of_request

    end_rotation(get_object_or_404(Connection, pk=connection_id), actor_of_request(request))
    return render(request, "connectors/_webhook_settings.html", webhook_context(request))
