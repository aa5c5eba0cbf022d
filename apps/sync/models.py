"""What the sync knows and did: settings, runs, their items, links, write intents and conflicts.

Exactly-once rests on three tables here:

* :class:`Link` says "Zammad entry X is Kimai timesheet Y"; unique both ways per profile.
* :class:`WriteIntent` is written and committed *before* every write to Kimai; at most one open
  intent per entry (a partial unique index). An intent left open by a crash or an uncertain answer
  is settled by searching Kimai for the entry's marker before anything is sent again.
* a PostgreSQL advisory lock lets one run at a time work on a profile (see ``locks.py``).

People are referred to by ``Person`` id only; no names or e-mail addresses are stored here.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone


class SyncSettings(models.Model):
    """Per mapping profile (a Zammad → Kimai pair): deletion policy and schedule."""

    class DeletionPolicy(models.TextChoices):
        FLAG = "flag", "flag a conflict for a person to decide"
        DELETE = "delete", "delete the Kimai timesheet"
        IGNORE = "ignore", "leave the Kimai timesheet alone"

    profile = models.OneToOneField(
        "mappings.MappingProfile", on_delete=models.CASCADE, related_name="sync_settings"
    )
    deletion_policy = models.CharField(
        max_length=10, choices=DeletionPolicy.choices, default=DeletionPolicy.FLAG
    )
    # Off for a new pair: the admin switches it on (Settings, the API, or confirming a plan).
    schedule_enabled = models.BooleanField(default=False)
    incremental_every_minutes = models.PositiveSmallIntegerField(default=15)
    full_reconcile_hour_utc = models.PositiveSmallIntegerField(default=2)
    full_lookback_days = models.PositiveSmallIntegerField(default=30)
    # Zammad commits and pages out of order (zammad-api.md §5.7): look back this far.
    incremental_overlap_minutes = models.PositiveSmallIntegerField(default=10)
    # A hand-typed Kimai timesheet whose begin and duration are this much further from the
    # Zammad entry than Kimai's rounding (2 minutes) is still adopted as the entry.
    adopt_tolerance_minutes = models.PositiveSmallIntegerField(default=0)
    watermark = models.DateTimeField(null=True, blank=True)
    last_full_reconcile_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sync settings of profile {self.profile_id}"


class Run(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        WEBHOOK = "webhook", "webhook"
        MANUAL = "manual", "manual"
        API = "api", "API"
        CLI = "cli", "command line"

    class Scope(models.TextChoices):
        WINDOW = "window", "date window"
        INCREMENTAL = "incremental", "changes since the last run"
        TICKET = "ticket", "one ticket"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        # Some writes done, some refused, uncertain or failed.
        PARTIAL = "partial", "partly done"
        # Nothing written, and writes were refused, uncertain or failed; or the run crashed.
        FAILED = "failed", "failed"
        # The worker stopped during the run; the next run settles what it left open.
        INTERRUPTED = "interrupted", "interrupted"

    FINISHED = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED, Status.INTERRUPTED)

    profile = models.ForeignKey(
        "mappings.MappingProfile", on_delete=models.CASCADE, related_name="runs"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    actor = models.CharField(max_length=100)
    scope = models.CharField(max_length=12, choices=Scope.choices)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    ticket_id = models.CharField(max_length=64, blank=True)
    dry_run = models.BooleanField(default=False)
    # Bursts of the same request coalesce into one queued run (unique while queued).
    coalesce_key = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    # What happened to the writes: written, refused, uncertain, failed; and the writes earlier
    # runs left uncertain that this run settled (settled_applied, settled_not_applied).
    results = models.JSONField(default=dict, blank=True)
    # Hours to create/update per Kimai user (Person id), for the plan shown before confirming.
    hours = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requests_made = models.PositiveIntegerField(default=0)
    # Per connection ("kimai", "zammad"): requests sent and the adaptive limit on requests in
    # flight (AdaptiveLimit.figures: limit, ceiling, peak, why it last changed, 429s, p95 ...).
    figures = models.JSONField(default=dict, blank=True)
    # The dry run a person confirmed to ask for this one: the plan page links the run it became.
    plan = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="confirmations"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "coalesce_key"],
                condition=Q(status="queued"),
                name="one_queued_run_per_request",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.scope}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def status_css(self) -> str:
        """The badge colour of the status on every page that shows runs."""
        if self.status == self.Status.SUCCEEDED:
            return "ok"
        if self.status in (self.Status.FAILED, self.Status.INTERRUPTED):
            return "fail"
        return "warn"

    @property
    def results_text(self) -> str:
        """``"5 written, 1 refused"``: the writes, leaving out what did not happen."""
        labels = ("written", "refused", "uncertain", "failed")
        return ", ".join(f"{self.results[k]:,} {k}" for k in labels if self.results.get(k))

    @property
    def concurrency_texts(self) -> list[str]:
        """Per server, in words: requests sent, how many at once and why the limit last moved."""
        texts = []
        for service, label in (("kimai", "Kimai"), ("zammad", "Zammad")):
            shown = self.figures.get(service) or {}
            if not shown.get("requests"):
                continue
            text = (
                f"{label}: {shown['requests']:,} requests, {shown.get('limit', '?')} at once "
                f"{'now' if not self.finished else 'at the end'} (peak {shown.get('peak', '?')}, "
                f"at most {shown.get('ceiling', '?')})"
            )
            if shown.get("changed_at"):
                text += f"; last change: {shown.get('reason')}"
            overloads = shown.get("overloads") or {}
            if overloads.get("rate_limited"):
                text += f"; {overloads['rate_limited']} answered 429"
            if overloads.get("busy"):
                text += f"; {overloads['busy']} answered 503"
            if overloads.get("timeout"):
                text += f"; {overloads['timeout']} timed out"
            if shown.get("paused_seconds"):
                text += f"; paused {shown['paused_seconds']:g} s as the server asked"
            if shown.get("p95_ms"):
                text += f"; 95 % answered within {shown['p95_ms']:.0f} ms"
            texts.append(text)
        return texts

    @property
    def settled_text(self) -> str:
        """Writes earlier runs left uncertain that this run looked up in Kimai."""
        applied = self.results.get("settled_applied", 0)
        missing = self.results.get("settled_not_applied", 0)
        if not (applied or missing):
            return ""
        return (
            f"Settled {applied + missing:,} write(s) an earlier run left uncertain: {applied:,} "
            f"had reached Kimai (linked, not sent again), {missing:,} had not (sent again if "
            "still due)."
        )

    @property
    def progress_percent(self) -> int:
        if self.finished:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def describe_scope(self) -> str:
        if self.scope == self.Scope.TICKET:
            return f"ticket {self.ticket_id}"
        if self.scope == self.Scope.WINDOW and self.window_start and self.window_end:
            return describe_window(self.window_start, self.window_end)
        return self.get_scope_display()

    @property
    def took(self) -> str:
        """How long it ran, to the second ("took 0 minutes" helped nobody)."""
        if self.started_at is None or self.finished_at is None:
            return ""
        seconds = max(int((self.finished_at - self.started_at).total_seconds()), 0)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        if hours:
            return f"{hours} h {minutes} min"
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"

    @property
    def outcome_counts(self) -> list[tuple[str, str, int]]:
        """(outcome, in words, count) for each outcome the run saw: "in sync", not ``in_sync``."""
        words = dict(Outcome.choices)
        return [
            (key, str(words.get(key, key.replace("_", " "))), count)
            for key, count in self.counts.items()
        ]


def describe_window(start: datetime, end: datetime) -> str:
    """A window as a person entered it: whole days as "first to last day", in the zone pages
    use; the exclusive end of whole days is never shown as the next day."""
    zone = timezone.get_current_timezone()
    first, after = timezone.localtime(start, zone), timezone.localtime(end, zone)
    whole_days = first.time() == after.time() == time(0)
    if whole_days:
        last = (after - timedelta(days=1)).date()
        if last == first.date():
            return f"{first:%Y-%m-%d}"
        return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
    return f"{first:%Y-%m-%d %H:%M} to {after:%Y-%m-%d %H:%M} {after.tzname()}"


class Outcome(models.TextChoices):
    IN_SYNC = "in_sync", "in sync"
    CREATE = "create", "create"
    UPDATE = "update", "update"
    ADOPT = "adopt", "adopt"
    CONFLICT = "conflict", "conflict"
    SKIP = "skip", "skipped"
    DELETE = "delete", "delete in Kimai"
    ORPHANED = "orphaned", "source deleted, left alone"


class RunItem(models.Model):
    """One entry's planned and applied action in a run."""

    class Result(models.TextChoices):
        PLANNED = "planned", "planned (dry run)"
        DONE = "done", "done"
        FAILED = "failed", "failed: not sent, or not answered; tried again on the next run"
        REFUSED = "refused", "refused by Kimai: a conflict says why"
        UNCERTAIN = "uncertain", "uncertain: verified on the next run"
        NOTHING = "nothing", "nothing to do"

    NOT_WRITTEN = (Result.FAILED, Result.REFUSED)

    # Indexed by the run page's two indexes below, which begin with the run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="items", db_index=False)
    source_id = models.CharField(max_length=64)
    ticket_id = models.CharField(max_length=64, blank=True)
    ticket_number = models.CharField(max_length=50, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True)
    planned = models.CharField(max_length=10, choices=Outcome.choices)
    applied = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    result = models.CharField(max_length=10, choices=Result.choices)
    reason = models.TextField(blank=True)
    kimai_id = models.CharField(max_length=64, blank=True)
    kimai_user = models.ForeignKey(
        "gdpr.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    duration_seconds = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    # Set for an entry skipped for good as it is (not bookable): the ``updated_at`` it had, so
    # an incremental run that reads it again in its overlap knows it without looking it up.
    source_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # A run page reads one page of a run's entries in order, all or of one outcome, with
        # no sort of the run's 100,000 entries (bench/pages_bench.py).
        indexes = [
            models.Index(fields=["run", "id"], name="sync_runitem_run_page"),
            models.Index(fields=["run", "planned", "id"], name="sync_runitem_run_outcome_page"),
            models.Index(
                fields=["source_changed_at"],
                condition=models.Q(source_changed_at__isnull=False),
                name="sync_runitem_settled_skip",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.planned}"


class Link(models.Model):
    """Zammad entry ``source_id`` is Kimai timesheet ``kimai_id``."""

    class Origin(models.TextChoices):
        CREATED = "created", "created by the sync"
        ADOPTED = "adopted", "adopted an existing timesheet"
        LINKED = "linked", "linked by a person"

    profile = models.ForeignKey(
        "mappings.MappingProfile", on_delete=models.CASCADE, related_name="links"
    )
    source_id = models.CharField(max_length=64)
    ticket_id = models.CharField(max_length=64, blank=True)
    booked_at = models.DateTimeField(db_index=True)
    kimai_id = models.CharField(max_length=64)
    marker = models.CharField(max_length=100)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    # The source entry as it was when last written; a different one means Zammad changed it.
    source_fingerprint = models.CharField(max_length=64)
    # The Kimai timesheet as we wrote or last accepted it; a different one means a person edited.
    target_fingerprint = models.CharField(max_length=64)
    # Zammad's updated_at of the entry as synced: incremental runs skip rows still at it.
    source_changed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "source_id"], name="one_link_per_entry"),
            models.UniqueConstraint(fields=["profile", "kimai_id"], name="one_link_per_timesheet"),
        ]
        indexes = [models.Index(fields=["profile", "ticket_id"])]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.kimai_id}"


class WriteIntent(models.Model):
    """Recorded and committed before a write to Kimai; settled after it."""

    class Operation(models.TextChoices):
        CREATE = "create", "create"
        UPDATE = "update", "update"
        DELETE = "delete", "delete"

    class State(models.TextChoices):
        PENDING = "pending", "about to be sent"
        UNCERTAIN = "uncertain", "sent, outcome unknown"
        DONE = "done", "done"
        FAILED = "failed", "refused"
        ABANDONED = "abandoned", "not applied (verified)"

    OPEN_STATES = (State.PENDING, State.UNCERTAIN)

    profile = models.ForeignKey(
        "mappings.MappingProfile", on_delete=models.CASCADE, related_name="intents"
    )
    source_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=10, choices=Operation.choices)
    marker = models.CharField(max_length=100)
    kimai_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The run that verified an intent left open (uncertain, or pending after a crash).
    settled_by = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What was sent (ids, times, description: no names) and the source fingerprint it came from,
    # so an uncertain write can be verified against Kimai later.
    payload = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "source_id"],
                condition=Q(state__in=["pending", "uncertain"]),
                name="one_open_intent_per_entry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.source_id} ({self.state})"


class Conflict(models.Model):
    """Something the sync will not decide alone; waits for a person."""

    class Kind(models.TextChoices):
        UNMAPPED_USER = "unmapped_user", "agent without Kimai user"
        UNMAPPED_ACTIVITY = "unmapped_activity", "activity type without Kimai activity"
        NO_MATCHING_RULE = "no_matching_rule", "no rule matches"
        BROKEN_RULE = "broken_rule", "rule points at a missing project or activity"
        INVALID_ACTIVITY = "invalid_activity", "activity not allowed on the project"
        AMBIGUOUS_MATCH = "ambiguous_match", "several Kimai timesheets could be this entry"
        DURATION_MISMATCH = "duration_mismatch", "a Kimai timesheet with another begin or duration"
        CHANGED_IN_KIMAI = "changed_in_kimai", "edited in Kimai and in Zammad"
        SOURCE_DELETED = "source_deleted", "deleted in Zammad"
        REJECTED = "rejected", "refused by Kimai"
        LOCKED = "locked", "locked in Kimai"
        HIDDEN_IN_KIMAI = "hidden_in_kimai", "hidden in Kimai"

    class Status(models.TextChoices):
        OPEN = "open", "open"
        RESOLVED = "resolved", "resolved"
        SKIPPED = "skipped", "skipped"

    profile = models.ForeignKey(
        "mappings.MappingProfile", on_delete=models.CASCADE, related_name="conflicts"
    )
    source_id = models.CharField(max_length=64)
    ticket_id = models.CharField(max_length=64, blank=True)
    ticket_number = models.CharField(max_length=50, blank=True, db_index=True)
    agent = models.ForeignKey(
        "gdpr.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    booked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # What the sync saw: the planned timesheet and the Kimai side (ids and values, no names).
    source_snapshot = models.JSONField(default=dict, blank=True)
    target_snapshot = models.JSONField(null=True, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    kimai_id = models.CharField(max_length=64, blank=True)
    source_fingerprint = models.CharField(max_length=64, blank=True)
    # Zammad's updated_at when the conflict was seen: incremental runs skip it until it changes.
    source_changed_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=30, blank=True)
    resolved_by = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "source_id"],
                condition=Q(status="open"),
                name="one_open_conflict_per_entry",
            )
        ]
        indexes = [
            models.Index(fields=["profile", "status", "kind"]),
            # The list of open conflicts, newest first: a deep page is read off it.
            models.Index(fields=["status", "created_at", "id"], name="sync_conflict_list_page"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.source_id}"

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "reason": self.reason}
