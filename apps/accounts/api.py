from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from apps.accounts.models import ApiKey
from apps.core.api_types import Id

router = Router(tags=["API keys"])


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@router.get("/api-keys", response=list[ApiKeyOut], summary="List API keys (never the keys)")
def list_api_keys(request: HttpRequest) -> list[ApiKey]:
    return list(ApiKey.objects.all())


@router.post("/api-keys/{key_id}/revoke", response=ApiKeyOut, summary="Revoke an API key for good")
def revoke_api_key(request: HttpRequest, key_id: Id) -> ApiKey:
    key = get_object_or_404(ApiKey, pk=key_id)
    key.revoke()
    return key
