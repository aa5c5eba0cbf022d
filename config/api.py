"""The public API: Django Ninja at /api/v1/ (OpenAPI at /api/v1/openapi.json, docs at /docs)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from apps.accounts.api import router as accounts_router
from apps.accounts.auth import API_AUTH, require_admin_or_api_key
from apps.connectors.api import router as connectors_router
from apps.connectors.registry import UnknownConnectorKind
from apps.connectors.services import ConnectionInvalid
from apps.core.api import router as core_router
from apps.core.api_errors import StrictParser, document_standard_errors, install_error_handlers
from apps.gdpr.api import router as gdpr_router
from apps.mappings.api import router as mappings_router
from apps.mappings.lookups import PreviewUnavailable
from apps.mappings.preview_api import router as mappings_preview_router
from apps.mappings.services import MappingInvalid, NotConfigured
from apps.sync.api import audit_router, conflicts_router
from apps.sync.api import router as sync_router
from apps.sync.webhook_api import webhooks_router


class DocumentedNinjaAPI(NinjaAPI):
    """The document also lists the errors every operation can give (apps/core/api_errors.py)."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> OpenAPISchema:
        document = super().get_openapi_schema(*args, **kwargs)
        document_standard_errors(document)
        return document


api = DocumentedNinjaAPI(
    title="Zammad → Kimai Sync",
    version=settings.APP_VERSION,
    description=(
        "Sync Zammad time accountings into Kimai timesheets. Authenticate with "
        "`Authorization: Bearer <API key>` or the admin's session (with `X-CSRFToken`)."
    ),
    auth=API_AUTH,
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs_decorator=require_admin_or_api_key,
    parser=StrictParser(),
)
install_error_handlers(api)


@api.exception_handler(ConnectionInvalid)
def on_connection_invalid(request: HttpRequest, exc: ConnectionInvalid) -> HttpResponse:
    body = {
        "detail": "The connection was not saved: " + str(exc),
        "errors": exc.errors,
        "check": exc.report.as_dict() if exc.report else None,
    }
    return api.create_response(request, body, status=422)


@api.exception_handler(UnknownConnectorKind)
def on_kind_not_installed(request: HttpRequest, exc: UnknownConnectorKind) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=409)


@api.exception_handler(MappingInvalid)
def on_mapping_invalid(request: HttpRequest, exc: MappingInvalid) -> HttpResponse:
    body = {"detail": "Nothing was saved: " + str(exc), "errors": exc.errors}
    return api.create_response(request, body, status=422)


@api.exception_handler(NotConfigured)
def on_mappings_not_configured(request: HttpRequest, exc: NotConfigured) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(PreviewUnavailable)
def on_preview_unavailable(request: HttpRequest, exc: PreviewUnavailable) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=exc.status)


api.add_router("/", core_router)
api.add_router("/", accounts_router)
api.add_router("/", connectors_router)
api.add_router("/", webhooks_router)
api.add_router("/", mappings_router)
api.add_router("/", mappings_preview_router)
api.add_router("/", sync_router)
api.add_router("/", conflicts_router)
api.add_router("/", audit_router)
api.add_router("/", gdpr_router)
