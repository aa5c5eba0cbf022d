from __future__ import annotations

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.connectors import privacy
        from apps.connectors.health import check_connector_kinds
        from apps.core.health import register_check

        register_check("connectors", check_connector_kinds)
        privacy.register()
