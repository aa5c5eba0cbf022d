from __future__ import annotations

from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "apps.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        def restore_schedules(sender: AppConfig, **kw: object) -> None:
            # A new pair gets no schedule (the admin switches it on); pairs switched on get
            # theirs back if the schedule rows were lost.
            from apps.sync.schedules import restore_schedules as restore

            restore()

        post_migrate.connect(
            restore_schedules, sender=self, weak=False, dispatch_uid="sync-schedules"
        )

        from apps.core.signals import worker_check

        def interrupted_runs(sender: type, **kw: object) -> None:
            # A worker (re)started or beat: runs whose worker died are marked at once.
            from apps.sync.engine import mark_interrupted_runs

            mark_interrupted_runs()

        worker_check.connect(interrupted_runs, weak=False, dispatch_uid="sync-interrupted-runs")

        from apps.connectors.deletion import register_history
        from apps.sync.history import HISTORY

        for label, count in HISTORY.items():
            register_history(label, count)

        from apps.sync import privacy

        privacy.register()
