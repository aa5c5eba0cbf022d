"""Migration 0003 moves saved templates to the normalized placeholder names; a Zammad pair's
timesheets read exactly as before."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from apps.mappings.engine import MappingContext, plan_timesheet
from apps.mappings.models import MappingProfile
from tests.mappings.conftest import add_rule, entry

migration = importlib.import_module(
    "apps.mappings.migrations.0003_rule_project_ids_and_fact_placeholders"
)


@pytest.mark.django_db
def test_saved_templates_move_to_the_normalized_placeholder_names(
    profile: MappingProfile,
) -> None:
    MappingProfile.objects.filter(pk=profile.pk).update(
        description_template="#{ticket_number} {ticket_title} ({activity_type})"
    )
    rule = add_rule(profile, project_mode="per_ticket",
                    project_name_template="#{ticket_number} {ticket_title}")  # fmt: skip

    migration.forwards(apps, None)
    profile.refresh_from_db()
    rule.refresh_from_db()
    assert profile.description_template == "#{ticket_key} {ticket_title} ({work_type})"
    assert rule.project_name_template == "#{ticket_key} {ticket_title}"


@pytest.mark.django_db
def test_a_zammad_entry_reads_the_same_after_the_migration(profile: MappingProfile) -> None:
    MappingProfile.objects.filter(pk=profile.pk).update(
        description_template="#{ticket_number} {ticket_title} ({activity_type})"
    )
    add_rule(profile, project_id="1")
    before = plan_timesheet(entry(), MappingContext.load(profile.source, profile.target))

    migration.forwards(apps, None)
    after = plan_timesheet(entry(), MappingContext.load(profile.source, profile.target))
    assert before.draft is not None and after.draft is not None
    assert after.draft.description == before.draft.description
    assert before.draft.description.startswith("#24001 Printer")
