"""Schema migrations: versioned, recorded, idempotent; the schema holds what the layers need."""

import psycopg
import pytest

from geodata.db.migrate import available, migrate

LAYER_TABLES = ["districts", "subdistricts", "risk_units", "monitoring_points", "shelters",
                "resources", "hidden_dangers"]


def test_migrations_recorded_in_the_version_table(scratch_base_url):
    with psycopg.connect(scratch_base_url, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in available()]
        assert migrate(conn) == []  # a second run applies nothing
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(versions)


def test_migrate_refuses_a_connection_in_a_transaction(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn, pytest.raises(ValueError, match="autocommit"):
        migrate(conn)


@pytest.mark.parametrize("table", LAYER_TABLES)
def test_layer_tables_have_geom_4326_synthetic_flag_and_spatial_index(conn, table):
    srid = conn.execute(
        "SELECT srid FROM geometry_columns WHERE f_table_name = %s AND f_geometry_column = 'geom'",
        [table],
    ).fetchone()
    assert srid == (4326,)
    flag = conn.execute(
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = %s AND column_name = 'synthetic'", [table]
    ).fetchone()
    assert flag == ("boolean", "NO")
    gist = conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef ILIKE '%%gist%%geom%%'",
        [table],
    ).fetchone()[0]
    assert gist == 1


@pytest.mark.parametrize("table", LAYER_TABLES[1:])
def test_layers_point_at_districts(conn, table):
    fk = conn.execute(
        """SELECT count(*) FROM information_schema.referential_constraints rc
           JOIN information_schema.key_column_usage k ON k.constraint_name = rc.constraint_name
           WHERE k.table_name = %s AND k.column_name = 'district_code'""", [table]
    ).fetchone()[0]
    assert fk == 1


def test_risk_units_take_points_lines_and_polygons_but_not_collections(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn:
        for wkt in ["POINT(108.95 34.26)", "LINESTRING(108.95 34.26, 108.96 34.27)",
                    "POLYGON((108.95 34.26, 108.96 34.26, 108.96 34.27, 108.95 34.26))"]:
            conn.execute(
                """INSERT INTO risk_units (code, name, domain, category, district_code,
                   likelihood, severity, geom) VALUES (%s, 'x', 'lifeline', 'gas_pipeline',
                   '610103', 3, 4, ST_GeomFromText(%s, 4326))""", [wkt[:5] + "-1", wkt])
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                """INSERT INTO risk_units (code, name, domain, category, district_code,
                   likelihood, severity, geom) VALUES ('gc', 'x', 'lifeline', 'gas_pipeline',
                   '610103', 3, 4, ST_GeomFromText('GEOMETRYCOLLECTION(POINT(108.95 34.26))', 4326))""")


def test_a_category_must_sit_in_its_own_domain(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            """INSERT INTO risk_units (code, name, domain, category, district_code, likelihood,
               severity, geom) VALUES ('x', 'x', 'public_safety', 'gas_pipeline', '610103', 1, 1,
               ST_SetSRID(ST_MakePoint(108.95, 34.26), 4326))""")


def test_lec_values_outside_the_method_are_refused(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            """INSERT INTO risk_units (code, name, domain, category, district_code, lec_l, lec_e,
               lec_c, geom) VALUES ('x', 'x', 'production_safety', 'gas_station', '610103', 4, 6,
               15, ST_SetSRID(ST_MakePoint(108.95, 34.26), 4326))""")


def test_reference_vocabularies_loaded(conn):
    domains = dict(conn.execute("SELECT domain, count(*) FROM risk_categories GROUP BY 1").fetchall())
    assert domains == {"lifeline": 5, "public_safety": 4, "production_safety": 4}
    kinds = {r[0] for r in conn.execute("SELECT kind FROM monitoring_kinds")}
    assert {"gas", "water_supply", "drainage", "heating", "bridge", "power"} <= kinds
    assert conn.execute("SELECT unit FROM monitoring_kinds WHERE kind = 'gas'").fetchone() == ("%LEL",)


def test_layer_versions_move_only_when_rows_change(scratch_url):
    from layers.grading import regrade

    with psycopg.connect(scratch_url, autocommit=True) as conn:
        def version():
            return conn.execute(
                "SELECT version FROM layer_versions WHERE name = 'risk_units'").fetchone()[0]

        start = version()
        conn.execute("UPDATE risk_units SET name = name WHERE false")
        conn.execute("DELETE FROM risk_units WHERE code = 'no such code'")
        regrade(conn, "test")  # the seeded database is graded: nothing to change
        assert version() == start
        conn.execute("UPDATE risk_units SET name = name || '·' WHERE code = 'RU-00001'")
        assert version() == start + 1
        conn.execute("DELETE FROM hidden_dangers WHERE code = 'HD-00001'")
        conn.execute("DELETE FROM risk_units WHERE code = 'RU-00002'")
        assert version() == start + 2


def test_readings_are_partitioned_by_day_with_the_point_and_time_as_key(conn):
    strategy, key = conn.execute(
        """SELECT p.partstrat, pg_get_partkeydef(p.partrelid) FROM pg_partitioned_table p
           WHERE p.partrelid = 'readings'::regclass""").fetchone()
    assert (strategy, key) == ("r", "RANGE (ts)")
    pk = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                      "WHERE conrelid = 'readings'::regclass AND contype = 'p'").fetchone()[0]
    assert pk == "PRIMARY KEY (monitoring_point_id, ts)"
    # no foreign key to the points: it would cost 40-55% of the ingest rate
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'readings'::regclass "
                        "AND contype = 'f'").fetchone()[0] == 0


def test_readings_partitions_are_made_ahead_and_dropped_after_the_retention(scratch_base_url):
    with psycopg.connect(scratch_base_url, autocommit=True) as conn:
        def partitions():
            return [r[0] for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'readings'::regclass ORDER BY 1")]

        today = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
        # the migration made yesterday and a week ahead
        ahead = partitions()
        assert f"readings_{today:%Y%m%d}" in ahead and len(ahead) >= 8
        made = conn.execute("SELECT readings_ensure_partitions('2020-02-28', 3)").fetchone()[0]
        assert made == 3
        assert conn.execute("SELECT readings_ensure_partitions('2020-02-28', 3)").fetchone()[0] == 0
        assert {"readings_20200228", "readings_20200229", "readings_20200301"} <= set(partitions())
        # a partition holds one UTC day: 00:30 on 1 March in Xi'an is 16:30 UTC on the 29th
        conn.execute("INSERT INTO readings (monitoring_point_id, ts, value) "
                     "VALUES (1, '2020-03-01 00:30+08', 1), (1, '2020-02-29 23:59:59+00', 2)")
        where = [r[0] for r in conn.execute(
            "SELECT tableoid::regclass::text FROM readings ORDER BY value")]
        assert where == ["readings_20200229", "readings_20200229"]
        assert conn.execute("SELECT readings_drop_partitions(30)").fetchone()[0] == 3
        assert partitions() == ahead
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.CheckViolation):
            # no partition for that day: the service makes it before it writes
            conn.execute("INSERT INTO readings (monitoring_point_id, ts, value) "
                         "VALUES (1, '2001-01-01 00:00Z', 1)")
