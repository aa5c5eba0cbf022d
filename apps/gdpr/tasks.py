"""django-q2 entry points: thin."""

from __future__ import annotations

from apps.gdpr import retention


def prune_expired() -> str:
    report = retention.prune_expired()
    return "pruned " + ", ".join(f"{rows} {key}" for key, rows in report.items())
