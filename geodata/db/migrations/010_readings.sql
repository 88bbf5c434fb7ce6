-- Readings of the lifeline monitoring points: one row per (point, time), partitioned by day.
--
-- Daily partitions (UTC days) keep every insert in a small, hot table and make retention a
-- DROP TABLE instead of a DELETE. The primary key (point, ts) makes a repeated reading a
-- duplicate, so clients retry a batch safely (INSERT … ON CONFLICT DO NOTHING).
--
-- No foreign key to monitoring_points: measured on this kind of machine, a foreign key costs
-- 40–55% of the ingest rate (shared/NOTES.md, "Ingesting readings"); the service resolves
-- every point before it stores a reading, and a deleted point's readings simply age out.
-- monitoring_points already holds last_value and last_reading_at (001): the latest reading.

CREATE TABLE readings (
    monitoring_point_id bigint NOT NULL,
    ts                  timestamptz NOT NULL,
    value               double precision NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (monitoring_point_id, ts)
) PARTITION BY RANGE (ts);

COMMENT ON TABLE readings IS
    'Monitoring readings, one partition per UTC day (readings_YYYYMMDD); no FK to '
    'monitoring_points on purpose (40-55% of the ingest rate).';

-- The partitions of `days` UTC days from `first_day` that do not exist yet are made;
-- returns how many were made. An advisory lock serialises concurrent callers (two batches
-- of the same new day), so neither fails on the other's partition.
CREATE FUNCTION readings_ensure_partitions(first_day date, days integer DEFAULT 1)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    parent_schema text := (SELECT relnamespace::regnamespace::text FROM pg_class
                           WHERE oid = 'readings'::regclass);
    day  date;
    made integer := 0;
BEGIN
    IF days IS NULL OR days < 1 THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('onemap readings partitions'));
    FOR day IN SELECT generate_series(first_day, first_day + (days - 1), interval '1 day')::date
    LOOP
        IF to_regclass(format('%I.%I', parent_schema, 'readings_' || to_char(day, 'YYYYMMDD')))
           IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                           parent_schema, 'readings_' || to_char(day, 'YYYYMMDD'),
                           day::timestamp AT TIME ZONE 'UTC',
                           (day + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$$;

-- Drops the daily partitions whose whole day lies more than `keep_days` before today (UTC);
-- returns how many were dropped.
CREATE FUNCTION readings_drop_partitions(keep_days integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    cutoff  date := (now() AT TIME ZONE 'UTC')::date - keep_days;
    part    regclass;
    dropped integer := 0;
BEGIN
    IF keep_days IS NULL OR keep_days < 0 THEN
        RAISE EXCEPTION 'keep_days must be 0 or more, not %', keep_days;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('onemap readings partitions'));
    FOR part IN
        SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'readings'::regclass
          AND c.relname ~ '^readings_[0-9]{8}$'
          AND to_date(substr(c.relname, 10), 'YYYYMMDD') < cutoff
    LOOP
        EXECUTE format('DROP TABLE %s', part);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;

-- A week ahead from yesterday; the service makes any other day a batch needs.
SELECT readings_ensure_partitions((now() AT TIME ZONE 'UTC')::date - 1, 8);
