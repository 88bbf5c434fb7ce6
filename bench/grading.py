"""How fast grading is: `regrade` (set-based SQL, what `onemap grade` runs) against the same
rules applied row by row from Python (one query per unit and per point), on the same
seeded database with some open alarms, in one run. Goal: every unit and point < 2 s.

    .venv/bin/python bench/grading.py [--repeat 5]

Uses a throw-away database `onemap_bench_grading` (seeded here) and drops it at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from rich.console import Console
from rich.progress import track
from rich.table import Table
from scratch import throwaway_database

from geodata.demo.seed import seed_database
from layers.grading import GRADES, load_rules, rank, regrade

BENCH_DB = "onemap_bench_grading"


def row_by_row(conn: psycopg.Connection, rules) -> None:
    """The peer: the same rules, one unit (and one point) at a time."""
    units = conn.execute("SELECT id, likelihood, severity, lec_l * lec_e * lec_c, major_hazard_source "
                         "FROM risk_units").fetchall()
    for uid, likelihood, severity, d, mhs in units:
        if likelihood is not None:
            r = likelihood * severity
            g = 4 if r >= rules.m_red else rank(rules.m_nine) if r == 9 else 3 if r >= rules.m_orange \
                else 2 if r >= rules.m_yellow else 1
        else:
            g = 4 if d > rules.l_red else 3 if d >= rules.l_orange else 2 if d >= rules.l_yellow else 1
        if mhs and rules.floor_major_hazard_source:
            g = max(g, rank(rules.floor_major_hazard_source))
        if conn.execute("SELECT 1 FROM hidden_dangers WHERE risk_unit_id = %s AND level = 'major' "
                        "AND status = 'open' LIMIT 1", [uid]).fetchone():
            g = max(g, rank(rules.major_hidden_danger))
        if conn.execute("SELECT 1 FROM alarms a JOIN monitoring_points p ON p.id = a.monitoring_point_id "
                        "WHERE p.risk_unit_id = %s AND a.grade = 'red' AND a.state = ANY(%s) LIMIT 1",
                        [uid, list(rules.active_alarm_states)]).fetchone():
            g = min(4, g + rules.red_alarm_raise)
        conn.execute("UPDATE risk_units SET grade = %s WHERE id = %s", [GRADES[g - 1], uid])
    for (pid,) in conn.execute("SELECT id FROM monitoring_points").fetchall():
        worst = conn.execute("SELECT max(array_position(ARRAY['blue','yellow','orange','red'], grade)) "
                             "FROM alarms WHERE monitoring_point_id = %s AND state = ANY(%s)",
                             [pid, list(rules.active_alarm_states)]).fetchone()[0]
        conn.execute("UPDATE monitoring_points SET grade = %s WHERE id = %s",
                     [GRADES[worst - 1] if worst else None, pid])
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    console = Console()
    rules = load_rules()
    timings: dict[str, list[float]] = {"regrade, all changed": [], "regrade, nothing changed": [],
                                       "row by row (peer)": []}
    with throwaway_database(BENCH_DB) as url, psycopg.connect(url) as conn:
        console.print("seeding the benchmark database …")
        seed_database(conn, progress=False)
        # 400 open alarms on random points, a quarter of them red
        conn.execute("""INSERT INTO alarms (monitoring_point_id, grade, district_code, geom, synthetic)
                        SELECT id, (ARRAY['red','orange','yellow','blue'])[1 + (id % 4)], district_code, geom, true
                        FROM monitoring_points ORDER BY md5(id::text) LIMIT 400""")
        conn.commit()
        for _ in track(range(args.repeat), description="grading", console=console):
            conn.execute("UPDATE risk_units SET grade = NULL, grade_explanation = NULL")
            conn.execute("UPDATE monitoring_points SET grade = NULL")
            conn.commit()
            t0 = time.perf_counter()
            regrade(conn, "bench", rules)
            timings["regrade, all changed"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            regrade(conn, "bench", rules)
            timings["regrade, nothing changed"].append(time.perf_counter() - t0)
            conn.execute("UPDATE risk_units SET grade = NULL")
            conn.commit()
            t0 = time.perf_counter()
            row_by_row(conn, rules)
            timings["row by row (peer)"].append(time.perf_counter() - t0)
    table = Table(title=f"grading 3,176 units and 22,067 points ({args.repeat} runs)")
    for col in ("method", "median s", "min s", "max s"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, ts in timings.items():
        table.add_row(name, f"{statistics.median(ts):.3f}", f"{min(ts):.3f}", f"{max(ts):.3f}")
    console.print(table)
    ratio = statistics.median(timings["row by row (peer)"]) / statistics.median(timings["regrade, all changed"])
    console.print(f"set-based regrade is {ratio:.0f}× faster than row by row "
                  "(and also writes the explanations, the history and the area-risk views)")


if __name__ == "__main__":
    main()
