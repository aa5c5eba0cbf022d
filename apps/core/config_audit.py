"""Every configuration change is an audit event, whichever page, API call or task made it.

Configuration models are registered once (:data:`TRACKED`); their saves and deletes are recorded
through Django's model signals with the fields that changed, before and after. Secrets are never
copied: a changed token is recorded as "changed". Who acted comes from :func:`audit.current_actor`,
set per request (the admin's session, an API key) and per run (the run's actor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from apps.core import audit


@dataclass(frozen=True)
class Tracked:
    model: str  # "app_label.ModelName"
    object_type: str
    ignore: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()


TRACKED = [
    Tracked(
        "connectors.Connection", "connection",
        ignore=frozenset({"last_checked", "last_error", "last_check", "updated_at", "created_at",
                          "webhook_secret", "webhook_previous_secret", "webhook_rotated_at"}),
        secrets=frozenset({"token"}),
    ),
    Tracked("mappings.MappingProfile", "mappings.settings", ignore=frozenset({"updated_at"})),
    Tracked("mappings.Rule", "mappings.rule", ignore=frozenset({"created_at", "updated_at"})),
    Tracked("mappings.UserMapping", "mappings.user", ignore=frozenset({"updated_at"})),
    Tracked("mappings.ActivityMapping", "mappings.activity", ignore=frozenset({"updated_at"})),
    Tracked(
        "sync.SyncSettings", "sync.settings",
        ignore=frozenset({"watermark", "last_full_reconcile_at", "updated_at"}),
    ),
    Tracked(
        "gdpr.RetentionPolicy", "retention",
        ignore=frozenset({"last_pruned_at", "last_report", "updated_at"}),
    ),
    Tracked(
        "accounts.ApiKey", "api_key",
        ignore=frozenset({"last_used_at", "created_at"}), secrets=frozenset({"key_hash"}),
    ),
]  # fmt: skip


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _snapshot(instance: models.Model, spec: Tracked) -> dict[str, Any]:
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in spec.ignore or field.primary_key:
            continue
        if field.name in spec.secrets:
            values[field.name] = "set" if getattr(instance, field.attname) else ""
            continue
        values[field.name] = _value(getattr(instance, field.attname))
    return values


def _register(spec: Tracked) -> None:
    model = apps.get_model(spec.model)

    def before_save(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
        if instance.pk is None or kwargs.get("raw"):
            return
        old = sender._default_manager.filter(pk=instance.pk).first()
        instance._audit_before = _snapshot(old, spec) if old is not None else None  # type: ignore[attr-defined]
        if old is not None:
            for name in spec.secrets:
                if getattr(old, name) != getattr(instance, name):
                    instance._audit_before[name] = "previous"  # type: ignore[attr-defined]

    def after_save(
        sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any
    ) -> None:
        if kwargs.get("raw"):
            return
        after = _snapshot(instance, spec)
        before = getattr(instance, "_audit_before", None)
        if created or before is None:
            audit.record(audit.current_actor(), f"{spec.object_type}.create", spec.object_type,
                         instance.pk, after=after)  # fmt: skip
            return
        changed = {k for k in after if before.get(k) != after[k]}
        if changed:
            audit.record(
                audit.current_actor(), f"{spec.object_type}.update", spec.object_type,
                instance.pk, before={k: before.get(k) for k in sorted(changed)},
                after={k: "changed" if k in spec.secrets else after[k] for k in sorted(changed)},
            )  # fmt: skip

    def after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
        audit.record(audit.current_actor(), f"{spec.object_type}.delete", spec.object_type,
                     instance.pk, before=_snapshot(instance, spec))  # fmt: skip

    uid = f"config-audit-{spec.model}"
    pre_save.connect(before_save, sender=model, weak=False, dispatch_uid=uid)
    post_save.connect(after_save, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(after_delete, sender=model, weak=False, dispatch_uid=uid)


def register_all() -> None:
    for spec in TRACKED:
        _register(spec)
