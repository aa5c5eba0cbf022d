"""From a Zammad time accounting to a Kimai timesheet: every field decided, and why.

The sync engine loads a :class:`MappingContext` once per run (a constant number of queries) and
calls :func:`plan_timesheet` for each entry: pure, no I/O, no regex compiled per entry. The
decision order, which docs/ARCHITECTURE.md repeats for people:

1. **Rule**: the first rule whose conditions all hold. A rule that needs ticket details the
   source did not give (group, customer, tags) stops the search with ``missing_ticket_details``
   rather than letting a later rule book the entry somewhere else.
2. **User**: a saved user mapping (by hand, or matched by e-mail), else a Kimai user with the
   agent's e-mail (ignoring case), else the fallback user if the settings say so, else a
   ``unmapped_user`` problem. Never the token's owner by default.
3. **Customer and project**: the rule's project; or, for "one project per organization/ticket",
   the project made for it earlier (a :class:`KimaiLink`), else one of the same name, else a
   ``project_to_create`` (and maybe ``customer_to_create``) for the sync engine.
4. **Activity**: the rule's, else the activity mapping of the Zammad type, else a Kimai activity
   of the same name (the project's own first, then global ones); then Kimai's rule that the
   activity belongs to the project or is global on a project allowing globals.
5. **Billable**: the rule's yes/no, else Kimai decides (billable when activity, project and
   customer all are; predicted here for the tag).
6. **Begin, end, duration**: :mod:`apps.mappings.timebox` in the Kimai user's time zone.
7. **Tags**: the fixed tags, the rule's extra tags, and the billable tag.
8. **Description**: the template, then the marker that identifies the source entry.

Messages in problems and the ``reason`` of each decision name people by id only, so the sync
engine may store them (apps/gdpr keeps names and e-mails in one table). ``display`` values may
carry names: they are for screens.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from apps.connectors.base import ReferenceActivity, ReferenceProject, TimesheetDraft
from apps.connectors.entry import TimeEntry, unique_tags
from apps.mappings.catalog import hidden_advice
from apps.mappings.context import KimaiUserInfo, MappingContext
from apps.mappings.marker import MARKER_RE, marker_for, parse_marker
from apps.mappings.matching import CompiledRule
from apps.mappings.matching import activity_type_words as _type
from apps.mappings.matching import organization_words as _org
from apps.mappings.matching import ticket_words as _ticket
from apps.mappings.plan import (
    CustomerToCreate,
    FieldDecision,
    MappingProblem,
    ProblemKind,
    ProjectToCreate,
    TicketFacts,
    TimesheetPlan,
)
from apps.mappings.rules import KIMAI_NAME_FORBIDDEN
from apps.mappings.timebox import TimeBox, format_seconds, synthesize

# What callers import from here; the pieces live in marker, plan, matching and context.
__all__ = [
    "MARKER_RE",
    "CompiledRule",
    "CustomerToCreate",
    "FieldDecision",
    "KimaiUserInfo",
    "MappingContext",
    "MappingProblem",
    "ProblemKind",
    "ProjectToCreate",
    "TicketFacts",
    "TimesheetPlan",
    "marker_for",
    "parse_marker",
    "plan_timesheet",
]


# -- planning -------------------------------------------------------------------------------------
class _Planner:
    """One entry's decisions; a class only to share the pieces between the steps."""

    __slots__ = ("context", "entry", "facts", "fields", "problems", "customer_to_create",
                 "project_to_create", "ticket_values", "org_values", "kind_values")  # fmt: skip

    def __init__(self, entry: TimeEntry, context: MappingContext) -> None:
        self.context = context
        self.entry = entry
        ticket, org, kind = entry.ticket, entry.organization, entry.activity
        self.facts = context.tickets.get(ticket.id) if ticket else None
        # The refs as plain values for the memo keys: hashing and comparing the ref dataclasses
        # would cost more than some of the decisions the keys save.
        self.ticket_values = (ticket.id, ticket.number, ticket.title) if ticket else None
        self.org_values = (org.id, org.name) if org else None
        self.kind_values = (kind.id, kind.name) if kind else None
        self.fields: dict[str, FieldDecision] = {}
        self.problems: list[MappingProblem] = []
        self.customer_to_create: CustomerToCreate | None = None
        self.project_to_create: ProjectToCreate | None = None

    def cached(self, key: tuple[Any, ...], step: Any, *args: Any) -> Any:
        """Run ``step`` once per distinct ``key`` in this context; later calls replay the fields,
        problems and creations it recorded."""
        hit = self.context.memo.get(key)
        if hit is None:
            before, count = set(self.fields), len(self.problems)
            creations = (self.customer_to_create, self.project_to_create)
            result = step(*args)
            added = tuple((k, v) for k, v in self.fields.items() if k not in before)
            made = (self.customer_to_create, self.project_to_create)
            hit = (result, added, tuple(self.problems[count:]), made if made != creations else None)
            self.context.memo[key] = hit
            return result
        result, added, problems, made = hit
        self.fields.update(added)
        self.problems.extend(problems)
        if made is not None:
            self.customer_to_create, self.project_to_create = made
        return result

    def decide(self, name: str, value: Any, display: str, decided_by: str, reason: str) -> None:
        self.fields[name] = FieldDecision(value, display, decided_by, reason)

    def problem(self, kind: ProblemKind, message: str, field_name: str | None = None) -> None:
        self.problems.append(MappingProblem(kind, message, field_name))

    def record_problem(self, hidden: bool, message: str, field_name: str) -> None:
        """A rule or mapping that points at a Kimai record it cannot book on: hidden (a person
        fixes it in Kimai) or gone (a person fixes the rule)."""
        self.problem("hidden_record" if hidden else "broken_rule", message, field_name)

    # 2. user --------------------------------------------------------------------------------
    def user(self) -> KimaiUserInfo | None:
        context, agent = self.context, self.entry.agent
        if agent is None:
            self.problem(
                "unmapped_user", "Zammad did not say which agent booked this entry.", "user"
            )
            return None
        who = f"Zammad agent #{agent.id}"
        saved = context.user_mappings.get(agent.id)
        if saved is not None:
            user_id, method = saved
            user = context.kimai_users.get(user_id)
            if user is None:
                self.problem(
                    "unmapped_user",
                    f"{who} is mapped to Kimai user #{user_id}, whom Kimai no longer lists "
                    "(deleted or disabled): choose another user on the user mapping page.",
                    "user",
                )
                return None
            how = "chosen by hand" if method == "manual" else "matched by e-mail"
            self.decide(
                "user",
                user.id,
                user.label,
                "user mapping",
                f"{who} → Kimai user #{user.id}, {how}.",
            )
            return user
        by_email = context.catalog.user_with_email(agent.email)
        if by_email is not None:
            user = context.kimai_users[by_email.id]
            self.decide(
                "user",
                user.id,
                user.label,
                "user mapping (automatic)",
                f"No mapping saved for {who}; Kimai user #{user.id} has the same e-mail address "
                "(compared ignoring case).",
            )
            return user
        fallback = context.kimai_users.get(context.fallback_user_id or "")
        if fallback is not None:
            self.decide(
                "user",
                fallback.id,
                fallback.label,
                "unmapped-user policy",
                f"{who} has no Kimai user; the settings book such entries to the fallback user "
                f"#{fallback.id}.",
            )
            return fallback
        self.problem(
            "unmapped_user",
            f"{who} has no Kimai user: no Kimai user has the same e-mail address and none was "
            "chosen by hand. Map the agent on the user mapping page, or choose a fallback user.",
            "user",
        )
        return None

    # 1. rule --------------------------------------------------------------------------------
    def rule(self) -> CompiledRule | None:
        for rule in self.context.rules:
            outcome = rule.match(self.entry, self.facts)
            if outcome is True:
                key = ("why", rule.id, self.org_values, self.kind_values, self.facts)
                hit = self.context.memo.get(key)
                if hit is None:
                    why = rule.why(self.entry, self.facts)
                    hit = self.context.memo[key] = (
                        FieldDecision(rule.id, rule.label, rule.label, why),
                    )
                self.fields["rule"] = hit[0]
                return rule
            if outcome is not False:
                self.problem(
                    "missing_ticket_details",
                    f"{rule.label} asks for the ticket's {outcome}, which the Zammad connection "
                    f"did not report for {_ticket(self.entry)}; the entry is held back rather "
                    "than booked by a later rule.",
                    "project",
                )
                return None
        self.problem(
            "no_matching_rule",
            "No rule matches this entry "
            f"(organization {_org(self.entry)}, activity type {_type(self.entry)}): add a rule "
            "for it, or a rule without conditions at the end of the table.",
            "project",
        )
        return None

    # 3. customer and project ----------------------------------------------------------------
    def project(self, rule: CompiledRule) -> tuple[ReferenceProject | None, bool]:
        """The project (None: none usable, or one to create) and whether it is to be created."""
        spec, catalog = rule.spec, self.context.catalog
        if spec.project_mode == "fixed":
            problem = catalog.project_problem(spec.project_id)
            if problem:
                is_hidden = catalog.hidden(project=spec.project_id)
                self.record_problem(is_hidden, f"{rule.label} cannot book: {problem}", "project")
                return None, False
            project = catalog.projects[spec.project_id]
            self.decide_customer(
                project.customer_id, rule.label, "The customer of the rule's project."
            )
            label = catalog.project_label(project.id)
            self.decide("project", project.id, label, rule.label, f"{rule.label} names it.")
            return project, False
        customer_id = self.customer_for(rule)
        if customer_id is None and self.customer_to_create is None:
            return None, False
        return self.project_made_for(rule, customer_id)

    def decide_customer(self, customer_id: str, decided_by: str, reason: str) -> None:
        label = self.context.catalog.customer_label(customer_id)
        self.decide("customer", customer_id, label, decided_by, reason)

    def customer_for(self, rule: CompiledRule) -> str | None:
        """The rule's customer, else the one of the entry's organization (linked, same name,
        or to be created)."""
        spec, catalog, entry = rule.spec, self.context.catalog, self.entry
        if spec.customer_id:
            problem = catalog.customer_problem(spec.customer_id)
            if problem:
                is_hidden = catalog.hidden(customer=spec.customer_id)
                self.record_problem(is_hidden, f"{rule.label} cannot book: {problem}", "customer")
                return None
            self.decide_customer(spec.customer_id, rule.label, f"{rule.label} names it.")
            return spec.customer_id
        org = entry.organization
        if org is None:
            self.problem(
                "no_customer",
                f"{rule.label} books below the Kimai customer of the ticket's Zammad "
                f"organization, but {_ticket(entry)} has no organization: name a customer in "
                "the rule, or add a rule for tickets without one above it.",
                "customer",
            )
            return None
        linked = self.context.links.get(("organization_customer", org.id))
        if linked is not None:
            problem = catalog.customer_problem(linked)
            if problem:
                what = f"The Kimai customer made for organization {_org(entry)} cannot be used"
                is_hidden = catalog.hidden(customer=linked)
                self.record_problem(is_hidden, f"{what}: {problem}", "customer")
                return None
            why = f"The Kimai customer the sync made for organization {_org(entry)}."
            self.decide_customer(linked, rule.label, why)
            return linked
        existing = catalog.customer_named(org.name) if org.name else None
        if existing is not None:
            why = f"The Kimai customer named like the Zammad organization {_org(entry)}."
            self.decide_customer(existing.id, rule.label, why)
            return existing.id
        hidden = catalog.hidden_customer_named(org.name) if org.name else None
        if hidden is not None:
            self.problem(
                "hidden_record",
                f"{rule.label} books below the Kimai customer named like organization "
                f"{_org(entry)}: that is Kimai customer “{hidden.name}” (#{hidden.id}), which is "
                f"hidden in Kimai, so nothing can be booked below it. "
                f"{hidden_advice('customer', hidden.name)}",
                "customer",
            )
            return None
        name = _kimai_name(org.name or "", f"Organization {org.id}")
        self.customer_to_create = CustomerToCreate(name, "organization_customer", org.id)
        why = f"Kimai has no customer named like organization {_org(entry)}: the sync makes it."
        self.decide("customer", None, f"{name} (new)", rule.label, why)
        return None

    def project_made_for(
        self, rule: CompiledRule, customer_id: str | None
    ) -> tuple[ReferenceProject | None, bool]:
        spec, catalog, entry = rule.spec, self.context.catalog, self.entry
        if spec.project_mode == "per_ticket":
            if entry.ticket is None:
                self.problem("no_customer", "This entry has no ticket to make a project for.")
                return None, False
            scope, source, what = "ticket_project", entry.ticket.id, _ticket(entry)
            each = f"{rule.label} makes one project per ticket"
        else:
            assert entry.organization is not None  # customer_for refused entries without one
            scope, source = "organization_project", entry.organization.id
            what, each = (
                f"organization {_org(entry)}",
                f"{rule.label} makes one project per organization",
            )
        key = f"{source}@{spec.customer_id or 'own'}"
        linked = self.context.links.get((scope, key))
        if linked is not None:
            problem = catalog.project_problem(linked)
            if problem:
                what = f"The Kimai project made for {what} cannot be used"
                is_hidden = catalog.hidden(project=linked)
                self.record_problem(is_hidden, f"{what}: {problem}", "project")
                return None, False
            why = f"{each}; this is the one the sync made for {what}."
            self.decide("project", linked, catalog.project_label(linked), rule.label, why)
            return catalog.projects[linked], False
        name = self.project_name(rule)
        existing = catalog.project_named(customer_id, name) if customer_id else None
        if existing is not None:
            why = f"{each}; Kimai already has “{name}” for {what}."
            self.decide("project", existing.id, catalog.project_label(existing.id), rule.label, why)
            return existing, False
        hidden = catalog.hidden_project_named(customer_id, name) if customer_id else None
        if hidden is not None:
            self.problem(
                "hidden_record",
                f"{each}; Kimai has “{name}” for {what} (project #{hidden.id}), but it is hidden "
                f"in Kimai, so nothing can be booked on it. {hidden_advice('project', name)}",
                "project",
            )
            return None, False
        self.project_to_create = ProjectToCreate(name, customer_id, scope, key)
        why = f"{each}; Kimai has none for {what} yet, so the sync makes “{name}” on first use."
        self.decide("project", None, f"{name} (new)", rule.label, why)
        return None, True

    def project_name(self, rule: CompiledRule) -> str:
        entry = self.entry
        ticket_id = entry.ticket.id if entry.ticket else ""
        values = {
            "organization": entry.organization.name or "" if entry.organization else "",
            "ticket_key": entry.ticket.number or "" if entry.ticket else "",
            "ticket_number": entry.ticket.number or "" if entry.ticket else "",
            "ticket_title": entry.ticket.title or "" if entry.ticket else "",
            "ticket_id": ticket_id,
        }
        per_ticket = rule.spec.project_mode == "per_ticket"
        fallback = f"Ticket {ticket_id}" if per_ticket else "Organization"
        rendered = rule.project_name.render(values) if rule.project_name else ""
        return _kimai_name(rendered, fallback)

    # 4. activity ----------------------------------------------------------------------------
    def activity(
        self, rule: CompiledRule | None, project: ReferenceProject | None, creating: bool
    ) -> ReferenceActivity | None:
        catalog = self.context.catalog
        if rule is not None and rule.spec.activity_id:
            problem = catalog.activity_problem(rule.spec.activity_id)
            if problem:
                is_hidden = catalog.hidden(activity=rule.spec.activity_id)
                self.record_problem(is_hidden, f"{rule.label} cannot book: {problem}", "activity")
                return None
            activity = catalog.activities[rule.spec.activity_id]
            decided_by, reason = rule.label, f"{rule.label} names it."
        else:
            found = self.mapped_activity(project)
            if found is None:
                return None
            activity, decided_by, reason = found
        if project is not None or creating:
            problem = catalog.combination_problem(activity, project)
            if problem:
                self.problem("invalid_activity", problem, "activity")
        label = catalog.activity_label(activity.id)
        self.decide("activity", activity.id, label, decided_by, reason)
        return activity

    def mapped_activity(
        self, project: ReferenceProject | None
    ) -> tuple[ReferenceActivity, str, str] | None:
        """The activity mapping of the entry's type, else an activity of the same name."""
        context, catalog, kind = self.context, self.context.catalog, self.entry.activity
        what = f"Zammad activity type {_type(self.entry)}" if kind else "No activity type"
        mapped = context.activity_mappings.get(kind.id if kind else "")
        if mapped is not None:
            problem = catalog.activity_problem(mapped)
            if problem:
                message = (
                    f"The activity mapping of {what[0].lower()}{what[1:]} cannot be used: {problem}"
                )
                is_hidden = catalog.hidden(activity=mapped)
                self.problem(
                    "hidden_record" if is_hidden else "broken_mapping", message, "activity"
                )
                return None
            reason = f"{what} → this activity (activity mapping)."
            return catalog.activities[mapped], "activity mapping", reason
        found = (
            catalog.activity_named(kind.name, project.id if project else None)
            if kind and kind.name
            else None
        )
        named = kind.name if found is None and kind is not None else None
        hidden = catalog.hidden_activity_named(named) if named else None
        if hidden is not None:
            self.problem(
                "hidden_record",
                f"{what}: not mapped, and the Kimai activity of the same name, “{hidden.name}” "
                f"(#{hidden.id}), is hidden in Kimai. {hidden_advice('activity', hidden.name)}",
                "activity",
            )
            return None
        if found is None:
            elsewhere = (
                catalog.projects_with_activity_named(kind.name) if kind and kind.name else []
            )
            if elsewhere and project is not None:
                where = (
                    f"no Kimai activity of that name on project "
                    f"{catalog.project_label(project.id)} (only on {', '.join(elsewhere)})"
                )
            elif elsewhere:
                where = f"no global Kimai activity of that name (only on {', '.join(elsewhere)})"
            else:
                where = "no Kimai activity has the same name"
            self.problem(
                "unmapped_activity",
                f"{what}: not mapped to a Kimai activity, and {where}. Map it on the activity "
                "mapping page, or name an activity in the rule.",
                "activity",
            )
            return None
        reason = f"{what} has no saved mapping; this Kimai activity has the same name."
        return found, "activity mapping (automatic)", reason

    # 5. billable ----------------------------------------------------------------------------
    def billable(
        self,
        rule: CompiledRule | None,
        activity: ReferenceActivity | None,
        project: ReferenceProject | None,
    ) -> bool:
        """Decides the field; returns what Kimai will store (for the billable tag)."""
        if rule is not None and rule.spec.billable != "default":
            value = rule.spec.billable == "yes"
            word = "billable" if value else "not billable"
            self.decide("billable", value, word, rule.label, f"{rule.label} says {word}.")
            return value
        customer = self.context.catalog.customers.get(project.customer_id) if project else None
        parts, predicted = [], True
        for what, record in (("activity", activity), ("project", project), ("customer", customer)):
            if record is None:
                parts.append(f"the {what} is not known yet (new records are billable)")
                continue
            flag = record.billable is not False
            predicted = predicted and flag
            parts.append(f"{what} “{record.name}” is {'billable' if flag else 'not billable'}")
        by = f"{rule.label} leaves it to Kimai" if rule is not None else "Kimai decides"
        self.decide(
            "billable", None, f"{'billable' if predicted else 'not billable'} (Kimai decides)",
            "Kimai default",
            f"{by}: billable when the activity, the project and the customer all are; here "
            f"{', '.join(parts)}.",
        )  # fmt: skip
        return predicted

    def booking(
        self, rule: CompiledRule | None
    ) -> tuple[KimaiUserInfo | None, int | None, ReferenceProject | None, bool, bool]:
        """Steps 1 and 3 to 5, and 7: all but the rule, the time and the description."""
        user = self.user()
        project, creating = self.project(rule) if rule is not None else (None, False)
        activity = self.activity(rule, project, creating)
        billable = self.billable(rule, activity, project)
        self.tags(rule, billable)
        return user, rule.id if rule is not None else None, project, creating, billable

    # 6. begin, end, duration ----------------------------------------------------------------
    def time(self, user: KimaiUserInfo | None) -> TimeBox:
        context, entry = self.context, self.entry
        zone_key = ("zone", user.id if user is not None else None)
        known = context.memo.get(zone_key)
        if known is None:
            known = context.memo[zone_key] = self.zone(user)
        zone, zone_name, source = known
        # A source that knows when the work began (Jira's `started`) is booked from there; the
        # booking instant setting is for sources with one instant per entry (Zammad's).
        instant, settings = entry.booked_at, context.time
        if entry.begin is not None:
            instant, settings = entry.begin, context.time_from_begin
        box = synthesize(instant, entry.duration_seconds, zone, zone_name, settings, context.now)
        if box.skipped_reason is not None:
            self.decide(
                "duration", entry.duration_seconds, "skipped", "time synthesis", box.skipped_reason
            )
            return box
        assert box.begin is not None and box.end is not None
        fields = self.fields
        fields["begin"] = FieldDecision(box.begin, box.begin_label, source, box.begin_reason)
        fields["end"] = FieldDecision(box.end, box.end_label, source, box.end_reason)
        key = ("duration", box.duration_seconds, box.duration_reason)
        hit = context.memo.get(key)
        if hit is None:
            display = format_seconds(box.duration_seconds)
            decision = FieldDecision(
                box.duration_seconds, display, "time synthesis", box.duration_reason
            )
            hit = context.memo[key] = (decision,)
        fields["duration"] = hit[0]
        return box

    def zone(self, user: KimaiUserInfo | None) -> tuple[tzinfo, str, str]:
        """The zone the user's times are in, its name, and who decided it (as ``decided_by``)."""
        context = self.context
        if user is not None and user.zone is not None:
            zone, zone_name, whose = user.zone, user.zone_name, "the Kimai user's time zone"
        else:
            zone, zone_name = context.default_zone, context.default_zone_name
            whose = (
                "the default time zone in the settings: Kimai did not say the user's"
                if user is not None
                else "the default time zone in the settings, as the user is unknown"
            )
        return zone, zone_name, f"time synthesis ({zone_name}, {whose})"

    # 7. tags --------------------------------------------------------------------------------
    def tags(self, rule: CompiledRule | None, billable: bool) -> None:
        context = self.context
        parts, sources = list(context.fixed_tags), []
        if context.fixed_tags:
            sources.append("the fixed tags in the settings")
        if rule is not None and rule.spec.extra_tags:
            parts.extend(rule.spec.extra_tags)
            sources.append(f"the extra tags of {rule.label.lower()}")
        if context.billable_tags is not None:
            parts.append(context.billable_tags[0] if billable else context.billable_tags[1])
            sources.append("the billable status as a tag (settings)")
        tags = unique_tags(parts)
        reason = f"From {', '.join(sources)}." if sources else "No tags: none are configured."
        self.decide("tags", tags, ", ".join(tags) or "none", "tags", reason)

    # 8. description -------------------------------------------------------------------------
    def description(self, marker: str) -> None:
        context = self.context
        if context.description_is_shared:
            # The text depends only on the ticket, organization, type and facts, which many
            # entries share: render it once per run for each.
            key = ("description", self.ticket_values, self.org_values, self.kind_values,
                   self.facts)  # fmt: skip
            hit = context.memo.get(key)
            if hit is None:
                hit = context.memo[key] = (self.description_text(),)
            text = hit[0]
        else:
            text = self.description_text()
        description = f"{text} · {marker}" if text else marker
        self.fields["description"] = FieldDecision(
            description, description, "description template", _DESCRIPTION_REASON
        )

    def description_text(self) -> str:
        """The template rendered for this entry, its whitespace collapsed."""
        entry, facts = self.entry, self.facts
        key = entry.ticket.number or "" if entry.ticket else ""
        work_type = entry.activity.name or "" if entry.activity else ""
        groups = dict(zip(facts.group_ids or (), facts.group_names, strict=False)) if facts else {}
        values = {
            "ticket_key": key,
            "ticket_number": key,
            "ticket_title": entry.ticket.title or "" if entry.ticket else "",
            "ticket_id": entry.ticket.id if entry.ticket else "",
            "organization": entry.organization.name or "" if entry.organization else "",
            "work_type": work_type,
            "activity_type": work_type,
            "project": facts.project_name or "" if facts else "",
            "group": (facts.group_name or ", ".join(groups.values())) if facts else "",
            "tags": ", ".join(facts.tags or ()) if facts else "",
            "comment": entry.description or "",
            "entry_id": entry.external_id,
        }
        return " ".join(self.context.description.render(values).split())


_DESCRIPTION_REASON = (
    "The template in the settings, then the marker that lets the sync find this timesheet again."
)


def _kimai_name(text: str, fallback: str) -> str:
    """A name Kimai accepts: 2–150 characters without < > " = (kimai-api.md §11)."""
    name = " ".join(KIMAI_NAME_FORBIDDEN.sub("", text).split())[:150].strip()
    return name if len(name) >= 2 else fallback


def plan_timesheet(entry: TimeEntry, context: MappingContext) -> TimesheetPlan:
    """Decide every field of the Kimai timesheet for ``entry``; pure and fast."""
    planner = _Planner(entry, context)
    marker = marker_for(entry)
    rule = planner.rule()
    # Everything but the time depends on a few inputs that many entries share: decide it once.
    per_ticket = rule is not None and rule.spec.project_mode == "per_ticket"
    agent = entry.agent
    key = (
        "booking",
        (agent.id, agent.email, agent.name) if agent else None,
        rule.id if rule else None,
        planner.org_values,
        planner.kind_values,
        planner.ticket_values if per_ticket else None,
    )
    user, rule_id, project, creating, billable = planner.cached(key, planner.booking, rule)
    box = planner.time(user)
    planner.description(marker)
    fields = planner.fields
    draft = None
    held = box.skipped_reason or box.waiting_reason
    if held is None and not planner.problems and project is not None and not creating:
        draft = TimesheetDraft(
            begin=fields["begin"].value,
            duration_seconds=fields["duration"].value,
            project_id=project.id,
            activity_id=fields["activity"].value,
            user_id=fields["user"].value,
            description=fields["description"].value,
            tags=fields["tags"].value,
            billable=fields["billable"].value,
        )
    return TimesheetPlan(
        entry_id=entry.external_id,
        marker=marker,
        draft=draft,
        fields=fields,
        problems=planner.problems,
        skipped_reason=box.skipped_reason,
        waiting_reason=box.waiting_reason,
        project_to_create=planner.project_to_create if creating else None,
        customer_to_create=planner.customer_to_create if creating else None,
        rule_id=rule_id,
    )
