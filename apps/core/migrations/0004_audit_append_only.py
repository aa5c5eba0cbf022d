from __future__ import annotations

from django.db import migrations

# The audit trail is append-only: PostgreSQL itself refuses to change a row once written.
# Deleting stays possible for the retention job (old events) and for tests' transactions.
CREATE = """
CREATE OR REPLACE FUNCTION core_auditevent_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditevent_append_only
    BEFORE UPDATE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION core_auditevent_refuse_update();
"""
DROP = """
DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;
DROP FUNCTION IF EXISTS core_auditevent_refuse_update();
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0003_audit_event")]

    operations = [migrations.RunSQL(CREATE, DROP)]
