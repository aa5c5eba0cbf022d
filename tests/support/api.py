"""Calling the JSON API from tests."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client


def call_json(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """``method`` on ``path`` with ``body`` as JSON; the status and the decoded answer."""
    response = client.generic(
        method, path, json.dumps(body) if body is not None else "", content_type="application/json"
    )
    return response.status_code, response.json() if response.content else None
