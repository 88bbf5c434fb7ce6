-- Layer versions move only when rows change.
--
-- A statement-level trigger fires even when its statement changed no row (an UPDATE that
-- matched nothing, as a re-grade with nothing to change, every 300 s): that bumped the
-- version and dropped every tile cached for the layer. The transition table `changed` tells
-- whether a row was touched. Transition tables take one event per trigger, hence four.

CREATE OR REPLACE FUNCTION layer_versions_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR EXISTS (SELECT 1 FROM changed) THEN
        PERFORM bump_layer_versions(TG_TABLE_NAME::text);
    END IF;
    RETURN NULL;
END
$$;

-- A layer table added later gets the same triggers in its own migration.
CREATE OR REPLACE FUNCTION layer_version_triggers(layer_table text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS layer_version ON %I', layer_table);
    EXECUTE format('DROP TRIGGER IF EXISTS layer_version_insert ON %I', layer_table);
    EXECUTE format('DROP TRIGGER IF EXISTS layer_version_update ON %I', layer_table);
    EXECUTE format('DROP TRIGGER IF EXISTS layer_version_delete ON %I', layer_table);
    EXECUTE format('DROP TRIGGER IF EXISTS layer_version_truncate ON %I', layer_table);
    EXECUTE format('CREATE TRIGGER layer_version_insert AFTER INSERT ON %I '
                   'REFERENCING NEW TABLE AS changed FOR EACH STATEMENT '
                   'EXECUTE FUNCTION layer_versions_trigger()', layer_table);
    EXECUTE format('CREATE TRIGGER layer_version_update AFTER UPDATE ON %I '
                   'REFERENCING NEW TABLE AS changed FOR EACH STATEMENT '
                   'EXECUTE FUNCTION layer_versions_trigger()', layer_table);
    EXECUTE format('CREATE TRIGGER layer_version_delete AFTER DELETE ON %I '
                   'REFERENCING OLD TABLE AS changed FOR EACH STATEMENT '
                   'EXECUTE FUNCTION layer_versions_trigger()', layer_table);
    EXECUTE format('CREATE TRIGGER layer_version_truncate AFTER TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION layer_versions_trigger()', layer_table);
END
$$;

SELECT layer_version_triggers(t)
FROM unnest(ARRAY['districts', 'subdistricts', 'risk_units', 'monitoring_points', 'shelters',
                  'resources', 'hidden_dangers', 'alarms']) AS t;
