"""Every change of metric_thresholds bumps config_version, whoever makes it.

A statement-level trigger (rather than model save()/signals) so that admin bulk actions,
queryset.update()/delete(), shell sessions and raw SQL all count as changes.
"""

from django.db import migrations

CREATE = """
INSERT INTO config_version (id, version, changed_at) VALUES (1, 1, now()) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION bump_config_version() RETURNS trigger AS $$
BEGIN
    -- An upsert, so the counter survives a flush/truncate of config_version itself.
    INSERT INTO config_version (id, version, changed_at) VALUES (1, 2, now())
    ON CONFLICT (id) DO UPDATE SET version = config_version.version + 1, changed_at = now();
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS metric_thresholds_bump_version ON metric_thresholds;
CREATE TRIGGER metric_thresholds_bump_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON metric_thresholds
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
"""

DROP = """
DROP TRIGGER IF EXISTS metric_thresholds_bump_version ON metric_thresholds;
DROP FUNCTION IF EXISTS bump_config_version();
"""


class Migration(migrations.Migration):
    dependencies = [("config_app", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
