from __future__ import annotations

from django.apps import AppConfig


class GdprConfig(AppConfig):
    name = "apps.gdpr"
    label = "gdpr"
    default_auto_field = "django.db.models.BigAutoField"
