"""The connectors' part of /readyz: which kinds loaded, which plugins did not, and connections
whose kind is missing. Reported, never required: the rest of the service keeps working."""

from __future__ import annotations

from django.db import DatabaseError

from apps.connectors.models import Connection
from apps.connectors.registry import available_kinds, installed_connectors, plugin_problems
from apps.core.health import Check


def check_connector_kinds() -> Check:
    kinds = "; ".join(f"{c.kind} ({c.origin})" for c in installed_connectors()) or "none"
    problems = [f"not loaded: {problem}" for problem in plugin_problems()]
    try:
        stranded = list(
            Connection.objects.exclude(kind__in=available_kinds())
            .order_by("name")
            .values_list("name", "kind")
        )
    except DatabaseError:
        stranded = []
    problems += [
        f"connection {name!r} uses the kind {kind!r}, which is not installed"
        for name, kind in stranded
    ]
    return Check("connectors", not problems, "; ".join([kinds, *problems]), required=False)
