"""`onemap import FILE.tif --layer population`: a real population raster replaces the model."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import rasterio
import shapely
from importing_helpers import rows, run
from rasterio.transform import from_origin
from typer.testing import CliRunner

from geodata.datums import project_to_local
from geodata.demo.seed import seed_database
from geodata.errors import ImportRejected
from geodata.population import RASTER_NAME, grid_over
from geodata.rasters import load_raster

ARCSEC3 = 3 / 3600
# a block over the urban core, well inside the city's districts (checked below)
WEST, NORTH, COLS, ROWS = 108.85, 34.34, 240, 192
NODATA = -99999.0


def write_tif(path, values, west=WEST, north=NORTH, res=ARCSEC3, crs="EPSG:4326",
              nodata=NODATA, bands=1):
    """A WorldPop-like GeoTIFF (float32, residents per cell) of `values`."""
    values = np.asarray(values, dtype=np.float32)
    profile = {"driver": "GTiff", "width": values.shape[1], "height": values.shape[0],
               "count": bands, "dtype": "float32", "nodata": nodata,
               "transform": from_origin(west, north, res, res)}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        for band in range(1, bands + 1):
            ds.write(values * band, band)
    return path


def residents(seed: int = 1) -> np.ndarray:
    """About 11.5 million residents (the census is 12.18 million), with no-data cells."""
    values = np.random.default_rng(seed).uniform(150, 350, (ROWS, COLS))
    values[0, :] = NODATA              # a border and a hole without data
    values[80:90, 100:120] = NODATA
    values[5:8, 5:8] = 0.0
    return values


def file_total(values) -> float:
    values = np.asarray(values, dtype=np.float32).astype(np.float64)
    return float(values[values != NODATA].sum())


def surface(url):
    """The stored population surface as (md5 of the COG, parameters, built_at)."""
    return rows(url, "SELECT md5(cog), parameters, built_at FROM rasters WHERE name = %s",
                [RASTER_NAME])


def stored(url):
    with psycopg.connect(url) as conn:
        return load_raster(conn, RASTER_NAME)


def imports(url):
    return rows(url, "SELECT layer, source, source_crs, rows, replaced, synthetic FROM imports "
                     "ORDER BY id")


def city_grid(url):
    with psycopg.connect(url) as conn:
        wkb = conn.execute("SELECT ST_AsBinary(geom) FROM districts ORDER BY code").fetchall()
    geoms = shapely.from_wkb([bytes(r[0]) for r in wkb])
    return geoms, grid_over(project_to_local(geoms))


def refused(url, path, **kw) -> ImportRejected:
    """Import expecting refusal; the surface and the import log must not change."""
    before = surface(url), imports(url)
    with pytest.raises(ImportRejected) as info:
        run(url, path, "population", **kw)
    assert (surface(url), imports(url)) == before
    return info.value


def test_the_test_block_lies_inside_the_city(base_url):
    geoms, _ = city_grid(base_url)
    block = shapely.box(WEST, NORTH - ROWS * ARCSEC3, WEST + COLS * ARCSEC3, NORTH)
    assert shapely.union_all(geoms).contains(block.buffer(0.01))


def test_import_keeps_the_file_residents_on_the_city_grid(scratch_url, tmp_path):
    values = residents()
    report = run(scratch_url, write_tif(tmp_path / "xian_pop.tif", values), "population")

    raster = stored(scratch_url)
    total = raster.values.sum(dtype=np.float64)
    assert total == pytest.approx(file_total(values), rel=1e-3)
    assert report.total == pytest.approx(file_total(values), rel=1e-6)
    _, (transform, shape) = city_grid(scratch_url)
    assert (raster.crs, raster.cell_m, raster.transform, raster.shape) == \
        ("EPSG:4545", 100.0, transform, shape)
    assert raster.parameters == {"source": "import", "file": "xian_pop.tif", "crs": "EPSG:4326",
                                 "units": "residents per cell"}
    assert raster.values.dtype == np.float32 and raster.values.min() >= 0
    assert raster.vmax == pytest.approx(np.percentile(raster.values[raster.values > 0], 99.5))
    [(layer, source, crs, cells, replaced, synthetic)] = imports(scratch_url)
    assert (layer, source, crs, replaced, synthetic) == \
        ("population", "xian_pop.tif", "EPSG:4326", 1, False)
    assert cells >= np.count_nonzero(raster.values) > 0     # the city's cells with data
    assert report.replaced == "model" and not report.dry_run
    assert sum(d.residents for d in report.districts) == pytest.approx(report.total)
    assert report.census_total == 12_183_280
    # only the core districts under the block have residents; the comparison says so
    by_code = {d.code: d for d in report.districts}
    assert by_code["610124"].residents == 0 and by_code["610124"].difference_pct == -100
    assert by_code["610103"].residents > 0
    assert "3″ × 3″" in report.cell_size and report.source_crs == "EPSG:4326"
    assert any("of the city's cells" in n for n in report.notes)


def test_coarser_projected_cells_keep_their_total(db, tmp_path):
    # 1 km cells in UTM 49N (metres), as a 30″ WorldPop product would be after projection
    values = np.random.default_rng(2).uniform(20_000, 60_000, (17, 18))
    path = write_tif(tmp_path / "utm.tif", values, west=302_000, north=3_801_000, res=1000,
                     crs="EPSG:32649")
    report = run(db, path, "population")
    assert stored(db).values.sum(dtype=np.float64) == pytest.approx(file_total(values), rel=1e-3)
    assert report.replaced is None and report.cell_size == "1000 × 1000 m"


def test_seed_replace_keeps_the_imported_surface(scratch_url, tmp_path):
    run(scratch_url, write_tif(tmp_path / "pop.tif", residents()), "population")
    before = surface(scratch_url)
    with psycopg.connect(scratch_url) as conn:
        report = seed_database(conn, replace=True, progress=False)
    assert report.population == "kept the imported population surface"
    assert surface(scratch_url) == before
    assert before[0][1]["source"] == "import"


def test_a_second_import_replaces_the_first(scratch_url, tmp_path):
    run(scratch_url, write_tif(tmp_path / "a.tif", residents(1)), "population")
    report = run(scratch_url, write_tif(tmp_path / "b.tif", residents(2)), "population")
    assert report.replaced == "import"
    assert surface(scratch_url)[0][1]["file"] == "b.tif"
    assert [r[4] for r in imports(scratch_url)] == [1, 0]


def test_dry_run_reports_and_stores_nothing(scratch_url, tmp_path):
    before = surface(scratch_url), imports(scratch_url)
    report = run(scratch_url, write_tif(tmp_path / "pop.tif", residents()), "population",
                 dry_run=True)
    assert report.dry_run and report.total == pytest.approx(file_total(residents()), rel=1e-6)
    assert report.summary().startswith("would store the population surface from pop.tif")
    assert (surface(scratch_url), imports(scratch_url)) == before
    assert before[0][0][1]["source"] == "model"


def test_a_file_without_crs_needs_crs_option(scratch_url, tmp_path):
    path = write_tif(tmp_path / "bare.tif", residents(), crs=None)
    assert "pass --crs" in str(refused(scratch_url, path))
    report = run(scratch_url, path, "population", crs="4326")
    assert report.source_crs == "EPSG:4326"
    assert surface(scratch_url)[0][1]["crs"] == "EPSG:4326"


def test_web_map_datums_cannot_be_a_raster_crs(scratch_url, tmp_path):
    path = write_tif(tmp_path / "pop.tif", residents())
    assert "a raster cannot be in GCJ-02" in str(refused(scratch_url, path, crs="gcj02"))


@pytest.mark.parametrize("edit, expected", [
    (lambda v: v.__setitem__((slice(30, 31), slice(40, 47)), np.nan),
     "7 cells around the city are NaN or infinite"),
    (lambda v: v.__setitem__((slice(50, 52), slice(60, 62)), np.inf),
     "4 cells around the city are NaN or infinite"),
    (lambda v: v.__setitem__((slice(10, 13), slice(10, 13)), -5.0),
     "9 cells around the city are negative (lowest -5) and its nodata value is -99999"),
    (lambda v: v.__setitem__(v != NODATA, v[v != NODATA] * 10),
     "is more than double the districts' census total of 12,183,280"),
    (lambda v: v.__setitem__(v != NODATA, v[v != NODATA] / 10),
     "is less than half the districts' census total of 12,183,280"),
], ids=["nan", "inf", "negative", "ten-times", "a-tenth"])
def test_bad_values_are_refused_naming_the_problem(scratch_url, tmp_path, edit, expected):
    values = residents()
    edit(values)
    message = str(refused(scratch_url, write_tif(tmp_path / "bad.tif", values)))
    assert expected in message and message.startswith("bad.tif")
    assert message.endswith("nothing was loaded")


def test_a_file_beside_another_city_is_refused(scratch_url, tmp_path):
    path = write_tif(tmp_path / "beijing.tif", residents(), west=116.3, north=40.0)
    assert "beijing.tif does not overlap the city's districts" in str(refused(scratch_url, path))


def test_a_file_with_only_nodata_over_the_city_is_refused(scratch_url, tmp_path):
    path = write_tif(tmp_path / "empty.tif", np.full((ROWS, COLS), NODATA))
    assert "empty.tif has no data over the city's districts" in str(refused(scratch_url, path))


def test_a_file_that_is_not_a_raster_is_refused(scratch_url, tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("code,name\n1,not a raster\n")
    assert "notes.tif is not a raster that can be read" in str(refused(scratch_url, path))


def test_band_1_of_several_is_used_and_said(db, tmp_path):
    values = residents()
    report = run(db, write_tif(tmp_path / "two.tif", values, bands=2), "population")
    assert "two.tif has 2 bands: band 1 was used" in report.notes
    assert report.total == pytest.approx(file_total(values), rel=1e-6)


def test_cli_prints_the_comparison_per_district(scratch_url, tmp_path, monkeypatch):
    from service.cli import app

    monkeypatch.setenv("ONEMAP_DATABASE_URL", scratch_url)
    before = surface(scratch_url)
    path = write_tif(tmp_path / "pop.tif", residents())
    result = CliRunner().invoke(app, ["import", str(path), "--layer", "population", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would store the population surface from pop.tif (EPSG:4326; cells 3″ × 3″" \
        in result.stdout
    for text in ("碑林区", "610103", "756,840", "周至县", "-100.0%", "合计 total",
                 "12,183,280", "dry run: nothing was written"):
        assert text in result.stdout
    assert surface(scratch_url) == before

    bad = write_tif(tmp_path / "bare.tif", residents(), crs=None)
    refused_run = CliRunner().invoke(app, ["import", str(bad), "--layer", "population"])
    assert refused_run.exit_code == 1
    assert "bare.tif does not say its coordinate system: pass --crs" in refused_run.stderr
    assert surface(scratch_url) == before
    listed = CliRunner().invoke(app, ["import", "--help"])
    assert "population" in listed.stdout
