"""Kimai records that were hidden (or deleted) in Kimai after the reference data was read.

A run plans with the cached copy of Kimai's customers, projects and activities. When Kimai then
refuses a write because its project or activity may no longer be chosen (kimai-api.md §6 "Project
and activity choice lists": hidden records are not offered; §7 "Cannot start a disabled ..."),
the guard reads Kimai's reference data again, once per run, and from then on the run sends
nothing more to a record that is hidden or gone: those entries become a conflict that names the
record and says how to fix it, instead of one refusal each.
"""

from __future__ import annotations

import re
import threading

from apps.connectors.base import TimesheetDraft
from apps.connectors.models import Connection
from apps.mappings.catalog import Catalog
from apps.mappings.reference import kimai_reference, refresh_reference

# Kimai's words when a project or activity may not be chosen (any more).
REFERENCE_REFUSAL = re.compile(
    r"(project|activity): The selected choice is invalid|Cannot start a disabled", re.IGNORECASE
)


class ReferenceGuard:
    def __init__(self, target: Connection) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None

    def refused(self, message: str) -> None:
        """Kimai refused a write with ``message``: re-read its records if that is the reason."""
        if not REFERENCE_REFUSAL.search(message or ""):
            return
        with self._lock:
            if self._catalog is not None:
                return
            refresh_reference(self.target)
            reference, _snapshot = kimai_reference(self.target)
            self._catalog = Catalog.build(reference)

    def blocked(self, draft: TimesheetDraft) -> str | None:
        """Why ``draft`` must not be sent (its project or activity is hidden or gone), or None."""
        catalog = self._catalog
        if catalog is None:
            return None
        problems = [
            catalog.project_problem(draft.project_id),
            catalog.activity_problem(draft.activity_id),
        ]
        return " ".join(p for p in problems if p) or None
