"""The main navigation. Entries whose URL does not exist (yet) are not shown."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

NAVIGATION = [
    ("Dashboard", "ui:dashboard"),
    ("Connectors", "connectors:list"),
    ("Mappings", "mappings:rules"),
    ("Sync", "sync:runs"),
    ("Conflicts", "sync:conflicts"),
    ("Audit", "sync:audit"),
    ("Settings", "ui:settings"),
]


def navigation_items() -> list[tuple[str, str]]:
    items = []
    for label, url_name in NAVIGATION:
        try:
            items.append((label, reverse(url_name)))
        except NoReverseMatch:
            continue
    return items
