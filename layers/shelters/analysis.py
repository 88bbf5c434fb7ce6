"""Shelter area per resident and walking coverage, per district, sub-district and city.

For each area: its residents (the population surface's cells whose centre it holds), its
shelters by class and their effective area, m² per resident against the indicator (default
1.5 m²), whether it meets it and by how many m² it falls short; then the share of its
residents who have a place in a shelter within walking range (`coverage`), for all
shelters together and for each class alone. Figures are rounded where they are made:
residents to whole people, areas to 0.1 m², ratios and shares to 4 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layers.shelters.coverage import Assignment, Pairs, assign, by_cell, pairs_within
from layers.shelters.inputs import Area, Shelters, Surface
from layers.shelters.standards import CLASSES, ShelterStandards


@dataclass
class Coverage:
    """Places per cell: all shelters together, and each class alone."""

    together: Assignment
    by_class: dict[str, Assignment]
    population: np.ndarray          # residents of each cell

    @property
    def unsheltered(self) -> np.ndarray:
        """Residents of each cell without a place in any shelter within walking range."""
        return self.population - self.together.served


def capacities(shelters: Shelters, standards: ShelterStandards) -> tuple[np.ndarray, np.ndarray]:
    """Each shelter's capacity (effective area / its class's m² per person) and radius."""
    per_person = np.array([standards.classes[c].per_person_m2 for c in shelters.shelter_class])
    radius = np.array([standards.classes[c].radius_m for c in shelters.shelter_class])
    return shelters.area_m2 / per_person, radius


def coverage(surface: Surface, shelters: Shelters, standards: ShelterStandards) -> Coverage:
    """Places for the residents: all shelters at once, and each class by itself."""
    capacity, radius = capacities(shelters, standards)
    pairs = by_cell(pairs_within(surface.tree, shelters.x, shelters.y, radius))
    together = assign(surface.population, capacity, pairs, ordered=True)
    by_class = {}
    for name in CLASSES:
        mine = shelters.shelter_class[pairs.site] == name
        only = Pairs(pairs.cell[mine], pairs.site[mine], pairs.distance[mine])
        by_class[name] = assign(surface.population, np.where(
            shelters.shelter_class == name, capacity, 0.0), only, ordered=True)
    return Coverage(together, by_class, surface.population)


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


@dataclass
class Sums:
    """Residents of an area, and those with a place (all shelters; each class alone)."""

    population: float
    covered: float
    by_class: dict[str, float]


def zone_sums(zone: np.ndarray, count: int, surface: Surface, cover: Coverage) -> list[Sums]:
    """`Sums` of each of `count` zones; `zone` gives each cell's zone (-1: none). One pass
    over the cells for all zones."""
    inside = zone >= 0
    z = zone[inside]

    def add(values: np.ndarray) -> np.ndarray:
        return np.bincount(z, weights=values[inside], minlength=count)

    population, covered = add(surface.population), add(cover.together.served)
    by_class = {c: add(cover.by_class[c].served) for c in CLASSES}
    return [Sums(float(population[i]), float(covered[i]),
                 {c: float(by_class[c][i]) for c in CLASSES}) for i in range(count)]


def area_figures(area: Area, sums: Sums, in_area: np.ndarray, shelters: Shelters,
                 standards: ShelterStandards) -> dict:
    """The figures of one area: `sums` of its cells, `in_area` selects its shelters."""
    population, covered = sums.population, sums.covered
    area_m2 = float(shelters.area_m2[in_area].sum())
    standard = standards.per_resident_m2
    per_resident = area_m2 / population if population > 0 else None
    classes = shelters.shelter_class[in_area]
    minimum = {c: standards.classes[c].min_site_m2 for c in CLASSES}
    undersized = int(sum(a < minimum[c] for a, c in zip(shelters.area_m2[in_area], classes)))
    return {
        "code": area.code,
        "name": area.name,
        "name_en": area.name_en,
        "district_code": area.district_code,
        "population": round(population),
        "census_population": area.census_population,
        "shelter_count": int(in_area.sum()),
        "shelters_by_class": {c: int((classes == c).sum()) for c in CLASSES},
        "undersized_shelters": undersized,
        "shelter_area_m2": round(area_m2, 1),
        "area_per_resident_m2": round(per_resident, 4) if per_resident is not None else None,
        "standard_m2": standard,
        "meets_standard": per_resident is None or per_resident >= standard,
        "deficit_m2": round(max(0.0, standard * population - area_m2), 1),
        "covered_population": round(covered),
        "uncovered_population": round(population - covered),
        "coverage": {"all": _share(covered, population),
                     **{c: _share(sums.by_class[c], population) for c in CLASSES}},
    }


@dataclass
class ShelterReport:
    districts: list[dict]
    subdistricts: list[dict]
    city: dict
    standards: dict
    coverage: Coverage

    def district(self, code: str) -> dict | None:
        return next((d for d in self.districts if d["code"] == code), None)

    def subdistricts_of(self, code: str) -> list[dict]:
        return [s for s in self.subdistricts if s["district_code"] == code]


def analyse(surface: Surface, shelters: Shelters, standards: ShelterStandards) -> ShelterReport:
    """The figures of every district and sub-district, and of the city."""
    cover = coverage(surface, shelters, standards)
    by_district = zone_sums(surface.district, len(surface.districts), surface, cover)
    by_sub = zone_sums(surface.subdistrict, len(surface.subdistricts), surface, cover)
    districts = [area_figures(a, by_district[i], shelters.district == a.code, shelters,
                              standards) for i, a in enumerate(surface.districts)]
    subdistricts = [area_figures(a, by_sub[i], shelters.subdistrict == a.code, shelters,
                                 standards) for i, a in enumerate(surface.subdistricts)]
    codes = [a.code for a in surface.districts]
    whole = zone_sums(np.where(surface.district >= 0, 0, -1), 1, surface, cover)[0]
    city_area = Area("city", "全市", "City", "", sum(a.census_population or 0
                                                   for a in surface.districts), None)
    city = area_figures(city_area, whole, np.isin(shelters.district, codes), shelters,
                        standards)
    for key in ("code", "district_code"):
        city.pop(key)
    return ShelterReport(districts, subdistricts, city, standards.describe(), cover)
