"""Risk grading: the rules file, and re-grading every unit and point in the database.

The work is done by PostgreSQL in two set-based statements (`layers/sql/regrade_*.sql`);
this module reads and checks the rules, runs them in one transaction under a lock, keeps
a record of the run, and says what came out and what changed.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from geodata.errors import OnemapError

RULES_FILE = Path(__file__).with_name("rules") / "grading.toml"
SQL_DIR = Path(__file__).with_name("sql")
GRADES = ("blue", "yellow", "orange", "red")      # rank 1..4
GRADE_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
_LOCK_KEY = 7_406_114  # serialises grading runs
AREA_VIEWS = ("area_risk_districts", "area_risk_subdistricts", "area_risk_grid")


class RulesError(OnemapError):
    """The grading rules file is not usable; the message names the key."""


def rank(grade: str) -> int:
    return GRADES.index(grade) + 1


@dataclass(frozen=True)
class GradingRules:
    default_method: str = "matrix"
    m_red: int = 20
    m_orange: int = 10
    m_yellow: int = 4
    m_nine: str = "yellow"
    l_red: float = 320
    l_orange: float = 160
    l_yellow: float = 70
    floor_major_hazard_source: str | None = "orange"
    category_floors: dict = field(default_factory=dict)
    major_hidden_danger: str = "red"
    red_alarm_raise: int = 1
    active_alarm_states: tuple = ("open", "acknowledged")
    area_weights: dict = field(default_factory=lambda: {"red": 4, "orange": 3, "yellow": 2, "blue": 1})

    def params(self, run_id: int) -> dict:
        """Bound parameters of the grading statements."""
        return {
            "run_id": run_id,
            "default_method": self.default_method,
            "m_red": self.m_red, "m_orange": self.m_orange, "m_yellow": self.m_yellow,
            "m_nine": self.m_nine, "m_nine_rank": rank(self.m_nine),
            "l_red": self.l_red, "l_orange": self.l_orange, "l_yellow": self.l_yellow,
            "floor_mhs": rank(self.floor_major_hazard_source) if self.floor_major_hazard_source else 0,
            "category_floors": json.dumps({c: rank(g) for c, g in self.category_floors.items()}),
            "danger_rank": rank(self.major_hidden_danger),
            "alarm_raise": self.red_alarm_raise,
            "alarm_states": list(self.active_alarm_states),
        }


def _grade(value, key: str) -> str:
    if value not in GRADES:
        raise RulesError(f"grading rules: {key} = {value!r} is not a grade (red, orange, yellow, blue)")
    return value


def _number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RulesError(f"grading rules: {key} = {value!r} is not a number")
    return value


def parse_rules(doc: dict) -> GradingRules:
    """Check a rules document and turn it into GradingRules (RulesError names the key)."""
    try:
        m, lec = doc.get("matrix", {}), doc.get("lec", {})
        weights = doc.get("area", {}).get("weights", GradingRules().area_weights)
        if set(weights) != set(GRADES):
            raise RulesError("grading rules: area.weights needs exactly red, orange, yellow, blue")
        floors, esc = doc.get("floors", {}), doc.get("escalation", {})
        method = doc.get("default_method", "matrix")
        if method not in ("matrix", "lec"):
            raise RulesError(f"grading rules: default_method = {method!r}: use 'matrix' or 'lec'")
        rules = GradingRules(
            default_method=method,
            m_red=_number(m.get("red_from", 20), "matrix.red_from"),
            m_orange=_number(m.get("orange_from", 10), "matrix.orange_from"),
            m_yellow=_number(m.get("yellow_from", 4), "matrix.yellow_from"),
            m_nine=_grade(m.get("nine_is", "yellow"), "matrix.nine_is"),
            l_red=_number(lec.get("red_above", 320), "lec.red_above"),
            l_orange=_number(lec.get("orange_from", 160), "lec.orange_from"),
            l_yellow=_number(lec.get("yellow_from", 70), "lec.yellow_from"),
            floor_major_hazard_source=(
                _grade(floors["major_hazard_source"], "floors.major_hazard_source")
                if floors.get("major_hazard_source") else None),
            category_floors={c: _grade(g, f"floors.category.{c}")
                             for c, g in floors.get("category", {}).items()},
            major_hidden_danger=_grade(esc.get("major_hidden_danger", "red"),
                                       "escalation.major_hidden_danger"),
            red_alarm_raise=int(_number(esc.get("red_alarm_raise", 1), "escalation.red_alarm_raise")),
            active_alarm_states=tuple(esc.get("active_alarm_states", ["open", "acknowledged"])),
            area_weights={g: _number(w, f"area.weights.{g}") for g, w in weights.items()},
        )
    except AttributeError as exc:
        raise RulesError(f"grading rules: a section is not a table ({exc})") from exc
    if rules.m_nine not in ("orange", "yellow"):
        raise RulesError("grading rules: matrix.nine_is must be 'orange' or 'yellow'")
    if not rules.m_red > rules.m_orange > rules.m_yellow > 0:
        raise RulesError("grading rules: need matrix.red_from > orange_from > yellow_from > 0")
    if not rules.l_red > rules.l_orange > rules.l_yellow > 0:
        raise RulesError("grading rules: need lec.red_above > orange_from > yellow_from > 0")
    if not 0 <= rules.red_alarm_raise <= 3:
        raise RulesError("grading rules: escalation.red_alarm_raise must be 0 to 3")
    if any(w < 0 for w in rules.area_weights.values()):
        raise RulesError("grading rules: area.weights must not be negative")
    bad = set(rules.active_alarm_states) - {"open", "acknowledged", "closed"}
    if bad:
        raise RulesError(f"grading rules: escalation.active_alarm_states has unknown {sorted(bad)}")
    return rules


def load_rules(path: Path = RULES_FILE) -> GradingRules:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"grading rules: {path.name} is not valid TOML: {exc}") from exc
    return parse_rules(doc)


@dataclass
class GradingReport:
    run_id: int
    units: int
    points: int
    updated: int
    changed: int
    points_changed: int
    by_grade: dict[str, int]
    by_district: list[dict]
    changes: list[dict]
    seconds: float


_SQL_CACHE: dict[str, str] = {}


def refresh_area_risk(conn: psycopg.Connection, rules: GradingRules) -> None:
    """Recount the area-risk views with the rules' weights (inside the caller's transaction)."""
    with conn.cursor() as cur:
        cur.executemany("UPDATE area_weights SET weight = %s WHERE grade = %s",
                        [(w, g) for g, w in rules.area_weights.items()])
    for view in AREA_VIEWS:
        conn.execute(f"REFRESH MATERIALIZED VIEW {view}")  # names from the constant above
    # no trigger sees a REFRESH: tell the tile caches the views changed
    conn.execute("SELECT bump_layer_versions(VARIADIC %s)", [list(AREA_VIEWS)])


def _sql(name: str) -> str:
    if name not in _SQL_CACHE:
        _SQL_CACHE[name] = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    return _SQL_CACHE[name]


def regrade(conn: psycopg.Connection, requested_by: str, rules: GradingRules | None = None,
            max_changes: int = 200, surfaces: bool = True) -> GradingReport:
    """Grade every risk unit and monitoring point now, in one transaction; `surfaces`: also
    rebuild the risk-density surface when the units changed since it was built (most of the
    cost of a run: a run that must be quick leaves it to a later one)."""
    rules = rules or load_rules()
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        conn.execute("SET LOCAL jit = off")  # compiling would cost more than the statements
        run_id = conn.execute(
            "INSERT INTO grading_runs (requested_by, rules) VALUES (%s, %s) RETURNING id",
            [requested_by, json.dumps(asdict(rules))],
        ).fetchone()[0]
        updated, changed = conn.execute(_sql("regrade_units"), rules.params(run_id)).fetchone()
        points_changed = conn.execute(_sql("regrade_points"), rules.params(run_id)).rowcount
        refresh_area_risk(conn, rules)
        # the surface is stale when the units changed after it was built (a grade, a
        # geometry, a deletion: the table's version says so), or when there is none
        stale = surfaces and conn.execute(
            """SELECT NOT EXISTS (
                   SELECT 1 FROM rasters r WHERE r.name = 'risk_density' AND r.built_at >=
                       (SELECT changed_at FROM layer_versions WHERE name = 'risk_units'))""").fetchone()[0]
        if stale:
            from layers import (
                density,  # imported here: it reads this module's rules file
            )

            density.rebuild(conn, run_id)
        units, points = conn.execute(
            "SELECT (SELECT count(*) FROM risk_units), (SELECT count(*) FROM monitoring_points)"
        ).fetchone()
        conn.execute(
            "UPDATE grading_runs SET finished_at = clock_timestamp(), units = %s, points = %s, "
            "changed = %s WHERE id = %s", [units, points, changed, run_id])
        by_grade = dict(conn.execute(
            "SELECT coalesce(grade, 'ungraded'), count(*) FROM risk_units GROUP BY 1").fetchall())
        by_district = [
            {"code": r[0], "name": r[1], **dict(zip((*GRADES[::-1], "total"), r[2:]))}
            for r in conn.execute(
                """SELECT d.code, d.name,
                          count(u.*) FILTER (WHERE u.grade = 'red'),
                          count(u.*) FILTER (WHERE u.grade = 'orange'),
                          count(u.*) FILTER (WHERE u.grade = 'yellow'),
                          count(u.*) FILTER (WHERE u.grade = 'blue'),
                          count(u.*)
                   FROM districts d LEFT JOIN risk_units u ON u.district_code = d.code
                   GROUP BY d.code, d.name ORDER BY d.code""").fetchall()
        ]
        changes = [
            {"id": r[0], "code": r[1], "name": r[2], "from": r[3], "to": r[4], "source": r[5],
             "why": r[6]}
            for r in conn.execute(
                """SELECT u.id, u.code, u.name, h.grade_from, h.grade_to, h.source,
                          h.explanation->>'text_zh'
                   FROM grade_history h JOIN risk_units u ON u.id = h.risk_unit_id
                   WHERE h.run_id = %s ORDER BY u.id LIMIT %s""", [run_id, max_changes]).fetchall()
        ]
    return GradingReport(
        run_id=run_id, units=units, points=points, updated=updated, changed=changed,
        points_changed=points_changed, by_grade=by_grade, by_district=by_district,
        changes=changes, seconds=time.perf_counter() - started,
    )
