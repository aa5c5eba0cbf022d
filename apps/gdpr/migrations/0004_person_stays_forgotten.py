from django.db import migrations

# A forgotten person stays forgotten whatever writes the row: a sync that read the list of
# forgotten people just before a purge committed could otherwise upsert the name and e-mail
# back (apps/mappings/reference.py skips forgotten rows, but only those it saw). PostgreSQL
# keeps their name, e-mail and username empty and purged_at set on every later UPDATE.
CREATE = """
CREATE OR REPLACE FUNCTION gdpr_person_stays_forgotten() RETURNS trigger AS $$
BEGIN
    IF OLD.purged_at IS NOT NULL THEN
        NEW.email := '';
        NEW.name := '';
        NEW.username := '';
        NEW.purged_at := OLD.purged_at;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER gdpr_person_stays_forgotten
    BEFORE UPDATE ON gdpr_person
    FOR EACH ROW EXECUTE FUNCTION gdpr_person_stays_forgotten();
"""
DROP = """
DROP TRIGGER IF EXISTS gdpr_person_stays_forgotten ON gdpr_person;
DROP FUNCTION IF EXISTS gdpr_person_stays_forgotten();
"""


class Migration(migrations.Migration):
    dependencies = [("gdpr", "0003_retention_policy")]

    operations = [migrations.RunSQL(CREATE, DROP)]
