"""The modelled population surface: whole residents that add up to the census per district."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import shapely

from geodata.boundaries import demonstration_districts
from geodata.datums import project_to_local
from geodata.demo.context import build_context
from geodata.population import (
    RASTER_NAME,
    build_raster,
    grid_over,
    whole_residents,
    zone_index,
    zone_totals,
)
from geodata.rasters import load_raster


@pytest.mark.parametrize("total", [0, 1, 7, 1_000, 1_234_567])
def test_whole_residents_sum_exactly_and_round_each_share_down_or_up(total):
    weights = np.random.default_rng(total).pareto(1.5, 5_000)
    people = whole_residents(weights, total)
    share = weights * (total / weights.sum())
    assert people.sum() == total
    assert np.array_equal(people, np.round(people)) and people.min() >= 0
    assert np.all((people >= np.floor(share - 1e-9)) & (people <= np.ceil(share + 1e-9)))


def test_whole_residents_give_sparse_cells_a_person_now_and_then():
    people = whole_residents(np.ones(200), 10)      # 0.05 of a resident per cell
    assert people.sum() == 10 and set(np.unique(people)) == {0.0, 1.0}
    assert set(np.diff(np.flatnonzero(people))) <= {19, 20, 21}      # one every twenty cells


def test_whole_residents_of_nothing_are_zeros():
    assert not whole_residents(np.zeros(5), 100).any()
    assert not whole_residents(np.ones(5), 0).any()


@pytest.fixture(scope="module")
def districts():
    return demonstration_districts().sort_values("code").reset_index(drop=True)


@pytest.fixture(scope="module")
def modelled(districts):
    return build_raster(districts, build_context(districts, seed=1).model)


def test_build_raster_sums_exactly_to_each_districts_census(districts, modelled):
    polys = project_to_local(districts.geometry.values)
    totals = zone_totals(modelled, polys)
    assert totals.tolist() == [float(p) for p in districts["population"]]
    assert modelled.values.sum(dtype=np.float64) == 12_183_280
    assert np.array_equal(modelled.values, np.round(modelled.values))
    assert modelled.values.min() >= 0


def test_build_raster_is_the_100m_grid_over_the_districts(districts, modelled):
    polys = project_to_local(districts.geometry.values)
    transform, shape = grid_over(polys)
    assert (modelled.crs, modelled.cell_m, modelled.transform, modelled.shape) == \
        ("EPSG:4545", 100.0, transform, shape)
    assert transform.c % 100 == 0 and transform.f % 100 == 0
    zones = zone_index(polys, transform, shape)
    assert not modelled.values[zones == 0].any()          # no one outside the city
    assert set(np.unique(zones[modelled.values > 0])) == set(range(1, len(polys) + 1))
    assert modelled.parameters["source"] == "model"
    positive = modelled.values[modelled.values > 0]
    assert modelled.vmax == pytest.approx(np.percentile(positive, 99.5))


def test_the_seeded_surface_adds_up_to_the_census(seeded_url):
    with psycopg.connect(seeded_url) as conn:
        stored = load_raster(conn, RASTER_NAME)
        rows = conn.execute("SELECT population, ST_AsBinary(geom) FROM districts "
                            "ORDER BY code").fetchall()
    polys = project_to_local(shapely.from_wkb([bytes(r[1]) for r in rows]))
    assert stored.parameters["source"] == "model"
    assert zone_totals(stored, polys).tolist() == [float(r[0]) for r in rows]
