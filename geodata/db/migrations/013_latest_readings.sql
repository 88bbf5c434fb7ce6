-- The latest reading of each monitoring point in a narrow table of its own, and a revision
-- number of what the ingest needs to know of the points.
--
-- Every batch of readings writes the latest value of thousands of points. On a row of
-- monitoring_points (name, geometry, thresholds, …) one such update took 5-7 µs; on a narrow
-- row about 2 µs (bench/README.md, "Readings in"). The map reads the points with their
-- latest reading through the view monitoring_points_now: one place holds each fact.
CREATE TABLE monitoring_latest (
    monitoring_point_id bigint PRIMARY KEY REFERENCES monitoring_points (id) ON DELETE CASCADE,
    ts                  timestamptz,          -- the latest reading (NULL: none yet)
    value               double precision,
    -- the latest reading before the batch that brought this one: the ingest gets it back from
    -- the same update (RETURNING gives only new values), for the rules that compare a reading
    -- with the one before it
    before_ts           timestamptz,
    before_value        double precision
) WITH (fillfactor = 50);  -- room on each page, so the updates stay HOT

COMMENT ON TABLE monitoring_latest IS
    'The newest reading of each monitoring point (one row per point, written with every '
    'batch of readings).';

INSERT INTO monitoring_latest (monitoring_point_id, ts, value)
SELECT id, last_reading_at, last_value FROM monitoring_points;

-- Every point has its row from the start, so a batch only ever updates.
CREATE FUNCTION monitoring_latest_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO monitoring_latest (monitoring_point_id) SELECT id FROM added
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER latest_rows AFTER INSERT ON monitoring_points REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_latest_rows();

ALTER TABLE monitoring_points DROP COLUMN last_value, DROP COLUMN last_reading_at;

-- The points with their latest reading, as the map and the features show them.
CREATE VIEW monitoring_points_now AS
SELECT p.*, l.value AS last_value, l.ts AS last_reading_at
FROM monitoring_points p LEFT JOIN monitoring_latest l ON l.monitoring_point_id = p.id;

-- Grades are all that is still updated on the points: they need no room on their pages.
ALTER TABLE monitoring_points RESET (fillfactor);
CLUSTER monitoring_points USING monitoring_points_pkey;
ANALYZE monitoring_points;
ANALYZE monitoring_latest;

-- What the ingest keeps of the points in memory (code, kind and range, thresholds, link to a
-- risk unit) is good while this revision stands; each batch reads it in its transaction.
-- A table, not a sequence: the new revision must be seen only with the change it counts.
CREATE TABLE monitoring_points_revision (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    revision bigint NOT NULL
);
INSERT INTO monitoring_points_revision (revision) VALUES (1);

CREATE FUNCTION monitoring_points_revise() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE monitoring_points_revision SET revision = revision + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER revise_on_insert_delete AFTER INSERT OR DELETE OR TRUNCATE ON monitoring_points
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_points_revise();
CREATE TRIGGER revise_on_update AFTER UPDATE OF id, code, kind, risk_unit_id, threshold_blue,
    threshold_yellow, threshold_orange, threshold_red ON monitoring_points
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_points_revise();
CREATE TRIGGER revise_on_kinds AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON monitoring_kinds
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_points_revise();
