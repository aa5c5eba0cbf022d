"""No input gets a 500: every bad value is a 4xx with a message, and nothing is written."""

from __future__ import annotations

import json

import pytest
from django.db import DataError, IntegrityError
from django.test import Client, RequestFactory, override_settings

from apps.connectors.models import Connection
from config.api import api

HUGE = str(2**63)
HUGER = "1" + "0" * 30


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/sync/runs?offset={HUGE}",
        f"/api/v1/sync/runs?limit={HUGER}",
        f"/api/v1/conflicts?offset={HUGER}",
        f"/api/v1/audit?offset={HUGE}",
        f"/api/v1/audit?limit={HUGE}",
        f"/api/v1/sync/runs/1?items_offset={HUGE}",
        f"/api/v1/connections/{HUGER}",
        f"/api/v1/conflicts?agent={HUGE}",
        f"/api/v1/mappings/rules?source={HUGE}",
    ],
)
def test_numbers_beyond_64_bits_are_a_422_with_a_message(api_client: Client, url: str) -> None:
    response = api_client.get(url)
    assert response.status_code == 422
    assert response.json()["detail"] == "Invalid request."
    assert response.json()["errors"][0]["loc"][0] in ("query", "path")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "0001-01-01T00:30:00+01:00"],
)
def test_times_that_leave_the_calendar_in_utc_are_a_422(api_client: Client, instant: str) -> None:
    for url in ("/api/v1/conflicts", "/api/v1/audit"):
        response = api_client.get(url, {"since": instant, "until": instant})
        assert response.status_code == 422, url
        assert "out of range" in json.dumps(response.json())


@pytest.mark.django_db
def test_extreme_but_valid_times_are_answered(api_client: Client) -> None:
    response = api_client.get(
        "/api/v1/audit", {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_nul_byte_in_a_query_parameter_is_a_400_with_a_message(api_client: Client) -> None:
    response = api_client.get("/api/v1/conflicts", {"kind": "a\x00b"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The parameter 'kind' contains a NUL character (\\u0000), which text cannot hold."
    }


@pytest.mark.django_db
def test_a_nul_byte_in_a_connection_name_is_a_400_and_nothing_is_saved(api_client: Client) -> None:
    body = {"kind": "zammad", "name": "Help\u0000desk", "base_url": "http://127.0.0.1:9",
            "token": "t"}  # fmt: skip
    response = api_client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 400
    assert "NUL character" in response.json()["detail"]
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_400_that_says_so(api_client: Client) -> None:
    response = api_client.post("/api/v1/connections", b"{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The request body is not JSON")


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_limit_is_a_413_in_json(api_client: Client) -> None:
    body = json.dumps({"kind": "zammad", "name": "x" * 2000})
    response = api_client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the limit."}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    ["zks_äöü_ßß", "Bearer-\u2603", "zks_\u00e9\u00e9_x", "zks_\x00a_b", "zks_" + "a" * 300 + "_b"],
)
def test_a_non_ascii_or_malformed_api_key_is_a_401(client: Client, token: str) -> None:
    response = client.get("/api/v1/connections", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert "Authentication required" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["zks_ü_ü", "zks_\x00_b"])
def test_a_malformed_api_key_is_a_401_for_the_document_too(client: Client, token: str) -> None:
    response = client.get("/api/v1/openapi.json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (IntegrityError("duplicate key"), 409, "The change collides with data that exists."),
        (DataError("bigint out of range"), 422,
         "A value is out of the range this service can store."),
        (OverflowError("date value out of range"), 422,
         "A value is out of the range this service can handle."),
    ],
)  # fmt: skip
def test_database_refusals_that_slip_through_are_4xx_in_every_operation(
    rf: RequestFactory, error: Exception, status: int, detail: str
) -> None:
    """The safety net under the input types: one handler for all operations, current and new."""
    response = api.on_exception(rf.get("/api/v1/anything"), error)
    assert response.status_code == status
    assert json.loads(response.content) == {"detail": detail}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/sync/conflicts/?agent=%00", "/sync/audit/?actor=a%00b"])
def test_a_nul_byte_in_a_page_filter_is_a_400_with_a_message(
    admin_client: Client, url: str
) -> None:
    response = admin_client.get(url)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["tök€n", "tab\there", "\ud80c\udc00"])
def test_a_connector_token_that_cannot_travel_in_a_header_is_a_422(
    api_client: Client, token: str
) -> None:
    body = {"kind": "zammad", "name": "Z", "base_url": "http://127.0.0.1:9", "token": token}
    response = api_client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"]["token"] == [
        "A token has only ASCII letters, digits and punctuation: check for a stray character"
    ]
    assert not Connection.objects.exists()
