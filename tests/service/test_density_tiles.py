"""The risk density as PNG tiles: colour where the risk is, 204 where none, ETag and 304."""

import math

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile

from layers.grading import regrade
from service.app import create_app


def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


CORE = tile_of(108.94258, 34.26104, 11)


@pytest.fixture
def client(scratch_url, settings_for):
    with TestClient(create_app(settings_for(scratch_url))) as c:
        yield c, scratch_url


def rgba(body: bytes) -> np.ndarray:
    with MemoryFile(body) as memfile, memfile.open() as ds:
        return ds.read()


def test_core_tile_is_a_coloured_png(client):
    c, _ = client
    response = c.get("/tiles/risk_density/{}/{}/{}.png".format(*CORE))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    pixels = rgba(response.content)
    assert pixels.shape == (4, 256, 256)
    assert (pixels[3] > 100).mean() > 0.5          # mostly covered in the core
    assert pixels[0].max() > 200                    # red or orange somewhere


def test_far_from_the_city_is_204(client):
    c, _ = client
    assert c.get("/tiles/risk_density/{}/{}/{}.png".format(*tile_of(100.0, 40.0, 9))).status_code == 204


@pytest.mark.parametrize("path", ["23/0/0", "3/8/0", "a/1/1", "3/-1/0"])
def test_bad_coordinates_are_400(client, path):
    c, _ = client
    response = c.get(f"/tiles/risk_density/{path}.png")
    assert response.status_code == 400 and "parameter" in response.json()


def test_etag_304_and_a_new_etag_after_grades_change(client):
    c, url = client
    path = "/tiles/risk_density/{}/{}/{}.png".format(*CORE)
    etag = c.get(path).headers["etag"]
    assert c.get(path, headers={"If-None-Match": etag}).status_code == 304
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE risk_units SET likelihood = 5, severity = 5 WHERE code = 'RU-00001'")
        regrade(conn, "test")
    response = c.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["etag"] != etag


def test_tilejson(client):
    c, _ = client
    doc = c.get("/tiles/risk_density.json").json()
    assert doc["tilejson"] == "3.0.0" and doc["tiles"][0].endswith("/tiles/risk_density/{z}/{x}/{y}.png")
    lon0, lat0, lon1, lat1 = doc["bounds"]
    assert lon0 < 108 and lon1 > 109.5 and lat0 < 33.8 and lat1 > 34.6  # the whole city
