-- Data versions of the layers: one row per table or materialized view, bumped in the very
-- transaction that changes it, so a reader sees a new version exactly when it sees the new
-- data. The tile cache of the service keys its tiles on these versions, whichever process
-- made the change (the service, `onemap grade`, an import, psql).

CREATE TABLE layer_versions (
    name       text PRIMARY KEY,                 -- a table or materialized view
    version    bigint NOT NULL DEFAULT 0,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Bump the versions of the named relations (a row is made for a name not seen before), and
-- tell the listeners of channel `onemap_layer_versions` (delivered at commit, if any).
-- Materialized views have no triggers: whoever runs REFRESH MATERIALIZED VIEW calls this in
-- the same transaction.
CREATE FUNCTION bump_layer_versions(VARIADIC names text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    relation text;
BEGIN
    INSERT INTO layer_versions AS v (name)
    SELECT DISTINCT unnest(names)
    ON CONFLICT (name) DO UPDATE SET version = v.version + 1, changed_at = clock_timestamp();
    FOREACH relation IN ARRAY names LOOP
        PERFORM pg_notify('onemap_layer_versions', relation);
    END LOOP;
END
$$;

CREATE FUNCTION layer_versions_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bump_layer_versions(TG_TABLE_NAME::text);
    RETURN NULL;
END
$$;

-- Once per statement (a re-grade of 22,067 rows bumps once); TRUNCATE and COPY included.
-- A layer table added later gets the same trigger in its own migration.
DO $$
DECLARE
    layer_table text;
BEGIN
    FOREACH layer_table IN ARRAY ARRAY['districts', 'subdistricts', 'risk_units',
                                       'monitoring_points', 'shelters', 'resources',
                                       'hidden_dangers', 'alarms'] LOOP
        EXECUTE format('CREATE TRIGGER layer_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE '
                       'ON %I FOR EACH STATEMENT EXECUTE FUNCTION layer_versions_trigger()',
                       layer_table);
        PERFORM bump_layer_versions(layer_table);
    END LOOP;
END
$$;

SELECT bump_layer_versions('area_risk_districts', 'area_risk_subdistricts', 'area_risk_grid');
