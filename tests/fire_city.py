"""A small hand-made city for the fire-station reach (tests/layers/test_fire.py,
tests/service/test_fire_coverage.py), its figures worked out by hand here.

EPSG:4545 metres from (X0, Y0); cells of 1 km, so the 500 m smoothing of the density is one
cell (a cell's area type is its own density) and residents per cell are residents per km².
Four rows (north first), seven columns; district A (610102) is columns 0-3, B (610103)
columns 4-6. The travel parameters are those of travel.toml: detour 1.3; core (≥ 15,000 per
km²) 20 km/h, urban (≥ 5,000) 30, suburban (≥ 1,000) 40, rural 50; 300 − 60 = 240 s of
driving, so a trip of the slower end's kind reaches core 1,026 m, urban 1,538 m, suburban
2,051 m, rural 2,564 m. Built-up: at least 1,000 residents per km².

            col 0     1      2      3   |   4     5     6
    row 0   8000  16000   6000    800   |  300  6000   200
    row 1   6000  20000* 16000   3000   |  900  1200   400
    row 2   2000   6000   1000   2000   |  700   500*  1500
    row 3    500      0    100    400   |    0   800   300
    (* the stations: S1 at the centre of cell (1, 1), S2 of cell (2, 5))

S1 stands on core land: every trip from it is at 20 km/h, 1,026 m: the cells 1,000 m away
and its own: (0,1) (1,0) (1,1) (1,2) (2,1), 16000 + 6000 + 20000 + 16000 + 6000 = 64,000.

S2 stands on rural land (50 km/h); a trip takes the slower end's speed, so it depends on
the cell. Distances are 1,000 (edge neighbours), 1,414 (diagonal), 2,000, 2,236 and 2,828:
    (0,3) 2,828 > 2,564 no       (0,4) rural 2,236 yes     (0,5) urban 2,000 > 1,538 no
    (0,6) rural 2,236 yes        (1,3) suburban 2,236 > 2,051 no   (1,4) rural 1,414 yes
    (1,5) suburban 1,000 yes     (1,6) rural 1,414 yes     (2,3) suburban 2,000 ≤ 2,051 yes
    (2,4) (2,5) (2,6) (3,4) (3,5) (3,6) rural/suburban ≤ 1,414 yes   (3,3) rural 2,236 yes
13 cells (reaching into A at (2,3) and (3,3)), residents 300 + 200 + 900 + 1200 + 400 +
2000 + 700 + 500 + 1500 + 400 + 0 + 800 + 300 = 9,200 (2,400 of them in A, 6,800 in B).

The reaches do not meet: the union is 18 cells (18 km²), 73,200 residents.
    A: residents 87,800, covered 64,000 + 2,400 = 66,400; built-up 11 cells, outside the
       reach (0,0) 8000, (0,2) 6000, (1,3) 3000, (2,0) 2000, (2,2) 1000: 5 km², 20,000
       residents, five separate squares.
    B: residents 12,800, covered 6,800; built-up (0,5) (1,5) (2,6) 3 km², outside (0,5):
       1 km², 6,000 residents.
    City: 100,600 residents, 73,200 covered; built-up 14 km², 6 km² outside, 26,000.
Station areas against GB 51080-2015 §4.1.3: S1 core, first-due 5 km² ≤ 7; S2 rural (urban
edge), 13 km² ≤ 15 (over a limit of 12).
"""

from __future__ import annotations

import numpy as np
import psycopg
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from geodata.rasters import StoredRaster, store_raster
from layers.commander.fire import FireRules
from layers.commander.travel import TravelModel

X0, Y0, CELL = 580_000.0, 3_790_000.0, 1000.0
TO_WGS = Transformer.from_crs(4545, 4326, always_xy=True)
RESIDENTS = np.array([[8000, 16000, 6000, 800, 300, 6000, 200],
                      [6000, 20000, 16000, 3000, 900, 1200, 400],
                      [2000, 6000, 1000, 2000, 700, 500, 1500],
                      [500, 0, 100, 400, 0, 800, 300]], dtype=np.float32)
MODEL = TravelModel(1.3, {"core": 20.0, "urban": 30.0, "suburban": 40.0, "rural": 50.0},
                    {"core": 15000.0, "urban": 5000.0, "suburban": 1000.0}, 300.0, 60.0)
RULES = FireRules("GB 51080-2015 §4.1.3", 1000.0, 7.0, 15.0, ("suburban", "rural"))
S1_CELLS = {(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)}
S2_CELLS = {(0, 4), (0, 6), (1, 4), (1, 5), (1, 6), (2, 3), (2, 4), (2, 5), (2, 6), (3, 3),
            (3, 4), (3, 5), (3, 6)}
OUTSIDE_A = {(0, 0), (0, 2), (1, 3), (2, 0), (2, 2)}
OUTSIDE_B = {(0, 5)}


def to_wgs84(geom):
    return shapely.transform(geom, lambda c: np.column_stack(TO_WGS.transform(c[:, 0],
                                                                              c[:, 1])))


def district_box(col0: int, col1: int):
    rows = RESIDENTS.shape[0]
    return shapely.MultiPolygon([to_wgs84(shapely.box(X0 + col0 * CELL, Y0, X0 + col1 * CELL,
                                                  Y0 + rows * CELL))])


def cell_centre(row: int, col: int):
    rows = RESIDENTS.shape[0]
    return to_wgs84(shapely.Point(X0 + (col + 0.5) * CELL, Y0 + (rows - row - 0.5) * CELL))


def make_city(url: str) -> dict[str, int]:
    """Replace the districts of the database at `url` by the city; the stations' ids."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM districts")
        for code, name, col0, col1, people in (("610102", "甲区", 0, 4, 87_800),
                                               ("610103", "乙区", 4, 7, 12_800)):
            conn.execute("INSERT INTO districts (code, name, name_en, population, source, geom) "
                         "VALUES (%s, %s, %s, %s, 'test', ST_GeomFromText(%s, 4326))",
                         [code, name, f"District {name}", people,
                          district_box(col0, col1).wkt])
        ids = {}
        for code, district, row, col in (("S1", "610102", 1, 1), ("S2", "610103", 2, 5)):
            ids[code] = conn.execute(
                "INSERT INTO resources (code, name, type, district_code, people, geom) "
                "VALUES (%s, %s, 'fire_station', %s, 30, ST_GeomFromText(%s, 4326)) "
                "RETURNING id", [code, f"消防站{code}", district,
                                 cell_centre(row, col).wkt]).fetchone()[0]
        rows = RESIDENTS.shape[0]
        store_raster(conn, StoredRaster("population", RESIDENTS,
                                        from_origin(X0, Y0 + rows * CELL, CELL, CELL),
                                        "EPSG:4545", CELL, 20000.0, {"source": "test"}))
        conn.commit()
    return ids
