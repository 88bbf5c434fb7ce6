-- Grade every risk unit in one set-based statement: method grade, floors, escalations,
-- override; store the grade with its explanation where anything changed, and write the
-- audit history of every change of grade. Parameters come from layers/rules/grading.toml.
WITH grades AS (
    SELECT ARRAY['blue', 'yellow', 'orange', 'red'] AS en, ARRAY['蓝', '黄', '橙', '红'] AS zh
),
active_override AS (
    SELECT DISTINCT ON (risk_unit_id) risk_unit_id, id, grade, reason, set_by, set_at, expires_at
    FROM grade_overrides
    WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
    ORDER BY risk_unit_id, set_at DESC, id DESC
),
dangers AS (
    SELECT risk_unit_id, array_agg(id ORDER BY id) AS ids
    FROM hidden_dangers
    WHERE level = 'major' AND status = 'open' AND risk_unit_id IS NOT NULL
    GROUP BY risk_unit_id
),
red_alarms AS (
    SELECT p.risk_unit_id, array_agg(a.id ORDER BY a.id) AS ids
    FROM alarms a JOIN monitoring_points p ON p.id = a.monitoring_point_id
    WHERE a.grade = 'red' AND a.state = ANY (%(alarm_states)s) AND p.risk_unit_id IS NOT NULL
    GROUP BY p.risk_unit_id
),
scored AS (
    SELECT u.id, u.grade AS old_grade, u.category, u.major_hazard_source,
           u.likelihood, u.severity, trim_scale(u.lec_l) AS l, trim_scale(u.lec_e) AS e,
           trim_scale(u.lec_c) AS c, m.method,
           CASE m.method WHEN 'matrix' THEN (u.likelihood * u.severity)::numeric
                         ELSE trim_scale(u.lec_l * u.lec_e * u.lec_c) END AS score
    FROM risk_units u
    CROSS JOIN LATERAL (SELECT CASE
        WHEN u.likelihood IS NOT NULL AND (u.lec_l IS NULL OR %(default_method)s = 'matrix')
        THEN 'matrix' ELSE 'lec' END AS method) m
),
banded AS (
    SELECT s.*,
        CASE WHEN s.method = 'matrix' THEN CASE
                WHEN s.score >= %(m_red)s THEN 4
                WHEN s.score = 9 THEN %(m_nine_rank)s
                WHEN s.score >= %(m_orange)s THEN 3
                WHEN s.score >= %(m_yellow)s THEN 2
                ELSE 1 END
             ELSE CASE
                WHEN s.score > %(l_red)s THEN 4
                WHEN s.score >= %(l_orange)s THEN 3
                WHEN s.score >= %(l_yellow)s THEN 2
                ELSE 1 END
        END AS base_rank,
        CASE WHEN s.method = 'matrix' THEN CASE
                WHEN s.score >= %(m_red)s THEN '≥ ' || %(m_red)s
                WHEN s.score = 9 THEN '→ 9'
                WHEN s.score >= %(m_orange)s THEN '≥ ' || %(m_orange)s
                WHEN s.score >= %(m_yellow)s THEN '≥ ' || %(m_yellow)s
                ELSE '< ' || %(m_yellow)s END
             ELSE CASE
                WHEN s.score > %(l_red)s THEN '> ' || %(l_red)s
                WHEN s.score >= %(l_orange)s THEN '≥ ' || %(l_orange)s
                WHEN s.score >= %(l_yellow)s THEN '≥ ' || %(l_yellow)s
                ELSE '< ' || %(l_yellow)s END
        END AS band
    FROM scored s
),
floored AS (
    SELECT b.*,
        CASE WHEN b.major_hazard_source THEN %(floor_mhs)s ELSE 0 END AS mhs_floor,
        coalesce((%(category_floors)s::jsonb ->> b.category)::int, 0) AS cat_floor
    FROM banded b
),
escalated AS (
    SELECT f.*, d.ids AS danger_ids, r.ids AS alarm_ids, o.id AS override_id,
           o.grade AS override_grade, o.reason AS override_reason, o.set_by, o.set_at, o.expires_at,
           greatest(f.base_rank, f.mhs_floor, f.cat_floor) AS floor_rank
    FROM floored f
    LEFT JOIN dangers d ON d.risk_unit_id = f.id
    LEFT JOIN red_alarms r ON r.risk_unit_id = f.id
    LEFT JOIN active_override o ON o.risk_unit_id = f.id
),
ranked AS (
    SELECT e.*,
        CASE WHEN e.danger_ids IS NOT NULL THEN greatest(e.floor_rank, %(danger_rank)s)
             ELSE e.floor_rank END AS danger_rank
    FROM escalated e
),
computed AS (
    SELECT r.*,
        CASE WHEN r.alarm_ids IS NOT NULL THEN least(4, r.danger_rank + %(alarm_raise)s)
             ELSE r.danger_rank END AS computed_rank
    FROM ranked r
),
explained AS (
    SELECT c.id, c.old_grade, c.method, c.score,
        g.en[c.base_rank] AS base_grade,
        coalesce(c.override_grade, g.en[c.computed_rank]) AS final_grade,
        CASE WHEN c.override_id IS NULL THEN 'computed' ELSE 'override' END AS source,
        jsonb_strip_nulls(jsonb_build_object(
            'method', c.method,
            'inputs', CASE c.method
                WHEN 'matrix' THEN jsonb_build_object('likelihood', c.likelihood, 'severity', c.severity)
                ELSE jsonb_build_object('L', c.l, 'E', c.e, 'C', c.c) END,
            'score', c.score,
            'band', c.band,
            'base_grade', g.en[c.base_rank],
            'floor', CASE WHEN c.floor_rank > c.base_rank THEN jsonb_build_object(
                'grade', g.en[c.floor_rank],
                'reason', CASE WHEN c.mhs_floor >= c.cat_floor THEN 'major_hazard_source' ELSE 'category' END) END,
            'escalations', (SELECT jsonb_agg(x) FROM (
                SELECT jsonb_build_object('rule', 'major_hidden_danger', 'hidden_danger_ids',
                                          to_jsonb(c.danger_ids), 'grade', g.en[c.danger_rank]) AS x
                WHERE c.danger_ids IS NOT NULL
                UNION ALL
                SELECT jsonb_build_object('rule', 'red_alarm', 'alarm_ids', to_jsonb(c.alarm_ids),
                                          'raise', %(alarm_raise)s, 'grade', g.en[c.computed_rank])
                WHERE c.alarm_ids IS NOT NULL) esc),
            'computed_grade', g.en[c.computed_rank],
            'override', CASE WHEN c.override_id IS NOT NULL THEN jsonb_build_object(
                'id', c.override_id, 'grade', c.override_grade, 'reason', c.override_reason,
                'set_by', c.set_by, 'set_at', c.set_at, 'expires_at', c.expires_at) END,
            'grade', coalesce(c.override_grade, g.en[c.computed_rank]),
            'text_zh', g.zh[coalesce(array_position(g.en, c.override_grade), c.computed_rank)] || ': ' || concat_ws('; ',
                CASE c.method WHEN 'matrix'
                    THEN format('可能性%%s × 严重性%%s = %%s %%s', c.likelihood, c.severity, c.score,
                                CASE WHEN c.score = 9 THEN '（9 按规则为' || g.zh[%(m_nine_rank)s] || '）' ELSE c.band END)
                    ELSE format('L%%s × E%%s × C%%s = %%s %%s', c.l, c.e, c.c, c.score, c.band) END,
                CASE WHEN c.floor_rank > c.base_rank THEN
                    CASE WHEN c.mhs_floor >= c.cat_floor THEN '重大危险源，不低于' ELSE '类别下限' END
                    || g.zh[c.floor_rank] END,
                CASE WHEN c.danger_ids IS NOT NULL THEN
                    '重大隐患 #' || array_to_string(c.danger_ids, ', #') || ' 未整改' END,
                CASE WHEN c.alarm_ids IS NOT NULL THEN
                    '关联监测点红色预警 #' || array_to_string(c.alarm_ids, ', #') || '，升' || %(alarm_raise)s || '级' END,
                CASE WHEN c.override_id IS NOT NULL THEN format('人工调整为%%s（%%s，%%s，%%s%%s）',
                    g.zh[array_position(g.en, c.override_grade)], c.set_by,
                    to_char(c.set_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), c.override_reason,
                    CASE WHEN c.expires_at IS NOT NULL THEN '，至' ||
                        to_char(c.expires_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') ELSE '' END) END),
            'text_en', coalesce(c.override_grade, g.en[c.computed_rank]) || ': ' || concat_ws('; ',
                CASE c.method WHEN 'matrix'
                    THEN format('likelihood %%s × severity %%s = %%s %%s', c.likelihood, c.severity, c.score,
                                CASE WHEN c.score = 9 THEN '(9 is ' || %(m_nine)s || ' by rule)' ELSE c.band END)
                    ELSE format('L %%s × E %%s × C %%s = %%s %%s', c.l, c.e, c.c, c.score, c.band) END,
                CASE WHEN c.floor_rank > c.base_rank THEN
                    CASE WHEN c.mhs_floor >= c.cat_floor THEN 'major hazard source, at least '
                         ELSE 'category floor ' END || g.en[c.floor_rank] END,
                CASE WHEN c.danger_ids IS NOT NULL THEN
                    'major hidden danger #' || array_to_string(c.danger_ids, ', #') || ' open' END,
                CASE WHEN c.alarm_ids IS NOT NULL THEN
                    'red alarm #' || array_to_string(c.alarm_ids, ', #') || ' on a linked point, raised '
                    || %(alarm_raise)s END,
                CASE WHEN c.override_id IS NOT NULL THEN format('set by hand to %%s (%%s, %%s, %%s%%s)',
                    c.override_grade, c.set_by,
                    to_char(c.set_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), c.override_reason,
                    CASE WHEN c.expires_at IS NOT NULL THEN ', until ' ||
                        to_char(c.expires_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') ELSE '' END) END)
        )) AS explanation
    FROM computed c CROSS JOIN grades g
),
updated AS (
    UPDATE risk_units u
    SET grade = x.final_grade, base_grade = x.base_grade, grade_method = x.method,
        grade_score = x.score, grade_source = x.source, grade_explanation = x.explanation,
        graded_at = now()
    FROM explained x
    WHERE u.id = x.id
      AND (u.grade, u.base_grade, u.grade_method, u.grade_score, u.grade_source, u.grade_explanation)
          IS DISTINCT FROM (x.final_grade, x.base_grade, x.method, x.score, x.source, x.explanation)
    RETURNING u.id, x.old_grade, x.final_grade, x.base_grade, x.source, x.explanation
),
history AS (
    INSERT INTO grade_history (risk_unit_id, run_id, grade_from, grade_to, base_grade, source, explanation)
    SELECT id, %(run_id)s, old_grade, final_grade, base_grade, source, explanation
    FROM updated WHERE old_grade IS DISTINCT FROM final_grade
    RETURNING 1
)
SELECT (SELECT count(*) FROM updated) AS updated, (SELECT count(*) FROM history) AS changed
