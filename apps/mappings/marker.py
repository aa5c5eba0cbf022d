"""The marker that identifies a source entry's timesheet in Kimai: ``zks-<source>-<entry>-z``."""

from __future__ import annotations

import re

from apps.connectors.base import validate_marker
from apps.connectors.entry import TimeEntry

# Letters, digits and hyphens only: Kimai's `term` search splits on whitespace, reads `a:b` as a
# meta-field search and `%`/`_` as wildcards (kimai-api.md §5). The closing "-z" makes sure no
# marker is a substring of another ("zks-1-42-z" is not inside "zks-1-421-z"): ids hold no "-".
MARKER_RE = re.compile(r"(?<![A-Za-z0-9-])zks-(\d+)-([A-Za-z0-9]+)-z(?![A-Za-z0-9-])")


def _encode_id(external_id: str) -> str:
    # Ids that are plain letters and digits stay readable; anything else (and anything starting
    # with "x", so decoding stays unambiguous) becomes "x" + hex of its UTF-8 bytes.
    # (Checked with str methods: a regular expression here cost more than the marker's f-string.)
    if external_id.isascii() and external_id.isalnum() and not external_id.startswith("x"):
        return external_id
    return "x" + external_id.encode().hex()


def _decode_id(encoded: str) -> str | None:
    if not encoded.startswith("x"):
        return encoded
    try:
        return bytes.fromhex(encoded[1:]).decode()
    except ValueError:
        return None


def marker_for(entry: TimeEntry) -> str:
    """``zks-<source connection id>-<entry id>-z``: what finds the timesheet again in Kimai."""
    return validate_marker(f"zks-{entry.connection_id or 0}-{_encode_id(entry.external_id)}-z")


def parse_marker(text: str) -> tuple[int, str] | None:
    """The (source connection id, entry id) of the first marker in ``text``, or None."""
    match = MARKER_RE.search(text or "")
    if match is None:
        return None
    external_id = _decode_id(match.group(2))
    return None if external_id is None else (int(match.group(1)), external_id)
