from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class SingleAdminAccountAdapter(DefaultAccountAdapter):
    """V1 has one admin, created by `manage.py createadmin` or on first start: no sign-up."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
