"""Rules as input (validated the same way for the editor and the API) and as a table to check.

A rule's conditions are any combination of the normalized facts of apps/connectors/facts.py:
organization, ticket customer, project, group, work type, and ticket title or tag pattern, as
far as the pair's source provides them; empty conditions match everything. Its outcome
names the Kimai customer and project (or one project per organization or ticket), optionally
the activity, the billable status and extra tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apps.mappings.catalog import Catalog

NONE = "none"  # in organization and activity type conditions: "has none"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TAG_LENGTH = range(2, 101)  # kimai-api.md §8 Tags: 2–100 characters, no comma
MAX_TAGS = 20
# kimai-api.md §11: since 2.54 these characters are refused in names.
KIMAI_NAME_FORBIDDEN = re.compile(r'[<>"=]')

ProjectMode = Literal["fixed", "per_organization", "per_ticket"]
Billable = Literal["default", "yes", "no"]

CONDITION_FIELDS = (
    "organization_ids",
    "customer_ids",
    "group_ids",
    "project_ids",
    "activity_type_ids",
    "title_pattern",
    "tag_pattern",
)
OUTCOME_FIELDS = (
    "project_mode",
    "customer_id",
    "project_id",
    "project_name_template",
    "activity_id",
    "billable",
    "extra_tags",
)
# Placeholders name normalized facts (apps/connectors/facts.py), the same for every source;
# {ticket_number} and {activity_type}, the names before there was a second source, still work
# (migration 0003 rewrote the saved templates to the new names).
DESCRIPTION_PLACEHOLDERS = (
    "ticket_key",
    "ticket_title",
    "ticket_id",
    "organization",
    "project",
    "group",
    "work_type",
    "tags",
    "comment",
    "entry_id",
    "ticket_number",
    "activity_type",
)
# Facts that only a ticket lookup gives (not the entry): a template naming one has them read.
TICKET_FACT_PLACEHOLDERS = frozenset({"project", "group", "tags"})
# Values of one entry alone (not shared by the ticket's other entries).
ENTRY_PLACEHOLDERS = frozenset({"comment", "entry_id"})
PROJECT_NAME_PLACEHOLDERS = ("organization", "ticket_key", "ticket_title", "ticket_id",
                             "ticket_number")  # fmt: skip
RENAMED_PLACEHOLDERS = {"{ticket_number}": "{ticket_key}", "{activity_type}": "{work_type}"}
DEFAULT_PROJECT_NAMES = {
    "per_organization": "{organization}",
    "per_ticket": "#{ticket_key} {ticket_title}",
}
PLACEHOLDER = re.compile(r"\{(\w*)\}")


# -- templates ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Template:
    """``"#{ticket_number} {ticket_title}"``, parsed once, rendered per entry."""

    parts: tuple[tuple[bool, str], ...]  # (is_placeholder, literal text or placeholder name)

    @classmethod
    def parse(cls, text: str, allowed: Sequence[str]) -> Template:
        unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - set(allowed))
        if unknown:
            names = ", ".join("{" + name + "}" for name in unknown)
            known = ", ".join("{" + name + "}" for name in allowed)
            raise ValueError(f"unknown placeholder {names}; use {known}")
        parts: list[tuple[bool, str]] = []
        position = 0
        for match in PLACEHOLDER.finditer(text):
            if match.start() > position:
                parts.append((False, text[position : match.start()]))
            parts.append((True, match.group(1)))
            position = match.end()
        if position < len(text):
            parts.append((False, text[position:]))
        return cls(tuple(parts))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(text for is_name, text in self.parts if is_name)

    def render(self, values: dict[str, str]) -> str:
        return "".join(values.get(text, "") if is_name else text for is_name, text in self.parts)


def check_tags(tags: Iterable[str]) -> list[str]:
    cleaned = [tag.strip() for tag in tags if tag.strip()]
    if len(cleaned) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for tag in cleaned:
        if "," in tag or len(tag) not in TAG_LENGTH:
            raise ValueError(f"Kimai tag names are 2 to 100 characters without commas: {tag!r}")
    return list(dict.fromkeys(cleaned))


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None


# -- a rule as input ------------------------------------------------------------------------------
class RuleSpec(BaseModel):
    """What a rule says, checked for shape; :func:`reference_errors` checks it against Kimai."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=100, description="A label for people.")
    organization_ids: list[str] = Field(
        default_factory=list,
        description='Zammad organization ids; "none" matches tickets without an organization.',
    )
    customer_ids: list[str] = Field(
        default_factory=list, description="Zammad user ids of the ticket's customer."
    )
    group_ids: list[str] = Field(
        default_factory=list,
        description="Group or queue ids (Zammad groups, Jira components: any of the ticket's).",
    )
    project_ids: list[str] = Field(
        default_factory=list, description="Project ids of the source (Jira projects)."
    )
    activity_type_ids: list[str] = Field(
        default_factory=list,
        description='Zammad time accounting type ids; "none" matches entries without a type.',
    )
    title_pattern: str = Field(
        default="",
        max_length=200,
        description="A regular expression searched in the ticket title, ignoring case.",
    )
    tag_pattern: str = Field(
        default="",
        max_length=200,
        description="A regular expression searched in each ticket tag, ignoring case.",
    )
    project_mode: ProjectMode = "fixed"
    customer_id: str = Field(default="", max_length=64, description="Kimai customer id.")
    project_id: str = Field(
        default="", max_length=64, description='Kimai project id (project_mode "fixed").'
    )
    project_name_template: str = Field(
        default="",
        max_length=150,
        description="Name of projects the rule creates; {organization}, {ticket_key}, "
        "{ticket_title}, {ticket_id}.",
    )
    activity_id: str = Field(
        default="", max_length=64, description="Kimai activity id; empty: the activity mapping."
    )
    billable: Billable = "default"
    extra_tags: list[str] = Field(default_factory=list, description="Kimai tags to add.")

    @field_validator("name", "title_pattern", "tag_pattern", "project_name_template")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("customer_id", "project_id", "activity_id")
    @classmethod
    def _single_id(cls, value: str) -> str:
        value = value.strip()
        if value and not ID_PATTERN.match(value):
            raise ValueError("an id is letters, digits, - or _")
        return value

    @field_validator(
        "organization_ids", "customer_ids", "group_ids", "project_ids", "activity_type_ids"
    )
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        cleaned = [str(v).strip() for v in values if str(v).strip()]
        for value in cleaned:
            if not ID_PATTERN.match(value):
                raise ValueError(f"{value!r} is not an id (letters, digits, - or _)")
        if len(cleaned) > 500:
            raise ValueError("at most 500 ids")
        return list(dict.fromkeys(cleaned))

    @field_validator("title_pattern", "tag_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            compile_pattern(value)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
        return value

    @field_validator("extra_tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return check_tags(values)

    @field_validator("project_name_template")
    @classmethod
    def _project_name(cls, value: str) -> str:
        Template.parse(value, PROJECT_NAME_PLACEHOLDERS)
        if KIMAI_NAME_FORBIDDEN.search(value):
            raise ValueError('Kimai refuses the characters < > " = in names')
        return value

    @model_validator(mode="after")
    def _outcome(self) -> Self:
        if self.project_mode == "fixed" and not self.project_id:
            raise ValueError("choose the Kimai project")
        if self.project_mode != "fixed" and self.project_id:
            raise ValueError(
                "a rule that makes one project per organization or ticket names no project"
            )
        return self

    @property
    def is_catch_all(self) -> bool:
        return not any(getattr(self, name) for name in CONDITION_FIELDS)

    def outcome(self) -> tuple[Any, ...]:
        return tuple(
            tuple(value) if isinstance(value, list) else value
            for value in (getattr(self, name) for name in OUTCOME_FIELDS)
        )


def reference_errors(spec: RuleSpec, catalog: Catalog) -> dict[str, list[str]]:
    """What Kimai would refuse about this rule, by field, in plain words."""
    errors: dict[str, list[str]] = {}
    if catalog.empty:
        return {"project_id": ["Kimai's projects are not known yet: refresh the Kimai data first."]}
    project = catalog.projects.get(spec.project_id) if spec.project_id else None
    if spec.project_id:
        problem = catalog.project_problem(spec.project_id)
        if problem:
            errors["project_id"] = [problem]
    if spec.customer_id:
        problem = catalog.customer_problem(spec.customer_id)
        if problem:
            errors["customer_id"] = [problem]
        elif project is not None and project.customer_id != spec.customer_id:
            errors["project_id"] = [
                f"Project “{project.name}” belongs to "
                f"{catalog.customer_label(project.customer_id)}, not to "
                f"{catalog.customer_label(spec.customer_id)}."
            ]
    if spec.activity_id:
        problem = catalog.activity_problem(spec.activity_id)
        activity = catalog.activities.get(spec.activity_id)
        fixed = spec.project_mode == "fixed"
        if problem is None and activity is not None and (project is not None or not fixed):
            # a rule that makes projects books on new ones, which allow global activities
            problem = catalog.combination_problem(activity, project if fixed else None)
        if problem:
            errors["activity_id"] = [problem]
    return errors


# -- the table as a whole -------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    kind: Literal["unreachable", "overlap", "broken"]
    message: str


def _ids_cover(wider: list[str], narrower: list[str]) -> bool:
    return not wider or (bool(narrower) and set(narrower) <= set(wider))


def _ids_meet(a: list[str], b: list[str]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def _shadows(earlier: RuleSpec, later: RuleSpec) -> bool:
    """Every entry ``later`` matches, ``earlier`` matches too."""
    for name in CONDITION_FIELDS[:4]:
        if not _ids_cover(getattr(earlier, name), getattr(later, name)):
            return False
    for name in CONDITION_FIELDS[4:]:
        wider = getattr(earlier, name)
        if wider and wider.casefold() != getattr(later, name).casefold():
            return False
    return True


def _may_overlap(a: RuleSpec, b: RuleSpec) -> bool:
    """Some entry could match both (patterns are assumed to overlap: that cannot be decided)."""
    return all(_ids_meet(getattr(a, name), getattr(b, name)) for name in CONDITION_FIELDS[:4])


def _label(position: int, spec: RuleSpec) -> str:
    return f"rule {position} (“{spec.name}”)" if spec.name else f"rule {position}"


def analyse(specs: Sequence[tuple[int, RuleSpec]], catalog: Catalog) -> dict[int, list[Finding]]:
    """Findings per rule id: never reached, overlapping an earlier rule, or broken in Kimai."""
    findings: dict[int, list[Finding]] = {rule_id: [] for rule_id, _ in specs}
    for index, (rule_id, spec) in enumerate(specs):
        for earlier_index, (_, earlier) in enumerate(specs[:index]):
            position = earlier_index + 1
            if _shadows(earlier, spec):
                why = (
                    "it has no conditions, so it matches every entry"
                    if earlier.is_catch_all
                    else "it matches every entry this rule would"
                )
                findings[rule_id].append(
                    Finding(
                        "unreachable",
                        f"Never used: {_label(position, earlier)} above wins, as {why}.",
                    )
                )
                break
            if (
                not spec.is_catch_all
                and _may_overlap(earlier, spec)
                and earlier.outcome() != spec.outcome()
            ):
                findings[rule_id].append(
                    Finding(
                        "overlap",
                        f"Overlaps {_label(position, earlier)}: an entry matching both is booked "
                        f"by {_label(position, earlier)}, which comes first.",
                    )
                )
        if not catalog.empty:
            for messages in reference_errors(spec, catalog).values():
                findings[rule_id].extend(Finding("broken", message) for message in messages)
    return findings


def spec_of(rule: Any) -> RuleSpec:
    """The spec of a saved :class:`apps.mappings.models.Rule` (any object with its fields)."""
    return RuleSpec.model_validate(
        {name: getattr(rule, name) for name in ("name", *CONDITION_FIELDS, *OUTCOME_FIELDS)}
    )
