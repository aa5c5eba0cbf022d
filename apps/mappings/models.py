"""What decides how a Zammad time accounting becomes a Kimai timesheet.

Everything hangs off a :class:`MappingProfile`: one per pair of a source (Zammad) and a target
(Kimai) connection, holding the settings for time synthesis, description and tags, plus the
ordered rules and the activity mappings. User mappings link people, who live in
:class:`apps.gdpr.models.Person` only: tables here hold person ids, never names or e-mails.

Kimai and Zammad ids are stored as strings (as :mod:`apps.connectors.entry` does), so one column
type fits every connector.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

DEFAULT_DESCRIPTION_TEMPLATE = "#{ticket_key} {ticket_title}"


class MappingProfile(models.Model):
    """The settings of one source → target pair; rules and activity mappings belong to it."""

    class Instant(models.TextChoices):
        END = "end", "the end of the work"
        START = "start", "the start of the work"

    class UnmappedPolicy(models.TextChoices):
        CONFLICT = "conflict", "flag a conflict and book nothing"
        FALLBACK = "fallback", "book to a chosen fallback Kimai user"

    source = models.ForeignKey(
        "connectors.Connection", on_delete=models.CASCADE, related_name="mapping_profiles_as_source"
    )
    target = models.ForeignKey(
        "connectors.Connection", on_delete=models.CASCADE, related_name="mapping_profiles_as_target"
    )
    # Time synthesis: Zammad knows one instant per entry; which end of the work it is.
    booking_instant = models.CharField(max_length=10, choices=Instant.choices, default=Instant.END)
    rounding_minutes = models.PositiveSmallIntegerField(default=0)  # 0: no rounding
    minimum_minutes = models.PositiveSmallIntegerField(default=0)  # 0: no minimum
    # Off (default): the real begin and end, across midnight if need be. On: what lies on the
    # other side of midnight from the booked instant is clipped off (never moved).
    keep_within_day = models.BooleanField(default=False)
    # Used when Kimai does not tell a user's time zone (its user list needs view_user).
    default_time_zone = models.CharField(max_length=64, default="UTC")
    description_template = models.CharField(max_length=500, default=DEFAULT_DESCRIPTION_TEMPLATE)
    fixed_tags = models.JSONField(default=list, blank=True)
    billable_tags = models.BooleanField(default=True)
    billable_tag = models.CharField(max_length=100, default="billable")
    not_billable_tag = models.CharField(max_length=100, default="not billable")
    unmapped_policy = models.CharField(
        max_length=10, choices=UnmappedPolicy.choices, default=UnmappedPolicy.CONFLICT
    )
    fallback_user = models.ForeignKey(
        "gdpr.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="mapping_profile_per_pair")
        ]

    def __str__(self) -> str:
        return f"mappings {self.source_id} → {self.target_id}"


class Rule(models.Model):
    """One row of the rule table: conditions (empty: any) and the outcome. First match wins."""

    class ProjectMode(models.TextChoices):
        FIXED = "fixed", "a chosen Kimai project"
        PER_ORGANIZATION = "per_organization", "one Kimai project per Zammad organization"
        PER_TICKET = "per_ticket", "one Kimai project per Zammad ticket"

    class Billable(models.TextChoices):
        DEFAULT = "default", "as Kimai decides"
        YES = "yes", "billable"
        NO = "no", "not billable"

    profile = models.ForeignKey(MappingProfile, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100, blank=True)
    # Conditions on the normalized facts (apps/connectors/facts.py): lists of the source's ids as
    # strings; "none" stands for "no organization/type".
    organization_ids = models.JSONField(default=list, blank=True)
    customer_ids = models.JSONField(default=list, blank=True)
    group_ids = models.JSONField(default=list, blank=True)
    project_ids = models.JSONField(default=list, blank=True)
    activity_type_ids = models.JSONField(default=list, blank=True)
    title_pattern = models.CharField(max_length=200, blank=True)
    tag_pattern = models.CharField(max_length=200, blank=True)
    # Outcome.
    project_mode = models.CharField(
        max_length=20, choices=ProjectMode.choices, default=ProjectMode.FIXED
    )
    customer_id = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=64, blank=True)
    project_name_template = models.CharField(max_length=150, blank=True)
    activity_id = models.CharField(max_length=64, blank=True)
    billable = models.CharField(max_length=10, choices=Billable.choices, default=Billable.DEFAULT)
    extra_tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["profile", "position"])]

    def __str__(self) -> str:
        return self.name or f"rule {self.pk}"


class UserMapping(models.Model):
    """A Zammad agent → a Kimai user, both :class:`Person` rows; how the match was made."""

    class Method(models.TextChoices):
        EMAIL = "email", "matched by e-mail"
        MANUAL = "manual", "chosen by hand"

    agent = models.ForeignKey("gdpr.Person", on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="+")
    kimai_user = models.ForeignKey("gdpr.Person", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10, choices=Method.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "target"], name="user_mapping_per_target")
        ]

    def __str__(self) -> str:
        return f"person {self.agent_id} → person {self.kimai_user_id} ({self.method})"


class ActivityMapping(models.Model):
    """A Zammad time accounting type ("" for entries without a type) → a Kimai activity."""

    profile = models.ForeignKey(
        MappingProfile, on_delete=models.CASCADE, related_name="activity_mappings"
    )
    zammad_type_id = models.CharField(max_length=64, blank=True)
    kimai_activity_id = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "zammad_type_id"], name="activity_mapping_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"type {self.zammad_type_id or 'none'} → activity {self.kimai_activity_id}"


class ReferenceSnapshot(models.Model):
    """The last copy of a connection's reference data, minus people (they go to Person).

    For Kimai: customers, projects, activities and tags. For Zammad: organizations (as
    ``customers``), activity types (as ``activities``) and the groups seen on tickets.
    """

    connection = models.OneToOneField(
        "connectors.Connection", on_delete=models.CASCADE, related_name="reference_snapshot"
    )
    fetched_at = models.DateTimeField(null=True, blank=True)
    customers = models.JSONField(default=list, blank=True)
    projects = models.JSONField(default=list, blank=True)
    activities = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    groups = models.JSONField(default=list, blank=True)
    users_listed = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"reference data of connection {self.connection_id}"


class KimaiLink(models.Model):
    """A Kimai customer or project the sync created for a Zammad organization or ticket.

    Rules that say "one project per organization/ticket" find their project here first, so a
    renamed organization or ticket keeps booking on the project made for it.
    """

    class Scope(models.TextChoices):
        ORGANIZATION_CUSTOMER = "organization_customer", "Kimai customer of a Zammad organization"
        ORGANIZATION_PROJECT = "organization_project", "Kimai project of a Zammad organization"
        TICKET_PROJECT = "ticket_project", "Kimai project of a Zammad ticket"

    target = models.ForeignKey("connectors.Connection", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=30, choices=Scope.choices)
    source_key = models.CharField(max_length=100)
    kimai_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target", "scope", "source_key"], name="kimai_link_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.source_key} → {self.kimai_id}"
