"""Form fields for a connector's settings, derived from its pydantic settings model.

Each connector kind declares its settings once (``<kind>/config.py``); the Connectors page renders
and reads them from the model's JSON schema, so a new connector needs no form code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

# Nested tuning (timeouts, retries) keeps its defaults in the UI; the API can set it. A nested
# field marked ``json_schema_extra={"in_form": True}`` (the ceiling on requests at once) is shown,
# named with a dot: ``settings.http.max_concurrent_requests``.
SKIPPED_TYPES = {"object", "array"}


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    input_type: str  # "select", "number", "checkbox", "text"
    value: Any
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (value, words)
    optional: bool = False
    step: str = "any"

    @property
    def form_name(self) -> str:
        return f"settings.{self.name}"

    @property
    def input_id(self) -> str:
        return "id_" + self.name.replace(".", "_")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Unwrap $ref and Optional (anyOf with null); return the schema and whether null is allowed."""
    optional = False
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        optional = len(options) < len(schema["anyOf"])
        schema = {**schema, **options[0]} if options else schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**root.get("$defs", {}).get(name, {}), **schema}
    return schema, optional


def _current_values(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    try:
        return model.model_validate(values).model_dump(mode="json")
    except ValidationError:
        # A model whose defaults alone do not validate (a setting one choice requires, like the
        # e-mail address of a Jira Cloud token): the form shows its defaults and what was typed.
        defaults = {
            name: field.get_default(call_default_factory=True)
            for name, field in model.model_fields.items()
            if not field.is_required()
        }
        return {**to_jsonable_python(defaults), **values}


def _properties(
    schema: dict[str, Any], current: dict[str, Any]
) -> list[tuple[str, dict[str, Any], dict[str, Any], bool, Any]]:
    """(dotted name, raw schema, resolved schema, optional, value) of every field in the form:
    the model's own, and the nested ones marked ``in_form``."""
    found = []
    for name, raw in schema.get("properties", {}).items():
        prop, optional = _resolve(raw, schema)
        if "properties" in prop:
            inner = current.get(name) or {}
            for sub, sub_raw in prop["properties"].items():
                sub_prop, sub_optional = _resolve(sub_raw, schema)
                if sub_raw.get("in_form") or sub_prop.get("in_form"):
                    found.append((f"{name}.{sub}", sub_raw, sub_prop, sub_optional, inner.get(sub)))
            continue
        found.append((name, raw, prop, optional, current.get(name)))
    return found


def setting_fields(
    model: type[BaseModel], values: dict[str, Any] | None = None
) -> list[SettingField]:
    schema = model.model_json_schema()
    current = _current_values(model, values or {})
    fields = []
    for name, raw, prop, optional, value in _properties(schema, current):
        kind = prop.get("type")
        if kind in SKIPPED_TYPES:
            continue
        if "enum" in prop:
            words = raw.get("choice_labels") or prop.get("choice_labels") or {}
            input_type = "select"
            choices = tuple((str(c), str(words.get(c, c))) for c in prop["enum"])
        elif kind == "boolean":
            input_type, choices = "checkbox", ()
        elif kind in ("integer", "number"):
            input_type, choices = "number", ()
        else:
            input_type, choices = "text", ()
        fields.append(
            SettingField(
                name=name,
                # pydantic titles every field ("Page Size"); connectors give theirs in words.
                label=raw.get("title") or prop.get("title") or name.replace("_", " ").capitalize(),
                input_type=input_type,
                value=value,
                help=raw.get("description") or prop.get("description") or "",
                choices=choices,
                optional=optional,
                step="1" if kind == "integer" else "any",
            )
        )
    return fields


def settings_from_post(
    model: type[BaseModel], data: QueryDict, saved: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read the settings fields of a submitted form; blank optional fields become None. Nested
    settings the form does not show keep their ``saved`` values (set through the API)."""
    result: dict[str, Any] = {
        key: dict(value) for key, value in (saved or {}).items() if isinstance(value, dict)
    }
    for field in setting_fields(model):
        *parents, leaf = field.name.split(".")
        into = result
        for parent in parents:
            into = into.setdefault(parent, {})
        if field.input_type == "checkbox":
            into[leaf] = data.get(field.form_name) == "on"
            continue
        raw = (data.get(field.form_name) or "").strip()
        if raw == "":
            if field.optional:
                into[leaf] = None
            continue
        into[leaf] = raw
    return result
