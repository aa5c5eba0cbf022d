from __future__ import annotations

from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "apps.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from apps.mappings.models import MappingProfile

        def schedule_new_pair(
            sender: type, instance: MappingProfile, created: bool, **kw: object
        ) -> None:
            if created and not kw.get("raw"):
                from apps.sync.schedules import ensure_default_schedule

                ensure_default_schedule(instance.pk)

        post_save.connect(
            schedule_new_pair,
            sender=MappingProfile,
            weak=False,
            dispatch_uid="sync-default-schedule",
        )
