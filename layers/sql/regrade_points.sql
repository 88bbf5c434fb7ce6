-- A monitoring point's grade is the grade of its worst active alarm (NULL: none).
WITH worst AS (
    SELECT monitoring_point_id AS id,
           max(array_position(ARRAY['blue', 'yellow', 'orange', 'red'], grade)) AS rank
    FROM alarms WHERE state = ANY (%(alarm_states)s)
    GROUP BY monitoring_point_id
),
target AS (
    SELECT p.id, (ARRAY['blue', 'yellow', 'orange', 'red'])[w.rank] AS grade
    FROM monitoring_points p LEFT JOIN worst w ON w.id = p.id
)
UPDATE monitoring_points p SET grade = t.grade
FROM target t
WHERE p.id = t.id AND p.grade IS DISTINCT FROM t.grade
