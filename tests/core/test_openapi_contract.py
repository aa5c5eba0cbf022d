"""The OpenAPI document tells the truth: valid, unique names, every error answer documented.

These tests walk the whole document, so they cover every operation any app adds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.test import Client
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from apps.core.api_errors import STANDARD_ERRORS
from config.api import api

UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture
def document(api_client: Client) -> dict[str, Any]:
    response = api_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _expected_errors(method: str, operation: dict[str, Any]) -> set[int]:
    parameters = operation.get("parameters", [])
    expected = set()
    if parameters or "requestBody" in operation:
        expected |= {400, 422}
    if operation.get("security"):
        expected |= {401, 403}
    if any(p["in"] == "path" for p in parameters):
        expected.add(404)
    if method in UNSAFE:
        expected.add(409)
    if "requestBody" in operation:
        expected.add(413)
    if any(p["in"] == "query" for p in parameters):
        expected.add(414)  # gunicorn's, for a request line over 4,094 bytes
    return expected


@pytest.mark.django_db
def test_the_document_is_valid_openapi_with_valid_json_schemas(document: dict[str, Any]) -> None:
    schemathesis.openapi.from_dict(document).validate()
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.django_db
def test_every_operation_documents_the_errors_it_can_give(document: dict[str, Any]) -> None:
    missing = {
        f"{method.upper()} {path}": sorted(
            _expected_errors(method, op) - {int(code) for code in op["responses"]}
        )
        for path, method, op in _operations(document)
    }
    assert {name: codes for name, codes in missing.items() if codes} == {}


@pytest.mark.django_db
def test_every_error_answer_is_json_with_a_detail(document: dict[str, Any]) -> None:
    wrong = []
    for path, method, operation in _operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400 or code == "414":  # 414 is the web server's page, not the app's
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            variants = (schema or {}).get("anyOf", [schema])
            resolved = [_resolve(document, v) for v in variants if v]
            if not resolved or any("detail" not in v.get("required", []) for v in resolved):
                wrong.append(f"{method.upper()} {path} {code}")
    assert wrong == []


@pytest.mark.django_db
def test_refusals_document_their_reason_and_validation_errors_alike(
    document: dict[str, Any],
) -> None:
    for path in ("/api/v1/conflicts/resolve", "/api/v1/conflicts/{conflict_id}/resolve"):
        schema = document["paths"][path]["post"]["responses"]["422"]["content"]
        refs = {v["$ref"].rsplit("/", 1)[1] for v in schema["application/json"]["schema"]["anyOf"]}
        assert refs == {"RefusalOut", "ValidationErrorOut"}
    assert "reason" in document["components"]["schemas"]["RefusalOut"]["required"]


@pytest.mark.django_db
def test_the_audit_export_documents_json_and_csv(document: dict[str, Any]) -> None:
    content = document["paths"]["/api/v1/audit"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    variants = content["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/AuditPageOut"} in variants
    assert {"items": {"$ref": "#/components/schemas/AuditExportOut"}, "type": "array"} in variants


@pytest.mark.django_db
def test_status_documents_readiness_checks_not_connection_checks(document: dict[str, Any]) -> None:
    status = document["components"]["schemas"]["StatusOut"]["properties"]["checks"]
    assert status["items"] == {"$ref": "#/components/schemas/ReadinessCheckOut"}


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation)
    for argument in getattr(annotation, "__args__", ()):
        yield from _models(argument)


def test_no_two_schemas_share_a_name() -> None:
    """OpenAPI components are named after classes: two classes with one name overwrite."""
    by_name: dict[str, set[str]] = defaultdict(set)
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                roots = list(operation.response_models.values())
                roots += list(operation.models)
                for root in roots:
                    for model in _models(root):
                        by_name[model.__name__].add(f"{model.__module__}.{model.__qualname__}")
    ignored = {"NinjaResponseSchema"}  # ninja's wrapper, never a component of its own
    shared = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert {name: paths for name, paths in shared.items() if name not in ignored} == {}


def test_standard_errors_say_why() -> None:
    assert set(STANDARD_ERRORS) == {400, 401, 403, 404, 409, 413, 422}


@pytest.mark.django_db
def test_an_over_long_query_is_documented_as_the_web_servers_html_page(
    document: dict[str, Any],
) -> None:
    """gunicorn refuses a request line over 4,094 bytes with 414 and a page of its own, before
    the app; schemathesis found it with a query parameter repeated many times."""
    patch = document["paths"]["/api/v1/mappings/settings"]["patch"]
    assert patch["responses"]["414"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    with_query = [op for _, _, op in _operations(document) if any(
        p["in"] == "query" for p in op.get("parameters", []))]  # fmt: skip
    assert with_query and all("414" in op["responses"] for op in with_query)
