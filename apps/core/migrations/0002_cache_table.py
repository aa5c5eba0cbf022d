from __future__ import annotations

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps: object, schema_editor: object) -> None:
    # The database cache (settings.CACHES) is shared by web and worker processes; creating its
    # table in a migration keeps "migrate" the only step a deployment (and the tests) need.
    call_command("createcachetable", verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
