from __future__ import annotations

import json
import logging

import pytest
import structlog
from django.test import Client

from config.logging import build_logging_config, redact_text


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> object:
    build_logging_config(json_output=True)
    yield capsys
    build_logging_config(json_output=False)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]


@pytest.mark.django_db
def test_each_request_logs_one_json_line_with_request_id_and_duration(
    json_logs: pytest.CaptureFixture[str], client: Client
) -> None:
    response = client.get("/accounts/login/", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"
    lines = [line for line in _lines(json_logs) if line.get("event") == "request"]
    assert lines[-1]["request_id"] == "abc-123"
    assert lines[-1]["method"] == "GET"
    assert lines[-1]["path"] == "/accounts/login/"
    assert lines[-1]["status"] == 200
    assert isinstance(lines[-1]["duration_ms"], float)


def test_secrets_are_redacted_by_key_and_by_pattern(json_logs: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("t").info(
        "calling Kimai", token="tok-123", url="https://u:pw@kimai.example/api",
        detail="Authorization: Bearer abcdef123 failed",
    )  # fmt: skip
    logging.getLogger("plain").warning("header was Token token=zammad-secret-1")
    out = json.dumps(_lines(json_logs))
    for secret in ("tok-123", "pw@", "abcdef123", "zammad-secret-1"):
        assert secret not in out
    assert "[redacted]" in out


def test_an_untrusted_request_id_is_replaced(client: Client) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "evil\nid with spaces"})
    assert response["X-Request-ID"] != "evil\nid with spaces"
    assert len(response["X-Request-ID"]) == 32


def test_redact_text_keeps_harmless_text() -> None:
    assert redact_text("synced 3 entries") == "synced 3 entries"
