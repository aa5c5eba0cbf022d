from __future__ import annotations

from django.apps import AppConfig


class MappingsConfig(AppConfig):
    name = "apps.mappings"
    label = "mappings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.mappings import privacy

        privacy.register()
