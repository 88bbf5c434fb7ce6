-- Alarms from readings: what raised each alarm and where it stands, one alarm not closed per
-- point, every change kept in alarm_history, and a notice to the service at each change.

-- The thresholds of a kind now live with the other alarm rules, in layers/rules/alarms.toml
-- (grades, rises, hysteresis, quiet period, each with its source). A point's own thresholds
-- stay on monitoring_points.
ALTER TABLE monitoring_kinds
    DROP COLUMN direction,
    DROP COLUMN threshold_blue,
    DROP COLUMN threshold_yellow,
    DROP COLUMN threshold_orange,
    DROP COLUMN threshold_red,
    DROP COLUMN source;

ALTER TABLE alarms
    ADD COLUMN kind           text,             -- the point's kind when it was raised
    ADD COLUMN reason         text,             -- why it has its grade (the last raise)
    ADD COLUMN reading_at     timestamptz,      -- the reading that opened it
    ADD COLUMN peak_value     double precision, -- the worst reading while it was not closed
    ADD COLUMN last_breach_at timestamptz,      -- the last reading that was not clear
    ADD COLUMN cleared_at     timestamptz,      -- the first clear reading since then (quiet period)
    ADD COLUMN escalated_at   timestamptz,
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();

DROP INDEX alarms_point_active_idx;
CREATE UNIQUE INDEX alarms_one_active_per_point ON alarms (monitoring_point_id)
    WHERE state <> 'closed';
CREATE INDEX alarms_state_idx ON alarms (state, raised_at);

-- Every change of an alarm: who or what did it, when, to which grade and state.
CREATE TABLE alarm_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id   bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    event      text NOT NULL CHECK (event IN ('opened', 'escalated', 'acknowledged', 'closed')),
    grade      text NOT NULL CHECK (grade IN ('red', 'orange', 'yellow', 'blue')),
    grade_from text CHECK (grade_from IN ('red', 'orange', 'yellow', 'blue')),
    state      text NOT NULL CHECK (state IN ('open', 'acknowledged', 'closed')),
    actor      text NOT NULL,                   -- 'rules', 'quiet period' or a token's name
    value      double precision,
    reading_at timestamptz,
    reason     text,
    note       text
);
CREATE INDEX alarm_history_alarm_idx ON alarm_history (alarm_id, id);

-- One notice per statement, carrying the newest history id: the service reads the events
-- after the last one it has seen, so a burst of alarms is one notice and none is missed.
CREATE FUNCTION alarm_history_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    SELECT max(id) INTO newest FROM added;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('onemap_alarms', newest::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER alarm_history_notify AFTER INSERT ON alarm_history
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION alarm_history_notify();

-- Writing only the latest reading of points (and how an alarm's readings go) changes nothing
-- a map shows: a transaction that says so with `SET LOCAL onemap.latest_only = on` leaves
-- the layer versions alone, so live readings do not empty the tile caches.
CREATE OR REPLACE FUNCTION layer_versions_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('onemap.latest_only', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' OR EXISTS (SELECT 1 FROM changed) THEN
        PERFORM bump_layer_versions(TG_TABLE_NAME::text);
    END IF;
    RETURN NULL;
END
$$;
