"""What fits a conflict: the actions a person may take on it, their words, and its version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from apps.sync.models import Conflict


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    LINK = "link"
    SKIP = "skip"
    DELETE = "delete"
    RECHECK = "recheck"


ACTION_LABELS = {
    Action.CREATE: "Create in Kimai",
    Action.UPDATE: "Update Kimai",
    Action.LINK: "Link to this Kimai timesheet",
    Action.SKIP: "Skip",
    Action.DELETE: "Delete in Kimai",
    Action.RECHECK: "Check again",
}
# What a bulk resolution can apply: actions that need no per-conflict choice.
BULK_ACTIONS = (Action.SKIP, Action.CREATE, Action.UPDATE, Action.DELETE, Action.RECHECK)


@dataclass(frozen=True)
class Choice:
    """An action that fits a conflict, as offered to a person."""

    action: str
    label: str
    hint: str
    kimai_id: str = ""
    danger: bool = False


def version_of(conflict: Conflict) -> str:
    """Changes whenever what a person decides on changes (a run saw something new)."""
    relevant = [
        conflict.status, conflict.kind, conflict.reason, conflict.source_fingerprint,
        conflict.kimai_id, conflict.target_snapshot,
        [c.get("id") for c in conflict.candidates or [] if isinstance(c, dict)],
    ]  # fmt: skip
    canonical = json.dumps(relevant, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _marker_taken(conflict: Conflict) -> bool:
    """Whether the candidates carry this entry's own marker (then creating is never right)."""
    marker = (conflict.source_snapshot or {}).get("marker") or ""
    return bool(marker) and any(
        marker in str(c.get("description") or "") for c in conflict.candidates or []
    )


def choices(conflict: Conflict) -> list[Choice]:
    """The actions that fit an open conflict, best first."""
    if conflict.status != Conflict.Status.OPEN:
        return []
    kind, kimai_id = conflict.kind, conflict.kimai_id
    skip = Choice(
        Action.SKIP, "Skip",
        "Leave this entry alone; it comes back only if it changes in Zammad.",
    )  # fmt: skip
    recheck = Choice(
        Action.RECHECK, "Check again",
        "Sync this ticket again now, e.g. after changing a mapping or a rule.",
    )  # fmt: skip
    create = Choice(Action.CREATE, "Create in Kimai", "Book the Zammad entry as a new timesheet.")
    K = Conflict.Kind
    if kind == K.AMBIGUOUS_MATCH:
        links = [
            Choice(
                Action.LINK,
                f"Link to #{c['id']}",
                "This Kimai timesheet is the entry: link it as it is, write nothing.",
                kimai_id=str(c["id"]),
            )  # fmt: skip
            for c in conflict.candidates or []
            if isinstance(c, dict) and c.get("id")
        ]
        return [*links, *([] if _marker_taken(conflict) else [create]), skip]
    if kind == K.DURATION_MISMATCH:
        return [
            Choice(
                Action.UPDATE, f"Update Kimai #{kimai_id}",
                "Give the Kimai timesheet Zammad's values (and link it).", kimai_id=kimai_id,
            ),
            Choice(
                Action.LINK, f"Link to #{kimai_id} as it is",
                "Accept Kimai's duration: link the timesheet, write nothing.", kimai_id=kimai_id,
            ),
            Choice(
                Action.CREATE, "Create another",
                "The Kimai timesheet is other work: book this entry as a new timesheet.",
            ),
            skip,
        ]  # fmt: skip
    if kind == K.CHANGED_IN_KIMAI:
        if not conflict.target_snapshot:
            gone = Choice(
                Action.CREATE, "Create in Kimai again",
                "The timesheet is gone from Kimai: book the entry as a new one.",
            )  # fmt: skip
            return [gone, skip]
        return [
            Choice(
                Action.UPDATE, "Zammad wins: update Kimai",
                "Overwrite the edit made in Kimai with Zammad's values.", kimai_id=kimai_id,
            ),
            Choice(
                Action.LINK, "Kimai wins: keep it as it is",
                "Keep the Kimai timesheet; the Zammad edit is not written.", kimai_id=kimai_id,
            ),
            skip,
        ]  # fmt: skip
    if kind == K.SOURCE_DELETED:
        delete = Choice(
            Action.DELETE, f"Delete Kimai #{kimai_id}",
            "The entry is gone from Zammad: delete its timesheet in Kimai.",
            kimai_id=kimai_id, danger=True,
        )  # fmt: skip
        keep = Choice(Action.SKIP, "Keep it in Kimai", "Leave the Kimai timesheet alone.")
        return [delete, keep]
    if kind in (K.REJECTED, K.LOCKED):
        if not conflict.source_fingerprint:
            retry = Choice(
                Action.DELETE, "Try to delete again", "Send the delete to Kimai once more.",
                kimai_id=kimai_id, danger=True,
            )  # fmt: skip
        elif kimai_id:
            retry = Choice(Action.UPDATE, "Try again", "Send the update to Kimai once more.")
        else:
            retry = Choice(Action.CREATE, "Try again", "Send the entry to Kimai once more.")
        return [retry, recheck, skip]
    return [recheck, skip]


def kind_hint(conflict: Conflict) -> str:
    """What a person can do about a conflict of this kind, beyond the action buttons."""
    K = Conflict.Kind
    hints: dict[str, str] = {
        K.UNMAPPED_USER: "Map this agent to a Kimai user; the affected entries are checked again.",
        K.UNMAPPED_ACTIVITY: "Map this activity type to a Kimai activity; the affected entries "
        "are checked again.",
        K.NO_MATCHING_RULE: "Add or change a rule on the Mappings page, then check again.",
        K.BROKEN_RULE: "Fix the rule on the Mappings page, then check again.",
        K.INVALID_ACTIVITY: "Choose an activity Kimai allows on the project, then check again.",
        K.HIDDEN_IN_KIMAI: "Make the record visible in Kimai (or choose another one in the rule "
        "or mapping), then check again: the sync never creates a second one of the same name.",
        K.LOCKED: "Kimai locks exported timesheets and lockdown periods: unlock it in Kimai, "
        "then try again.",
    }
    return hints.get(conflict.kind, "")
