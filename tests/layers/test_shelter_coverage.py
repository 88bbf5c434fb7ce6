"""Walking coverage with capacity and the greedy proposals, on hand-placed cells and shelters,
against figures worked out by hand; and the standards file's checks."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from layers.shelters.coverage import assign, best_sites, pairs_within
from layers.shelters.standards import StandardsError, load_standards


def _run(cells, population, sites, radius, capacity):
    cells = np.asarray(cells, dtype=float)
    sites = np.asarray(sites, dtype=float)
    tree = cKDTree(cells)
    pairs = pairs_within(tree, sites[:, 0], sites[:, 1], np.asarray(radius, dtype=float))
    return assign(np.asarray(population, dtype=float), np.asarray(capacity, dtype=float), pairs)


def test_the_nearest_cells_fill_a_shelter_first_and_the_rest_get_part_or_nothing():
    # one shelter with 150 places at x=0; cells at 10, 20, 30 m with 100 residents each
    result = _run([(10, 0), (20, 0), (30, 0)], [100, 100, 100], [(0, 0)], [500], [150])
    assert result.served.tolist() == [100, 50, 0]
    assert result.load.tolist() == [150]


def test_cells_turned_away_go_to_the_next_shelter_with_room():
    # A (20 places) at 0 m, B (100 places) at 300 m; cells at 10 m (50) and 100 m (30):
    # round 1: both ask A, the nearer gets 20; round 2: the rest ask B and get places
    result = _run([(10, 0), (100, 0)], [50, 30], [(0, 0), (300, 0)], [500, 500], [20, 100])
    assert result.served.tolist() == [50, 30]
    assert result.load.tolist() == [20, 60]
    assert result.rounds == 2


def test_residents_beyond_a_shelters_radius_get_no_place_there():
    result = _run([(0, 0), (600, 0)], [10, 10], [(0, 0)], [500], [1000])
    assert result.served.tolist() == [10, 0]
    # the radius is inclusive: a cell exactly on it is served
    assert _run([(500, 0)], [7], [(0, 0)], [500], [1000]).served.tolist() == [7]


def test_each_shelter_keeps_its_own_radius():
    # the fixed shelter (2 km) reaches the far cell, the emergency one (500 m) does not
    result = _run([(0, 0), (1500, 0)], [10, 10], [(0, 0), (100, 0)], [500, 2000], [10, 10])
    assert result.served.tolist() == [10, 10]
    assert result.load.tolist() == [10, 10]


def test_no_shelters_no_places():
    result = _run([(0, 0)], [10], np.zeros((0, 2)), [], [])
    assert result.served.tolist() == [0] and result.rounds == 0


def test_best_sites_are_greedy_not_repeated_and_stop_when_nothing_helps():
    # unsheltered: 100 at x=0, 60 at x=1000, 5 at x=2000; sites near each, capacity 80
    cells = cKDTree(np.array([(0.0, 0.0), (1000.0, 0.0), (2000.0, 0.0)]))
    left = np.array([100.0, 60.0, 5.0])
    x = np.array([10.0, 990.0, 1990.0, 5000.0])
    y = np.zeros(4)
    picks = best_sites(cells, left, x, y, radius=500, capacity=80, n=5)
    assert [(p.site, p.gain, p.total) for p in picks] == [(0, 80, 80), (1, 60, 140), (2, 5, 145)]
    # the first site's 20 left over do not bring it back: a site is proposed once
    assert len(picks) == 3


def test_best_sites_with_nothing_to_cover():
    cells = cKDTree(np.array([(0.0, 0.0)]))
    assert best_sites(cells, np.array([0.0]), np.array([0.0]), np.array([0.0]), 500, 10, 3) == []


def test_the_standards_cite_their_clauses():
    standards = load_standards()
    assert standards.per_resident_m2 == 1.5
    emergency = standards.classes["emergency"]
    assert (emergency.per_person_m2, emergency.radius_m, emergency.min_site_m2) == (1.0, 500, 1000)
    assert "GB 50413-2007" in emergency.source and "§8.2" in emergency.source
    assert standards.classes["fixed"].per_person_m2 == 2.0


@pytest.mark.parametrize("text, words", [
    ("[indicator]\nper_resident_m2 = 1.5\n", "lacks emergency, fixed, central"),
    ("[indicator]\nper_resident_m2 = -1\n[classes.emergency]\n[classes.fixed]\n[classes.central]\n",
     "indicator.per_resident_m2 must be a number above 0"),
    (("[indicator]\nper_resident_m2 = 1.5\n"
     "[classes.emergency]\nper_person_m2 = 1\nmin_site_m2 = 1\nradius_m = 0\n"),
     "lacks fixed, central"),
])
def test_a_bad_standards_file_names_the_key(tmp_path, text, words):
    path = tmp_path / "shelters.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StandardsError, match=words):
        load_standards(path)


def test_a_zero_radius_is_refused(tmp_path):
    good = load_standards()
    lines = ["[indicator]", "per_resident_m2 = 1.5"]
    for c in good.classes.values():
        radius = 0 if c.name == "fixed" else c.radius_m
        lines += [f"[classes.{c.name}]", f"per_person_m2 = {c.per_person_m2}",
                  f"min_site_m2 = {c.min_site_m2}", f"radius_m = {radius}"]
    path = tmp_path / "shelters.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(StandardsError, match="classes.fixed.radius_m must be a number above 0"):
        load_standards(path)
