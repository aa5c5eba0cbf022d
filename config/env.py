"""Typed access to environment variables for settings.

Every helper raises ``ImproperlyConfigured`` naming the variable when its value
cannot be used, so a typo in a deployment fails at start-up, not at 3 a.m.
``env_secret`` also reads ``<NAME>_FILE`` (Docker secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"0", "false", "no", "off", ""})


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    source = os.environ if environ is None else environ
    return source.get(name, default)


def env_bool(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    source = os.environ if environ is None else environ
    if name not in source:
        return default
    value = source[name].strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {source[name]!r}"
    )


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    minimum: int | None = None,
) -> int:
    source = os.environ if environ is None else environ
    if name not in source or source[name].strip() == "":
        return default
    try:
        value = int(source[name].strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {source[name]!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> list[str]:
    raw = env_str(name, default, environ)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """Read NAME, or the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    source = os.environ if environ is None else environ
    file_var = f"{name}_FILE"
    if source.get(file_var):
        if source.get(name):
            raise ImproperlyConfigured(f"Set either {name} or {file_var}, not both")
        path = Path(source[file_var])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{file_var} points at an unreadable file: {exc}") from None
    return source.get(name, default)
