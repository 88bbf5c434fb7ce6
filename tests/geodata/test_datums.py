import numpy as np
import pytest

from geodata import datums
from geodata.errors import CRSNameError

BELL_TOWER_WGS84 = (108.94258, 34.26104)


def metres(lon1, lat1, lon2, lat2):
    from pyproj import Geod

    return Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2]


def test_gcj02_offset_in_xian_is_about_half_a_kilometre():
    glon, glat = datums.wgs84_to_gcj02(*BELL_TOWER_WGS84)
    assert 400 < metres(*BELL_TOWER_WGS84, float(glon), float(glat)) < 600


def test_round_trips_stay_under_half_a_metre_over_the_city():
    rng = np.random.default_rng(1)
    lon = rng.uniform(107.6, 109.9, 2000)
    lat = rng.uniform(33.6, 34.8, 2000)
    for forward, inverse in [
        (datums.wgs84_to_gcj02, datums.gcj02_to_wgs84),
        (datums.wgs84_to_bd09, datums.bd09_to_wgs84),
        (datums.gcj02_to_bd09, datums.bd09_to_gcj02),
    ]:
        back = inverse(*forward(lon, lat))
        err = np.array([metres(a, b, c, d) for a, b, c, d in zip(lon, lat, *back)])
        assert err.max() < 0.5, forward.__name__


def test_bd09_is_further_from_wgs84_than_gcj02():
    glon, glat = datums.wgs84_to_gcj02(*BELL_TOWER_WGS84)
    blon, blat = datums.wgs84_to_bd09(*BELL_TOWER_WGS84)
    assert metres(float(glon), float(glat), float(blon), float(blat)) > 500


def test_no_offset_outside_china():
    lon, lat = datums.wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)


@pytest.mark.parametrize(
    "name, expected",
    [("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("bd09", "bd09"), ("BD-09", "bd09")],
)
def test_web_datum_names(name, expected):
    assert datums.parse_crs(name).web_datum == expected


@pytest.mark.parametrize("name", ["EPSG:4490", "4490", "cgcs2000", "EPSG:4545", "wgs84", 4326])
def test_epsg_names(name):
    assert datums.parse_crs(name).crs is not None


def test_unknown_crs_name_is_a_clear_error():
    with pytest.raises(CRSNameError, match="unknown coordinate system 'EPSG:99999'"):
        datums.parse_crs("EPSG:99999")


def test_gauss_kruger_zone_converts_to_the_right_place():
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 4545, always_xy=True).transform(*BELL_TOWER_WGS84)
    lon, lat = datums.parse_crs("EPSG:4545").to_wgs84_xy([x], [y])
    assert metres(float(lon[0]), float(lat[0]), *BELL_TOWER_WGS84) < 0.01


def test_cgcs2000_is_within_centimetres_of_wgs84():
    lon, lat = datums.parse_crs("EPSG:4490").to_wgs84_xy([108.94258], [34.26104])
    assert metres(float(lon[0]), float(lat[0]), *BELL_TOWER_WGS84) < 0.05
