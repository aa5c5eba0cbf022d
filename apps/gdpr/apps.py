from __future__ import annotations

from django.apps import AppConfig


class GdprConfig(AppConfig):
    name = "apps.gdpr"
    label = "gdpr"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.gdpr import sections

        sections.register()

        def schedule_retention(sender: AppConfig, **kw: object) -> None:
            from apps.gdpr.retention import ensure_schedule

            ensure_schedule()

        post_migrate.connect(
            schedule_retention, sender=self, weak=False, dispatch_uid="gdpr-retention-schedule"
        )
