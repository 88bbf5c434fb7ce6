"""The risk-density surface: mass kept, peak in the core, a real COG, rebuilt on change."""

import numpy as np
import psycopg
import pytest
from pyproj import Transformer
from rasterio.io import MemoryFile

from layers import density
from layers.grading import regrade


@pytest.fixture(scope="module")
def surface(seeded_url):
    with psycopg.connect(seeded_url) as conn:
        weights = conn.execute("SELECT grade, count(*) FROM risk_units GROUP BY grade").fetchall()
        return density.compute(conn), weights


def test_the_surface_keeps_every_units_weight(surface):
    s, counts = surface
    params = density.load_parameters()
    total_weight = sum(params.weights[g] * n for g, n in counts)
    mass = float(s.values.sum()) * (params.cell_m / 1000) ** 2
    assert mass == pytest.approx(total_weight, rel=0.01)


def test_the_peak_is_in_the_urban_core(surface):
    s, _ = surface
    row, col = np.unravel_index(np.argmax(s.values), s.values.shape)
    x, y = s.transform @ (col + 0.5, row + 0.5)
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(x, y)
    bell_tower = Transformer.from_crs(4326, 4545, always_xy=True).transform(108.94258, 34.26104)
    peak = Transformer.from_crs(4326, 4545, always_xy=True).transform(lon, lat)
    assert np.hypot(peak[0] - bell_tower[0], peak[1] - bell_tower[1]) < 10_000


def test_stored_as_a_tiled_cog_with_overviews_in_web_mercator(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        s = density.rebuild(conn)
        cog = bytes(conn.execute("SELECT cog FROM rasters WHERE name = 'risk_density'").fetchone()[0])
    with MemoryFile(cog) as memfile, memfile.open() as ds:
        assert ds.crs.to_epsg() == 3857
        assert ds.profile["tiled"] and ds.overviews(1)
        assert ds.tags()["vmax"] == str(s.vmax)
        assert np.allclose(ds.read(1), s.values)


def test_grading_rebuilds_the_surface_only_when_grades_change(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        built = lambda: conn.execute("SELECT built_at FROM rasters WHERE name = 'risk_density'").fetchone()[0]
        first = built()
        regrade(conn, "test")
        assert built() == first
        conn.execute("UPDATE risk_units SET likelihood = 5, severity = 5 WHERE code = 'RU-00001'")
        report = regrade(conn, "test")
        assert report.changed == 1 and built() > first
        conn.execute("DELETE FROM risk_units WHERE code = 'RU-00002'")  # no grade changes
        rebuilt = built()
        report = regrade(conn, "test")
        assert report.changed == 0 and built() > rebuilt
