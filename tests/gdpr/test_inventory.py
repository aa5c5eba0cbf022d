"""Every field that could hold personal data is in the inventory, and docs/PRIVACY.md lists it."""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.db import models

from apps.gdpr.inventory import NOT_PERSONAL, PERSONAL

TEXT_LIKE = (
    models.CharField, models.TextField, models.JSONField, models.EmailField,
    models.GenericIPAddressField,
)  # fmt: skip
PRIVACY_DOC = Path(__file__).resolve().parents[2] / "docs" / "PRIVACY.md"


def _text_fields() -> set[tuple[str, str]]:
    return {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, TEXT_LIKE)
    }


def test_every_field_that_could_hold_personal_data_is_in_the_inventory() -> None:
    declared = {(m, f) for m, fields in PERSONAL.items() for f in fields} | {
        (m, f) for m, fields in NOT_PERSONAL.items() for f in fields
    }
    missing = sorted(_text_fields() - declared)
    assert missing == [], (
        "Say in apps/gdpr/inventory.py (and docs/PRIVACY.md) whether these can hold personal "
        f"data, and why they are kept: {missing}"
    )


def test_no_field_is_both_personal_and_not() -> None:
    both = {
        (m, f) for m, fields in PERSONAL.items() for f in fields if f in NOT_PERSONAL.get(m, ())
    }
    assert both == set()


def test_the_privacy_document_lists_every_personal_field() -> None:
    text = PRIVACY_DOC.read_text()
    unlisted = [
        f"{model}.{field}"
        for model, fields in PERSONAL.items()
        for field in fields
        if f"`{model}.{field}`" not in text
    ]
    assert unlisted == []
