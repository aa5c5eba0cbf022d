"""Everything held about one person as one JSON document, streamed.

Each section (apps/gdpr/registry.py) reads its rows with a server-side cursor in chunks and the
document is written as they come, so a person with 100,000 entries never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from django.utils import timezone

from apps.gdpr.registry import personal_data
from apps.gdpr.subject import Subject

FORMAT_VERSION = 1


def _dump(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def export_chunks(subject: Subject) -> Iterator[str]:
    header = {
        "format": FORMAT_VERSION,
        "exported_at": timezone.now(),
        "person_ids": sorted(subject.person_ids),
    }
    yield _dump(header)[:-1]  # the object stays open for the sections
    for section in personal_data():
        yield f",\n{_dump(section.key)}: ["
        first = True
        for row in section.rows(subject):
            yield ("\n" if first else ",\n") + _dump(row)
            first = False
        yield "]"
    yield "\n}\n"


def export_response(subject: Subject) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export_chunks(subject), content_type="application/json")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = (
        f'attachment; filename="person-{subject.primary_id}-{stamp}.json"'
    )
    return response


def summary(subject: Subject) -> list[dict[str, Any]]:
    """What is held, counted per section: what the purge's confirmation shows."""
    return [{"key": s.key, "label": s.label, "rows": s.count(subject)} for s in personal_data()]
