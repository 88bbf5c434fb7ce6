-- Area risk: the units' grades counted per district, sub-district and 2 km grid cell, with the
-- worst grade and a weighted index. Materialized views, refreshed by every grading run; the
-- weights per grade come from the grading rules (synced into area_weights by each run).

CREATE TABLE area_weights (
    grade  text PRIMARY KEY CHECK (grade IN ('red', 'orange', 'yellow', 'blue')),
    weight double precision NOT NULL CHECK (weight >= 0)
);
INSERT INTO area_weights VALUES ('red', 4), ('orange', 3), ('yellow', 2), ('blue', 1);

-- each unit counted once, at one representative point (the middle of a line, a point on a
-- polygon's surface): counts stay exact and every aggregation sums to the same total
CREATE VIEW risk_unit_points AS
SELECT u.id, u.grade, u.district_code,
       CASE GeometryType(u.geom)
           WHEN 'POINT' THEN u.geom
           WHEN 'LINESTRING' THEN ST_LineInterpolatePoint(u.geom, 0.5)
           ELSE ST_PointOnSurface(u.geom) END AS geom
FROM risk_units u;

CREATE MATERIALIZED VIEW area_risk_districts AS
SELECT d.code, d.name, d.name_en,
       count(u.id) FILTER (WHERE u.grade = 'red')    AS red,
       count(u.id) FILTER (WHERE u.grade = 'orange') AS orange,
       count(u.id) FILTER (WHERE u.grade = 'yellow') AS yellow,
       count(u.id) FILTER (WHERE u.grade = 'blue')   AS blue,
       count(u.id) AS total,
       (ARRAY['blue', 'yellow', 'orange', 'red'])[max(array_position(ARRAY['blue', 'yellow', 'orange', 'red'], u.grade))] AS worst_grade,
       coalesce(sum(w.weight), 0) AS weighted_score,
       d.area_km2,
       coalesce(sum(w.weight), 0) / nullif(d.area_km2, 0) AS risk_index,
       d.geom
FROM districts d
LEFT JOIN risk_units u ON u.district_code = d.code
LEFT JOIN area_weights w ON w.grade = u.grade
GROUP BY d.code;
CREATE UNIQUE INDEX area_risk_districts_code ON area_risk_districts (code);
CREATE INDEX area_risk_districts_geom ON area_risk_districts USING gist (geom);

CREATE MATERIALIZED VIEW area_risk_subdistricts AS
WITH placed AS (
    -- the sub-district of the unit's own district that holds its point, or the nearest one
    -- (sub-district edges need not match the district's to the millimetre)
    SELECT p.id, p.grade, s.code
    FROM risk_unit_points p
    CROSS JOIN LATERAL (
        SELECT s.code FROM subdistricts s
        WHERE s.district_code = p.district_code
        ORDER BY s.geom <-> p.geom LIMIT 1) s
),
counted AS (
    SELECT pl.code,
           count(*) FILTER (WHERE pl.grade = 'red')    AS red,
           count(*) FILTER (WHERE pl.grade = 'orange') AS orange,
           count(*) FILTER (WHERE pl.grade = 'yellow') AS yellow,
           count(*) FILTER (WHERE pl.grade = 'blue')   AS blue,
           count(*) AS total,
           max(array_position(ARRAY['blue', 'yellow', 'orange', 'red'], pl.grade)) AS worst,
           coalesce(sum(w.weight), 0) AS weighted_score
    FROM placed pl LEFT JOIN area_weights w ON w.grade = pl.grade
    GROUP BY pl.code
),
measured AS (
    SELECT s.code, s.name, s.district_code, s.geom,
           ST_Area(ST_Transform(s.geom, 4545)) / 1e6 AS area_km2
    FROM subdistricts s
)
SELECT m.code, m.name, m.district_code,
       coalesce(c.red, 0) AS red, coalesce(c.orange, 0) AS orange,
       coalesce(c.yellow, 0) AS yellow, coalesce(c.blue, 0) AS blue,
       coalesce(c.total, 0) AS total,
       (ARRAY['blue', 'yellow', 'orange', 'red'])[c.worst] AS worst_grade,
       coalesce(c.weighted_score, 0) AS weighted_score,
       m.area_km2,
       coalesce(c.weighted_score, 0) / nullif(m.area_km2, 0) AS risk_index,
       m.geom
FROM measured m LEFT JOIN counted c ON c.code = m.code;
CREATE UNIQUE INDEX area_risk_subdistricts_code ON area_risk_subdistricts (code);
CREATE INDEX area_risk_subdistricts_geom ON area_risk_subdistricts USING gist (geom);

-- 2 km square cells of CGCS2000 / 3-degree Gauss-Krüger CM 108E (EPSG:4545), only where
-- units are; the id names the cell by its lower-left corner in km
CREATE MATERIALIZED VIEW area_risk_grid AS
WITH located AS (
    SELECT p.id, p.grade, ST_Transform(p.geom, 4545) AS g FROM risk_unit_points p
),
cells AS (
    SELECT l.id, l.grade, floor(ST_X(l.g) / 2000)::int AS i, floor(ST_Y(l.g) / 2000)::int AS j
    FROM located l
)
SELECT format('%s_%s', c.i * 2, c.j * 2) AS id,
       count(*) FILTER (WHERE c.grade = 'red')    AS red,
       count(*) FILTER (WHERE c.grade = 'orange') AS orange,
       count(*) FILTER (WHERE c.grade = 'yellow') AS yellow,
       count(*) FILTER (WHERE c.grade = 'blue')   AS blue,
       count(*) AS total,
       (ARRAY['blue', 'yellow', 'orange', 'red'])[max(array_position(ARRAY['blue', 'yellow', 'orange', 'red'], c.grade))] AS worst_grade,
       coalesce(sum(w.weight), 0) AS weighted_score,
       4.0 AS area_km2,
       coalesce(sum(w.weight), 0) / 4.0 AS risk_index,
       ST_Transform(ST_MakeEnvelope(c.i * 2000, c.j * 2000, (c.i + 1) * 2000, (c.j + 1) * 2000, 4545), 4326)::geometry(Polygon, 4326) AS geom
FROM cells c LEFT JOIN area_weights w ON w.grade = c.grade
GROUP BY c.i, c.j;
CREATE UNIQUE INDEX area_risk_grid_id ON area_risk_grid (id);
CREATE INDEX area_risk_grid_geom ON area_risk_grid USING gist (geom);
