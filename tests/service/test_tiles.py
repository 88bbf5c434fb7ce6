"""Vector tiles: the features and attributes of a known tile of every layer (checked in SQL
with ST_TileEnvelope), aggregation cells that add up to the true counts, ETag/304, gzip,
empty tiles, bad requests, and a cache that never serves a tile older than the data."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import mapbox_vector_tile
import psycopg
import pytest
from fastapi.testclient import TestClient

from layers.overrides import set_override
from layers.tiling import TILING, individual_from
from service.app import create_app
from service.settings import GradingSettings, TileSettings
from service.tiles.cache import CachedTile, TileCache
from service.tiles.grid import parse_tile, tile_of, tiles_over
from service.tiles.versions import VersionReader

MVT = "application/vnd.mapbox-vector-tile"
GRADES = ("red", "orange", "yellow", "blue")
MARGIN = 64 / 4096
POINT_LAYERS = {"monitoring_points", "shelters", "resources", "hidden_dangers", "alarms"}
# zoom of the known tile of each layer: single features everywhere
KNOWN_TILE_ZOOM = {"districts": 9, "subdistricts": 11, "risk_units": 13, "monitoring_points": 14,
                   "shelters": 12, "resources": 13, "hidden_dangers": 12,
                   "area_risk_districts": 9, "area_risk_subdistricts": 11, "area_risk_grid": 12}


def tile_client(url: str, settings_for, **tiles) -> TestClient:
    settings = settings_for(url)
    settings.grading = GradingSettings(interval_seconds=0)
    settings.tiles = TileSettings(**tiles)
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(seeded_url, settings_for):
    with tile_client(seeded_url, settings_for) as client:
        yield client


def catalogue(client):
    """The app's layer catalogue, built on the app's own event loop."""
    return client.portal.call(client.app.state.backend.catalogue)


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content) if content else {}


def get_tile(client, layer: str, z: int, x: int, y: int, **headers) -> dict:
    answer = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=headers)
    assert answer.status_code in (200, 204), answer.text
    assert answer.headers["content-type"] == MVT
    return decode(answer.content)


def first_point(seeded_sql, table: str, id_column: str) -> tuple[float, float]:
    lon, lat = seeded_sql(
        f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM {table} "
        f"ORDER BY {id_column} LIMIT 1) s")[0]
    return lon, lat


def ids_meeting(seeded_sql, table: str, id_column: str, z: int, x: int, y: int,
                inner: bool = False) -> set:
    """Ids whose geometry, projected, meets the tile with its buffer (`inner`: the tile
    shrunk by 2 %, which every feature that is kept must reach)."""
    envelope = (f"ST_Expand(ST_TileEnvelope({z}, {x}, {y}), -0.02 * ST_XMax(ST_TileEnvelope({z}, "
                f"{x}, {y})) + 0.02 * ST_XMin(ST_TileEnvelope({z}, {x}, {y})))" if inner else
                f"ST_TileEnvelope({z}, {x}, {y}, margin => {MARGIN})")
    rows = seeded_sql(f"SELECT {id_column} FROM {table} "
                      f"WHERE ST_Intersects(ST_Transform(geom, 3857), {envelope})")
    return {row[0] for row in rows}


@pytest.mark.parametrize("name", list(KNOWN_TILE_ZOOM))
def test_a_known_tile_holds_the_features_meeting_it(client, seeded_sql, name):
    tilejson = client.get(f"/tiles/{name}.json")
    if tilejson.status_code == 404:
        pytest.skip(f"{name} is not in this catalogue")
    layer = catalogue(client).get(name)
    z = KNOWN_TILE_ZOOM[name]
    tile = tile_of(*first_point(seeded_sql, layer.table, layer.id_column), z)
    decoded = get_tile(client, name, tile.z, tile.x, tile.y)
    assert set(decoded) == {name}  # single features only, in a layer named as the layer
    features = decoded[name]["features"]
    assert decoded[name]["extent"] == 4096
    integer_ids = layer.id_type == "integer"
    got = {f["id"] if integer_ids else f["properties"][layer.id_column] for f in features}
    want = ids_meeting(seeded_sql, layer.table, layer.id_column, tile.z, tile.x, tile.y)
    if name in POINT_LAYERS:
        assert got == want
    else:  # a polygon that only grazes the buffer may vanish when snapped to the grid
        inner = ids_meeting(seeded_sql, layer.table, layer.id_column, tile.z, tile.x, tile.y,
                            inner=True)
        assert inner <= got <= want
    assert got
    # the attributes a map needs, and no more; NULLs are left out of a tile
    fields = set(tilejson.json()["vector_layers"][0]["fields"])
    assert fields == set(TILING[name].attributes) - ({"id"} if integer_ids else set())
    for feature in features:
        assert set(feature["properties"]) <= fields
    # the values are the table's
    sample = min(features, key=lambda f: f["id"] if integer_ids else f["properties"][layer.id_column])
    key = sample["id"] if integer_ids else sample["properties"][layer.id_column]
    columns = sorted(fields)
    quoted = ", ".join(f'"{column}"' for column in columns)
    row = seeded_sql(f"SELECT {quoted} FROM {layer.table} WHERE {layer.id_column} = %s",
                     [key])[0]
    for column, value in zip(columns, row):
        if value is None:
            assert column not in sample["properties"]
        elif isinstance(value, float):
            assert sample["properties"][column] == pytest.approx(value)
        else:
            assert sample["properties"][column] == value


@pytest.mark.parametrize("name, table", [("risk_units", "risk_units"),
                                         ("monitoring_points", "monitoring_points")])
@pytest.mark.parametrize("z", [5, 8, 10])
def test_cells_add_up_to_the_true_counts(client, seeded_sql, name, table, z):
    city = seeded_sql("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                      "FROM (SELECT ST_Extent(geom) AS e FROM districts) s")[0]
    totals: Counter = Counter()
    for tile in tiles_over(city, z):
        answer = client.get(f"/tiles/{name}/{tile}.mvt")
        if z == 8:
            assert len(answer.content) < 16_000  # a z8 tile stays small
        cells = decode(answer.content).get(f"{name}_cells", {"features": []})["features"]
        for cell in cells:
            counts = cell["properties"]
            totals.update({g: counts[g] for g in (*GRADES, "total")})
            assert counts["total"] >= sum(counts[g] for g in GRADES) and counts["total"] > 0
            worst = next((g for g in GRADES if counts[g]), None)
            assert counts.get("worst_grade") == worst
    want = dict(seeded_sql(f"SELECT coalesce(grade, 'none'), count(*) FROM {table} GROUP BY 1"))
    assert totals["total"] == sum(want.values())
    assert {g: totals[g] for g in GRADES} == {g: want.get(g, 0) for g in GRADES}


def test_single_features_start_at_the_documented_zoom(client, seeded_sql):
    for name in ("risk_units", "monitoring_points"):
        start = client.get(f"/tiles/{name}.json").json()["individual_from"]
        assert start == individual_from(catalogue(client).get(name)) > 0
        tile = tile_of(108.94, 34.26, start)
        below = tile_of(108.94, 34.26, start - 1)
        assert set(get_tile(client, name, below.z, below.x, below.y)) == {f"{name}_cells"}
        assert set(get_tile(client, name, tile.z, tile.x, tile.y)) == {name}


def test_etag_304_cache_control_and_gzip(client):
    path = "/tiles/risk_units/13/6574/3265.mvt"
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    etag = plain.headers["etag"]
    assert etag.startswith('"') and plain.headers["cache-control"]
    assert "Accept-Encoding" in plain.headers["vary"]
    again = client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    weak = client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    packed = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["etag"] != etag
    assert packed.content == plain.content  # httpx undoes the gzip
    assert int(packed.headers["content-length"]) < len(plain.content)
    # either representation's tag revalidates
    assert client.get(path, headers={"If-None-Match": packed.headers["etag"]}).status_code == 304
    refused = client.get(path, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_head_answers_the_headers_of_get(client):
    path = "/tiles/risk_units/13/6574/3265.mvt"
    got = client.get(path, headers={"Accept-Encoding": "identity"})
    head = client.head(path, headers={"Accept-Encoding": "identity"})
    assert head.status_code == got.status_code == 200 and head.content == b""
    for name in ("etag", "content-type", "cache-control", "vary", "content-length"):
        assert head.headers[name] == got.headers[name], name


def test_an_empty_tile_answers_204(client):
    answer = client.get("/tiles/risk_units/14/0/0.mvt")
    assert answer.status_code == 204 and answer.content == b""
    assert answer.headers["content-type"] == MVT and answer.headers["etag"]


@pytest.mark.parametrize("path, status, words", [
    ("/tiles/risk_units/23/0/0.mvt", 400, "out of range"),
    ("/tiles/risk_units/3/8/0.mvt", 400, "column 8"),
    ("/tiles/risk_units/3/0/8.mvt", 400, "row 8"),
    ("/tiles/risk_units/a/0/0.mvt", 400, "not a whole number"),
    ("/tiles/risk_units/3/-1/0.mvt", 400, "not a whole number"),
    ("/tiles/risk_units/3/1.5/0.mvt", 400, "not a whole number"),
    ("/tiles/no_such_layer/3/0/0.mvt", 404, "unknown layer"),
    ("/tiles/risk_units_point/3/0/0.mvt", 404, "no tiles of its own"),
])
def test_bad_requests_are_refused_with_a_message(client, path, status, words):
    answer = client.get(path)
    assert answer.status_code == status
    assert words in answer.json()["description"]


def test_parse_tile_bounds():
    assert parse_tile("0", "0", "0").z == 0
    assert parse_tile("22", str(2**22 - 1), "0").x == 2**22 - 1


# -- the cache and the data versions ---------------------------------------------------------

def _unit_tile(conn) -> tuple[int, str, object]:
    uid, grade, lon, lat = conn.execute(
        "SELECT id, grade, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
        "FROM risk_units WHERE grade <> 'red' ORDER BY id LIMIT 1").fetchone()
    return uid, grade, tile_of(lon, lat, 14)


def _grade_in_tile(client, uid: int, tile) -> str | None:
    features = get_tile(client, "risk_units", tile.z, tile.x, tile.y)["risk_units"]["features"]
    return next(f["properties"].get("grade") for f in features if f["id"] == uid)


def test_a_change_from_another_connection_is_in_the_next_tile(scratch_url, settings_for):
    # every request reads the versions: the change must be in the very next tile
    with psycopg.connect(scratch_url, autocommit=True) as conn, \
            tile_client(scratch_url, settings_for, version_ttl_seconds=0) as client:
        service = client.app.state.tiles
        uid, grade, tile = _unit_tile(conn)
        assert _grade_in_tile(client, uid, tile) == grade
        hits = service.cache.hits
        assert _grade_in_tile(client, uid, tile) == grade
        assert service.cache.hits == hits + 1  # served from the cache
        conn.execute("UPDATE risk_units SET grade = 'red' WHERE id = %s", [uid])
        assert _grade_in_tile(client, uid, tile) == "red"
        # as `onemap grade` does: a manual grade and a re-grade, in another process
        with psycopg.connect(scratch_url) as cli:
            set_override(cli, uid, "blue", "test", "tester")
        assert _grade_in_tile(client, uid, tile) == "blue"


def test_points_graded_by_alarms_show_in_cells_and_points(scratch_url, settings_for):
    with psycopg.connect(scratch_url, autocommit=True) as conn, \
            tile_client(scratch_url, settings_for, version_ttl_seconds=0) as client:
        tile8 = tile_of(108.94, 34.26, 8)
        before = get_tile(client, "monitoring_points", tile8.z, tile8.x, tile8.y)
        assert all("worst_grade" not in c["properties"]
                   for c in before["monitoring_points_cells"]["features"])
        conn.execute("UPDATE monitoring_points SET grade = (ARRAY['red', 'orange', 'yellow', "
                     "'blue'])[1 + id % 4] WHERE id % 3 = 0")
        want = dict(conn.execute("SELECT grade, count(*) FROM monitoring_points "
                                 "WHERE grade IS NOT NULL GROUP BY 1").fetchall())
        totals: Counter = Counter()
        for z0 in tiles_over((107.0, 33.0, 110.5, 35.5), 6):
            for cell in get_tile(client, "monitoring_points", z0.z, z0.x, z0.y).get(
                    "monitoring_points_cells", {"features": []})["features"]:
                totals.update({g: cell["properties"][g] for g in GRADES})
        assert dict(totals) == want
        # and an alarm is in the next alarms tile
        pid, lon, lat = conn.execute("SELECT id, ST_X(geom), ST_Y(geom) FROM monitoring_points "
                                     "ORDER BY id LIMIT 1").fetchone()
        tile = tile_of(lon, lat, 12)
        assert get_tile(client, "alarms", tile.z, tile.x, tile.y) == {}
        conn.execute("INSERT INTO alarms (monitoring_point_id, grade, district_code, geom) "
                     "SELECT id, 'orange', district_code, geom FROM monitoring_points WHERE id = %s",
                     [pid])
        alarms = get_tile(client, "alarms", tile.z, tile.x, tile.y)["alarms"]["features"]
        assert [a["properties"]["grade"] for a in alarms] == ["orange"]


def test_area_views_are_new_after_refresh_and_bump(scratch_url, settings_for):
    with psycopg.connect(scratch_url, autocommit=True) as conn, \
            tile_client(scratch_url, settings_for, version_ttl_seconds=0) as client:
        if "area_risk_districts" not in catalogue(client):
            pytest.skip("no area-risk layers in this catalogue")
        code, lon, lat = conn.execute("SELECT code, ST_X(ST_PointOnSurface(geom)), "
                                      "ST_Y(ST_PointOnSurface(geom)) FROM districts "
                                      "ORDER BY code LIMIT 1").fetchone()
        tile = tile_of(lon, lat, 9)

        def red_count() -> int:
            features = get_tile(client, "area_risk_districts", tile.z, tile.x, tile.y)
            return next(f["properties"]["red"] for f in features["area_risk_districts"]["features"]
                        if f["properties"]["code"] == code)

        before = red_count()
        with conn.transaction():
            conn.execute("UPDATE risk_units SET grade = 'red' WHERE district_code = %s "
                         "AND grade <> 'red'", [code])
            conn.execute("REFRESH MATERIALIZED VIEW area_risk_districts")
            conn.execute("SELECT bump_layer_versions('area_risk_districts')")
        after = conn.execute("SELECT red FROM area_risk_districts WHERE code = %s", [code])
        assert red_count() == after.fetchone()[0] > before


def test_the_notice_of_a_change_ends_the_reuse_of_versions(scratch_url, settings_for):
    # versions reused for an hour, but the commit's notification makes the service read again
    with psycopg.connect(scratch_url, autocommit=True) as conn, \
            tile_client(scratch_url, settings_for, version_ttl_seconds=3600) as client:
        versions = client.app.state.tiles.versions
        for _ in range(100):  # the listener connects in the background
            if versions.listening:
                break
            time.sleep(0.05)
        assert versions.listening
        uid, grade, tile = _unit_tile(conn)
        assert _grade_in_tile(client, uid, tile) == grade
        reads = versions.reads
        assert _grade_in_tile(client, uid, tile) == grade
        assert versions.reads == reads  # reused: no query
        notified = versions.notified
        conn.execute("UPDATE risk_units SET grade = 'red' WHERE id = %s", [uid])
        for _ in range(100):  # the notice arrives on the listening connection
            if versions.notified > notified:
                break
            time.sleep(0.05)
        assert _grade_in_tile(client, uid, tile) == "red"


def test_invalidate_drops_a_layers_tiles(client):
    service = client.app.state.tiles
    get_tile(client, "shelters", 12, 3287, 1632)
    assert service.invalidate("shelters") >= 1
    assert service.invalidate("shelters") == 0


def test_without_the_cache_tiles_are_still_served(seeded_url, settings_for):
    with tile_client(seeded_url, settings_for, cache_bytes=0) as client:
        assert get_tile(client, "risk_units", 13, 6574, 3265)["risk_units"]["features"]
        assert len(client.app.state.tiles.cache) == 0


def test_the_cache_is_an_lru_bounded_in_bytes():
    cache = TileCache(max_bytes=10_000, max_entry_fraction=0.5)
    tiles = {n: CachedTile.of(bytes([n]) * 2_000) for n in range(6)}
    for n, tile in tiles.items():
        cache.put(("a" if n % 2 else "b", 1, n, 0, (1, 0.0), "q"), tile)
        if n == 3:
            cache.get(("b", 1, 0, 0, (1, 0.0), "q"))  # used: kept over 1 and 2
    assert cache.bytes <= 10_000
    assert cache.peek(("b", 1, 0, 0, (1, 0.0), "q")) is tiles[0]
    assert cache.peek(("a", 1, 1, 0, (1, 0.0), "q")) is None
    cache.put(("a", 1, 9, 0, (1, 0.0), "q"), CachedTile.of(b"x" * 6_000))  # above the share
    assert cache.peek(("a", 1, 9, 0, (1, 0.0), "q")) is None
    left = len(cache)
    assert cache.invalidate("a") + len(cache) == left and cache.invalidate("a") == 0
    assert all(key[0] == "b" for key in cache._entries)
    assert TileCache(0).enabled is False


def test_version_reads_are_shared_but_never_older_than_the_request():
    log: list[str] = []

    class FakeConnection:
        closed = False

        async def execute(self, query, prepare=None):
            log.append("read")
            await asyncio.sleep(0.01)
            return self

        async def fetchall(self):
            import datetime as dt
            return [("risk_units", len(log), dt.datetime(2026, 11, 23, tzinfo=dt.UTC))]

        async def close(self):
            self.closed = True

    async def scenario():
        async def connect():
            return FakeConnection()

        reader = VersionReader(connect)
        first = await reader.current()
        assert first["risk_units"][0] == 1
        # eight at once: one read for the first, the seven others share the next one
        results = await asyncio.gather(*(reader.current() for _ in range(8)))
        assert len(log) <= 3
        assert all(r["risk_units"][0] > first["risk_units"][0] for r in results)
        # while listening, a read serves until a notification comes
        cached = VersionReader(connect, ttl_seconds=3600)
        cached.listening = True
        a = await cached.current()
        assert await cached.current() is a
        cached.notified += 1
        assert await cached.current() is not a
    asyncio.run(scenario())
