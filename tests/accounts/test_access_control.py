"""Every URL and API operation is closed to strangers; later routes are covered automatically."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config.api import api

# Pages anyone may open. Adding a public page means adding it here, on purpose.
PUBLIC_PAGES = {"healthz", "readyz", "account_login", "account_inactive", "favicon"}
# API operations that authenticate by other means (e.g. a signed webhook).
PUBLIC_OPERATIONS = {("post", "/api/v1/webhooks/zammad")}  # HMAC-signed; its own tests

SAMPLE_VALUES = {"int": "1", "str": "x", "slug": "x", "uuid": str(uuid.uuid4()), "path": "x"}


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield route, pattern


def _concrete(route: str) -> str:
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES[m.group(1) or "str"], route)
    return "/" + route.lstrip("^").rstrip("$").replace("\\", "")


PAGES = [
    pytest.param(_concrete(route), pattern.name, id=route or "/")
    for route, pattern in _walk(get_resolver().url_patterns)
    if not route.startswith("api/")
]


def _operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    ops = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            is_public = not operation.get("security")
            if is_public:
                assert (method, path) in PUBLIC_OPERATIONS, f"{method} {path} has no auth"
                continue
            ops.append((method.upper(), re.sub(r"\{\w+\}", "1", path)))
    return ops


OPERATIONS = [pytest.param(method, path, id=f"{method} {path}") for method, path in _operations()]
UNSAFE_OPERATIONS = [p for p in OPERATIONS if p.values[0] not in ("GET", "HEAD", "OPTIONS")]


def test_the_walk_finds_pages_and_operations() -> None:
    assert len(PAGES) >= 8
    assert len(OPERATIONS) >= 3


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "name"), PAGES)
def test_every_page_redirects_strangers_to_login(client: Client, url: str, name: str) -> None:
    response = client.get(url)
    if name in PUBLIC_PAGES:
        assert response.status_code in (200, 301, 503)  # 301: the favicon's static file
    else:
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "name"), PAGES)
def test_every_page_refuses_a_post_without_csrf_token(
    csrf_admin_client: Client, url: str, name: str
) -> None:
    response = csrf_admin_client.post(url, {"name": "x"})
    assert response.status_code == 403, url


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_api_operation_is_401_without_credentials(
    client: Client, method: str, path: str
) -> None:
    response = client.generic(method, path, "{}", content_type="application/json")
    assert response.status_code == 401, response.content
    assert "Authentication required" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_api_operation_is_401_with_a_wrong_key(
    client: Client, method: str, path: str
) -> None:
    response = client.generic(
        method, path, "{}", content_type="application/json",
        headers={"Authorization": "Bearer zks_deadbeef_not-a-real-key"},
    )  # fmt: skip
    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
def test_every_unsafe_api_operation_is_403_for_a_session_without_csrf(
    csrf_admin_client: Client, method: str, path: str
) -> None:
    response = csrf_admin_client.generic(method, path, "{}", content_type="application/json")
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_openapi_document_needs_credentials(client: Client, api_client: Client) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 401
    assert client.get("/api/v1/docs").status_code == 302
    assert api_client.get("/api/v1/openapi.json").status_code == 200
