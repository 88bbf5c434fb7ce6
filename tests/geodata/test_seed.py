"""The demonstration dataset: the source counts, realistic placement, determinism, reloads."""

import hashlib

import numpy as np
import psycopg
import pytest
import shapely
from typer.testing import CliRunner

from geodata.demo.context import build_context, load_city
from geodata.demo.seed import AlreadySeeded, districts_frame, generate, seed_database

CITY = load_city()


def _digest(data: dict) -> str:
    h = hashlib.sha256()
    for layer in sorted(data):
        for row in data[layer]:
            for key in sorted(row):
                value = row[key]
                h.update(shapely.to_wkb(value) if hasattr(value, "geom_type") else repr(value).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def frame(seeded_url):
    with psycopg.connect(seeded_url) as conn:
        return districts_frame(conn)


def test_same_seed_same_dataset_other_seed_other_dataset(frame):
    first, again, other = generate(frame, 7), generate(frame, 7), generate(frame, 8)
    assert _digest(first) == _digest(again)
    assert _digest(first) != _digest(other)
    assert {k: len(v) for k, v in first.items()}["risk_units"] == 3176


def test_source_counts(conn):
    one = lambda q: conn.execute(q).fetchone()
    assert one("SELECT count(*) FROM risk_units") == (3176,)
    assert one("SELECT count(*) FROM monitoring_points") == (22067,)
    assert one("SELECT count(*) FROM subdistricts") == (204,)
    assert one("SELECT count(*), sum(items) FROM resources WHERE type = 'storage'") == (489, 325966)
    assert one("SELECT count(*) FROM resources WHERE type = 'broadcast'") == (2248,)
    assert one("SELECT count(*), sum(people) FROM resources WHERE type = 'rescue_team' "
               "AND attributes->>'force' = 'professional'") == (43, 3768)
    assert one("SELECT count(*) FROM resources WHERE type = 'rescue_team' "
               "AND attributes->>'force' = 'social'") == (13,)
    assert one("SELECT count(*) FROM resources WHERE type = 'supply_enterprise'") == (16,)
    kinds = one("SELECT count(DISTINCT k) FROM resources, jsonb_array_elements_text("
                "attributes->'supplies') k WHERE type = 'supply_enterprise'")
    assert kinds == (51,)
    assert one("SELECT count(*) > 20 FROM resources WHERE type = 'fire_station'") == (True,)
    assert one("SELECT count(*) FROM hidden_dangers") == (360,)
    assert one("SELECT count(*) FROM hidden_dangers WHERE level = 'major' AND status = 'open'")[0] > 0


@pytest.mark.parametrize("table", ["subdistricts", "risk_units", "monitoring_points", "shelters",
                                   "resources", "hidden_dangers"])
def test_every_row_flagged_synthetic_and_inside_its_district(conn, table):
    bad = conn.execute(
        f"""SELECT count(*) FILTER (WHERE NOT t.synthetic),
                   count(*) FILTER (WHERE NOT ST_Intersects(d.geom, t.geom))
            FROM {table} t JOIN districts d ON d.code = t.district_code"""
    ).fetchone()
    assert bad == (0, 0)


def test_storage_points_and_items_per_district_follow_the_source_table(conn):
    got = {c: (n, i) for c, n, i in conn.execute(
        "SELECT district_code, count(*), sum(items) FROM resources WHERE type = 'storage' "
        "GROUP BY 1").fetchall()}
    for code, d in CITY["districts"].items():
        want = (d["storage_points"] + d.get("devzone_storage_points", 0),
                d["stored_items"] + d.get("devzone_stored_items", 0))
        assert got[code] == want, code
    assert got["610115"][0] == 106  # 临潼: 106 storage points in the source table


def test_stock_by_kind_adds_up_to_items(conn):
    mismatched = conn.execute(
        """SELECT count(*) FROM resources r WHERE type = 'storage' AND items <> (
             SELECT sum(v::int) FROM jsonb_each_text(r.attributes->'stock') s(k, v))"""
    ).fetchone()[0]
    assert mismatched == 0


def test_subdistricts_tile_the_districts_with_the_source_counts(conn):
    rows = conn.execute(
        """SELECT d.code, count(s.*), sum(s.population)::bigint, d.population,
                  abs(ST_Area(ST_Union(s.geom)::geography) / ST_Area(d.geom::geography) - 1)
           FROM districts d JOIN subdistricts s ON s.district_code = d.code
           GROUP BY d.code"""
    ).fetchall()
    for code, n, people, population, area_error in rows:
        d = CITY["districts"][code]
        assert n == d["towns"] + d.get("devzone_towns", 0), code
        assert people == population, code
        assert area_error < 1e-4, code
    overlap = conn.execute(
        """SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
           FROM subdistricts a JOIN subdistricts b ON a.code < b.code
           AND a.district_code = b.district_code AND ST_Intersects(a.geom, b.geom)"""
    ).fetchone()[0]
    assert overlap < 1_000


def test_thirteen_categories_in_three_domains_as_points_lines_and_polygons(conn):
    rows = conn.execute("SELECT domain, count(DISTINCT category) FROM risk_units GROUP BY 1").fetchall()
    assert dict(rows) == {"lifeline": 5, "public_safety": 4, "production_safety": 4}
    types = {r[0] for r in conn.execute("SELECT DISTINCT GeometryType(geom) FROM risk_units")}
    assert types == {"POINT", "LINESTRING", "POLYGON"}


def test_every_unit_carries_its_grading_inputs(conn):
    missing = conn.execute(
        """SELECT count(*) FROM risk_units u JOIN risk_categories c ON c.code = u.category
           WHERE (c.method = 'matrix' AND (likelihood IS NULL OR severity IS NULL))
              OR (c.method = 'lec' AND (lec_l IS NULL OR lec_e IS NULL OR lec_c IS NULL))"""
    ).fetchone()[0]
    assert missing == 0
    assert conn.execute("SELECT count(*) FROM risk_units WHERE major_hazard_source").fetchone()[0] > 10


def test_denser_in_the_urban_core(conn):
    """A third of everything within 10 km of the Bell Tower, on about 3% of the land."""
    share = conn.execute(
        """SELECT avg((ST_DWithin(geom::geography,
                  ST_SetSRID(ST_MakePoint(108.94258, 34.26104), 4326)::geography, 10000))::int)
           FROM monitoring_points"""
    ).fetchone()[0]
    assert share > 0.33


def test_monitoring_points_sit_on_the_units_they_watch(conn):
    far = conn.execute(
        """SELECT m.kind, count(*) FILTER (WHERE ST_Distance(m.geom::geography, u.geom::geography) > 50)
           FROM monitoring_points m JOIN risk_units u ON u.id = m.risk_unit_id GROUP BY 1"""
    ).fetchall()
    assert dict(far) == {"gas": 0, "water_supply": 0, "drainage": 0, "heating": 0, "bridge": 0}
    unit = conn.execute("SELECT DISTINCT unit FROM monitoring_points WHERE kind = 'gas'").fetchall()
    assert unit == [("%LEL",)]


def test_bridges_on_rivers_or_roads_chemical_sites_in_industrial_areas(frame):
    ctx = build_context(frame, 610100)
    from geodata.demo import risk_units

    units = risk_units.generate(ctx)
    lines = shapely.unary_union([g for _, g in ctx.rivers + ctx.roads])
    bridges = [u["geom"] for u in units if u["category"] == "bridge"]
    assert max(lines.distance(b) for b in bridges) < 1.0
    chem = [u["geom"].centroid for u in units if u["category"] == "hazardous_chemicals"]
    for site in chem:
        assert min(site.distance(c) / r for _, c, r in ctx.industrial) < 3, site
    mines = [u["geom"].centroid for u in units if u["category"] == "non_coal_mine"]
    grid = ctx.grid
    nearest = [int(np.argmin(np.hypot(grid.x - m.x, grid.y - m.y))) for m in mines]
    assert grid.mountain[nearest].all()


def test_some_districts_fall_below_1_5_square_metres_per_resident_most_do_not(conn):
    rows = conn.execute(
        """SELECT d.code, sum(s.effective_area_m2) / d.population
           FROM districts d JOIN shelters s ON s.district_code = d.code GROUP BY d.code"""
    ).fetchall()
    below = [code for code, ratio in rows if ratio < 1.5]
    assert 1 <= len(below) < len(rows) / 2
    classes = {r[0] for r in conn.execute("SELECT DISTINCT class FROM shelters")}
    assert classes == {"emergency", "fixed", "central"}


def test_seeding_again_needs_replace_and_replace_gives_the_same_rows(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        before = conn.execute("SELECT md5(string_agg(code || ST_AsText(geom), ',' ORDER BY id)) "
                              "FROM risk_units").fetchone()
        with pytest.raises(AlreadySeeded, match="--replace"):
            seed_database(conn, seed=610100, progress=False)
        report = seed_database(conn, seed=610100, replace=True, progress=False)
        assert report.replaced["risk_units"] == 3176 and report.loaded["risk_units"] == 3176
        after = conn.execute("SELECT md5(string_agg(code || ST_AsText(geom), ',' ORDER BY id)) "
                             "FROM risk_units").fetchone()
        assert before == after
        ids = conn.execute("SELECT min(id), max(id) FROM monitoring_points").fetchone()
        assert ids == (1, 22067)


def test_layers_holding_imported_rows_are_kept(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        conn.execute("DELETE FROM shelters")
        conn.execute(
            """INSERT INTO shelters (code, name, class, effective_area_m2, district_code, geom)
               VALUES ('REAL-1', '革命公园', 'fixed', 50000, '610102',
                       ST_SetSRID(ST_MakePoint(108.962, 34.272), 4326))""")
        conn.commit()
        report = seed_database(conn, seed=1, replace=True, progress=False)
        assert "shelters" in report.skipped and "shelters" not in report.loaded
        assert conn.execute("SELECT code FROM shelters").fetchall() == [("REAL-1",)]
        assert conn.execute("SELECT count(*) FROM risk_units").fetchone() == (3176,)


def test_cli_seed_if_empty_leaves_a_seeded_database_alone(seeded_url, monkeypatch):
    from service.cli import app

    monkeypatch.setenv("ONEMAP_DATABASE_URL", seeded_url)
    result = CliRunner().invoke(app, ["seed", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already holds data" in result.output


def test_cli_seed_loads_an_empty_database(scratch_base_url, monkeypatch):
    from service.cli import app

    monkeypatch.setenv("ONEMAP_DATABASE_URL", scratch_base_url)
    result = CliRunner().invoke(app, ["seed", "--if-empty", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "22,067" in result.output and "monitoring_points" in result.output
    with psycopg.connect(scratch_base_url) as conn:
        assert conn.execute("SELECT count(*) FROM monitoring_points").fetchone() == (22067,)


def test_replace_refuses_to_orphan_imported_rows_linked_to_demonstration_units(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        conn.execute(
            """INSERT INTO hidden_dangers (code, risk_unit_id, title, level, status, found_on,
                   district_code, geom)
               SELECT 'REAL-HD-1', id, '真实隐患', 'major', 'open', current_date, district_code,
                      ST_PointOnSurface(geom) FROM risk_units WHERE code = 'RU-00001'""")
        conn.commit()
        before = conn.execute("SELECT count(*) FROM risk_units").fetchone()
        with pytest.raises(Exception, match="1 imported hidden dangers point at demonstration risk units"):
            seed_database(conn, seed=610100, replace=True, progress=False)
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM risk_units").fetchone() == before
        assert conn.execute("SELECT count(*) FROM hidden_dangers WHERE code = 'REAL-HD-1'").fetchone() == (1,)
