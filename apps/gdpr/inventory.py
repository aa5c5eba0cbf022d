"""Where personal data can be, and why it is kept: the inventory behind docs/PRIVACY.md.

Every text, JSON, e-mail or address field of every model is either in ``PERSONAL`` (it can hold
something about a person: a name, an e-mail, a username, a ticket title, free text, an address)
with why it is kept and what a purge and retention do to it, or in ``NOT_PERSONAL`` (ids, enums,
configuration). tests/gdpr/test_inventory.py walks all models and fails on a field in neither,
and checks docs/PRIVACY.md names every personal one.
"""

from __future__ import annotations

from typing import NamedTuple


class Kept(NamedTuple):
    why: str
    purge: str
    retention: str


PEOPLE = "kept until purged"
RUNS = "runs_days (90)"
CONFLICTS = "resolved: conflicts_days (90); open and skipped: kept"
AUDIT = "audit_days (400)"
DELIVERIES = "deliveries_days (30)"

PERSONAL: dict[str, dict[str, Kept]] = {
    "gdpr.Person": {
        "email": Kept("matches Zammad agents to Kimai users", "erased", PEOPLE),
        "name": Kept("shown on pages so the admin knows who is who", "erased", PEOPLE),
        "username": Kept("Kimai's login, shown beside the name", "erased", PEOPLE),
        "external_id": Kept(
            "the vendor's id: whose entries are whose", "kept (pseudonymous)", PEOPLE
        ),
        "time_zone": Kept("timesheets are written in the user's zone", "kept", PEOPLE),
    },
    "accounts.User": {
        "email": Kept("the admin's login", "not a subject: the operator", "kept"),
        "username": Kept("Django's field, unused (e-mail login)", "-", "kept"),
        "first_name": Kept("Django's field, unused", "-", "kept"),
        "last_name": Kept("Django's field, unused", "-", "kept"),
    },
    "account.EmailAddress": {
        "email": Kept("allauth's copy of the admin's login", "not a subject", "kept"),
    },
    "core.AuditEvent": {
        "actor": Kept("who acted: admin:<id>, api-key:<prefix>, schedule", "kept (ids)", AUDIT),
        "before": Kept("ids and values only; free text goes to AuditDetail", "kept", AUDIT),
        "after": Kept("ids and values only; free text goes to AuditDetail", "kept", AUDIT),
    },
    "core.AuditDetail": {
        "before": Kept("a timesheet's description (ticket title) or a note", "erased", AUDIT),
        "after": Kept("a timesheet's description (ticket title) or a note", "erased", AUDIT),
    },
    "sync.RunItem": {
        "reason": Kept("why the entry got its outcome (ids, not names)", "kept", RUNS),
        "error": Kept("Kimai's words when it refused a write", "erased", RUNS),
    },
    "sync.Run": {
        "actor": Kept("who asked for the run (ids)", "kept", RUNS),
        "hours": Kept("hours per Kimai user, by Person id", "kept (ids)", RUNS),
        "error": Kept("why a run failed (a vendor's words)", "kept", RUNS),
    },
    "sync.Conflict": {
        "reason": Kept("why it waits (ids, and Kimai's words)", "kept", CONFLICTS),
        "source_snapshot": Kept(
            "the entry and planned timesheet: ticket title, description",
            "titles, descriptions erased",
            CONFLICTS,
        ),
        "target_snapshot": Kept(
            "the Kimai timesheet, with its description", "description erased", CONFLICTS
        ),
        "candidates": Kept(
            "Kimai timesheets that could be the entry", "descriptions erased", CONFLICTS
        ),
        "note": Kept("what the admin typed when deciding", "erased", CONFLICTS),
        "resolved_by": Kept("who decided (ids)", "kept", CONFLICTS),
    },
    "sync.WriteIntent": {
        "payload": Kept(
            "what was sent to Kimai, to verify an uncertain write",
            "description erased once settled",
            "kept while the entry is linked",
        ),
        "error": Kept("Kimai's words when it refused", "kept", "kept while the entry is linked"),
    },
    "connectors.WebhookDelivery": {
        "trigger": Kept(
            "the Zammad trigger's name, shown under Settings",
            "deliveries of their tickets deleted",
            DELIVERIES,
        ),
    },
    "connectors.WebhookRejection": {
        "source": Kept(
            "the address of refused callers, to spot a wrong token or an attack", "-", DELIVERIES
        ),
        "last_reason": Kept("why the last one was refused", "-", DELIVERIES),
    },
    "connectors.Connection": {
        "last_check": Kept(
            "the token's identity as the server reported it (login, e-mail)",
            "-",
            "replaced at each test",
        ),
    },
    "mappings.Rule": {
        "title_pattern": Kept(
            "a pattern the admin wrote; may name a customer", "-", "kept while the rule exists"
        ),
        "customer_ids": Kept(
            "ticket customers by Zammad id (names are Person rows)",
            "kept (ids)",
            "kept while the rule exists",
        ),
    },
    "mappings.MappingProfile": {
        "description_template": Kept(
            "the admin's template, e.g. #{ticket_number} {ticket_title}", "-", "kept"
        ),
    },
    "sessions.Session": {
        "session_data": Kept("the admin's login session", "not a subject", "expires (Django)"),
    },
    "mfa.Authenticator": {
        "data": Kept("the admin's second-factor secret (encrypted)", "not a subject", "kept"),
    },
}

# Ids, enums, hashes, configuration and vendor records that are not people.
NOT_PERSONAL: dict[str, frozenset[str]] = {
    "auth.Permission": frozenset({"name", "codename"}),
    "auth.Group": frozenset({"name"}),
    "contenttypes.ContentType": frozenset({"app_label", "model"}),
    "sessions.Session": frozenset({"session_key"}),
    "core.WorkerHeartbeat": frozenset({"name", "host"}),
    "core.AuditEvent": frozenset({"action", "object_type", "object_id", "ticket"}),
    "accounts.User": frozenset({"password"}),
    "accounts.ApiKey": frozenset({"name", "prefix", "key_hash"}),
    "connectors.Connection": frozenset(
        {
            "kind",
            "name",
            "base_url",
            "token",
            "settings",
            "last_error",
            "webhook_secret",
            "webhook_previous_secret",
        }
    ),
    "connectors.WebhookDelivery": frozenset(
        {"delivery_id", "ticket_id", "ticket_number", "outcome"}
    ),
    "mappings.MappingProfile": frozenset(
        {
            "booking_instant",
            "default_time_zone",
            "fixed_tags",
            "billable_tag",
            "not_billable_tag",
            "unmapped_policy",
        }
    ),
    "mappings.Rule": frozenset(
        {
            "name",
            "organization_ids",
            "project_ids",
            "group_ids",
            "activity_type_ids",
            "tag_pattern",
            "project_mode",
            "customer_id",
            "project_id",
            "project_name_template",
            "activity_id",
            "billable",
            "extra_tags",
        }
    ),
    "mappings.UserMapping": frozenset({"method"}),
    "mappings.ActivityMapping": frozenset({"zammad_type_id", "kimai_activity_id"}),
    # Kimai's and Zammad's customers, projects, activities, tags and groups: organizations, not
    # people (Kimai users are Person rows, never stored here).
    "mappings.ReferenceSnapshot": frozenset(
        {
            "customers",
            "projects",
            "activities",
            "tags",
            "groups",
            "last_error",
        }
    ),
    "mappings.KimaiLink": frozenset({"scope", "source_key", "kimai_id"}),
    "sync.SyncSettings": frozenset({"deletion_policy"}),
    "sync.Run": frozenset(
        {
            "trigger",
            "scope",
            "ticket_id",
            "coalesce_key",
            "status",
            "counts",
            "results",
            "figures",
        }
    ),
    "sync.RunItem": frozenset(
        {
            "source_id",
            "ticket_id",
            "ticket_number",
            "planned",
            "applied",
            "result",
            "kimai_id",
        }
    ),
    "sync.Link": frozenset(
        {
            "source_id",
            "ticket_id",
            "kimai_id",
            "marker",
            "origin",
            "source_fingerprint",
            "target_fingerprint",
        }
    ),
    "sync.WriteIntent": frozenset({"source_id", "operation", "marker", "kimai_id", "state"}),
    "sync.Conflict": frozenset(
        {
            "source_id",
            "ticket_id",
            "ticket_number",
            "kind",
            "status",
            "kimai_id",
            "source_fingerprint",
            "resolution",
        }
    ),
    "gdpr.Person": frozenset({"kind"}),
    "gdpr.RetentionPolicy": frozenset({"last_report"}),
    "account.EmailConfirmation": frozenset({"key"}),
    "mfa.Authenticator": frozenset({"type"}),
    # django-q2: task ids and names, the function's dotted path. Arguments are ids only (style
    # guide: "Never pickle model instances or personal data into a task"); see docs/PRIVACY.md.
    "django_q.Task": frozenset({"id", "name", "func", "hook", "group", "cluster"}),
    "django_q.Success": frozenset({"id", "name", "func", "hook", "group", "cluster"}),
    "django_q.Failure": frozenset({"id", "name", "func", "hook", "group", "cluster"}),
    "django_q.Schedule": frozenset(
        {
            "name",
            "func",
            "hook",
            "args",
            "kwargs",
            "schedule_type",
            "cron",
            "task",
            "cluster",
            "intended_date_kwarg",
        }
    ),
    "django_q.OrmQ": frozenset({"key", "payload"}),
}
