"""Where rows are: the source CRS, geometry types, the city's extent, each row's district.

Coordinates in the wrong system are the commonest mistake with Chinese data (a
Gauss-Krüger file without .prj, GCJ-02 from a web map labelled WGS84, lon/lat swapped);
they all surface as rows outside the city, so that message tries to say which system
the coordinates fit.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geodata.datums import WGS84, XIAN_GK, SourceCRS, parse_crs, project_to_local
from geodata.errors import CRSNameError, ImportRejected

KINDS = {"Point": "point", "MultiPoint": "point", "LineString": "line",
         "MultiLineString": "line", "Polygon": "polygon", "MultiPolygon": "polygon"}
PLURAL = {"point": "points", "line": "lines", "polygon": "polygons"}
CITY_MARGIN_M = 1_000           # rows may lie this far beyond the districts
ENVELOPE_MARGIN_DEG = 0.5       # new district boundaries: ~50 km around the old ones
# Systems that projected Xi'an data come in, most likely first: CGCS2000 3-degree
# Gauss-Krüger zones without and with zone number, then 6-degree ones.
PROJECTED_GUESSES = (4545, 4546, 4544, 4524, 4525, 4523, 4508, 4507, 4497, 4496)


def crs_label(source: SourceCRS) -> str:
    """A short name for a CRS: `EPSG:4490`, `GCJ-02`, `BD-09`."""
    if source.web_datum:
        return {"gcj02": "GCJ-02", "bd09": "BD-09"}[source.web_datum]
    authority = source.crs.to_authority(min_confidence=90) if source.crs else None
    return ":".join(authority) if authority else (source.crs.name if source.crs else source.name)


def is_wgs84(source: SourceCRS) -> bool:
    """Coordinates that need no conversion."""
    return source.crs is not None and source.crs.equals(WGS84, ignore_axis_order=True)


def parse_crs_option(name: str) -> SourceCRS:
    """`--crs` as given; an unknown name is refused naming the parameter."""
    try:
        return parse_crs(name)
    except CRSNameError as exc:
        raise ImportRejected(f"--crs: {exc}") from exc


def choose_crs(override: SourceCRS | None, file_crs: CRS | None, file_name: str
               ) -> tuple[SourceCRS, list[str]]:
    """`--crs` wins over the file's CRS (that is how mislabelled GCJ-02 data is fixed);
    a file without a CRS is taken as WGS84, and the notes say so."""
    notes = []
    from_file = None
    if file_crs is not None:
        try:
            from_file = SourceCRS(name=file_crs.to_string(), crs=CRS.from_user_input(file_crs))
        except CRSError:
            notes.append(f"the CRS of {file_name} cannot be understood; it was ignored")
    if override is not None:
        if from_file is not None and crs_label(from_file) != crs_label(override):
            notes.append(f"--crs {crs_label(override)} used instead of the file's own "
                         f"{crs_label(from_file)}")
        return override, notes
    if from_file is not None:
        return from_file, notes
    notes.append(f"{file_name} does not say its coordinate system: taken as WGS84 (EPSG:4326); "
                 "pass --crs if it is GCJ-02 (AMap, Tencent), BD-09 (Baidu) or projected")
    return SourceCRS(name="EPSG:4326", crs=WGS84), notes


def shape_problem(geom) -> str | None:
    """Why a geometry cannot be used as it is, or None."""
    if geom is None or shapely.is_empty(geom):
        return "no geometry"
    if not shapely.is_valid(geom):
        return f"geometry is not valid: {shapely.is_valid_reason(geom)}"
    return None


def fit_type(geom, spec) -> tuple[object, str | None]:
    """The geometry in the form the layer's column takes, or why it cannot be."""
    kind = KINDS.get(geom.geom_type)
    allowed = " or ".join(PLURAL[k] for k in spec.geometry)
    if kind not in spec.geometry:
        return None, f"geometry is a {geom.geom_type}; {spec.name} takes {allowed}"
    if spec.geometry == ("point",) and geom.geom_type == "MultiPoint":
        if len(geom.geoms) != 1:
            return None, (f"geometry is a MultiPoint of {len(geom.geoms)} points; "
                          f"{spec.name} takes single points")
        return geom.geoms[0], None
    if spec.geometry == ("line",) and geom.geom_type == "MultiLineString":
        # joined only in the drawn direction: a one-way road must keep it
        line = shapely.line_merge(geom, directed=True)
        if line.geom_type != "LineString":
            return None, (f"geometry is a MultiLineString of {len(geom.geoms)} lines that do not "
                          f"join end to end; {spec.name} takes single lines: give each part a "
                          "row (and a code) of its own")
        return line, None
    if spec.multi and geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom]), None
    return geom, None


class CityExtent:
    """The area rows must lie in, and the districts they lie in."""

    def __init__(self, districts: dict[str, object], envelope: bool = False):
        self.codes = list(districts)
        self.polygons = np.array(list(districts.values()), dtype=object)
        self.tree = shapely.STRtree(self.polygons)
        self.area = self._envelope() if envelope else self._buffered_union()
        self.description = (f"more than {ENVELOPE_MARGIN_DEG:g}° from the city's districts"
                            if envelope else
                            f"more than {CITY_MARGIN_M / 1000:g} km beyond the city's districts")
        if self.area is not None:
            shapely.prepare(self.area)

    def _envelope(self):
        if not self.codes:
            return None             # nothing to compare with: any lon/lat is accepted
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons)
        m = ENVELOPE_MARGIN_DEG
        return shapely.box(minx - m, miny - m, maxx + m, maxy + m)

    def _buffered_union(self):
        if not self.codes:
            return shapely.Polygon()  # no districts: nothing can be placed
        # buffered in metres; the union is thinned first, 50 m does not matter at 1 km
        local = shapely.union_all(project_to_local(self.polygons)).simplify(50)
        back = Transformer.from_crs(XIAN_GK, WGS84, always_xy=True)
        return shapely.transform(local.buffer(CITY_MARGIN_M, quad_segs=4),
                                 lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))

    def inside(self, geoms) -> np.ndarray:
        """Which WGS84 geometries lie wholly in the extent (or are at least lon/lat)."""
        geoms = np.asarray(geoms, dtype=object)
        if self.area is None:
            lon_lat = shapely.box(-180, -90, 180, 90)
            return shapely.covered_by(geoms, lon_lat)
        return shapely.covered_by(geoms, self.area)

    def district_of(self, geoms) -> list[str | None]:
        """Each geometry's district: the one holding a point, the one with the largest
        share of a line or polygon, else the nearest (rows within the margin)."""
        geoms = np.asarray(geoms, dtype=object)
        result: list[str | None] = [None] * len(geoms)
        if not self.codes or len(geoms) == 0:
            return result
        rows, hits = self.tree.query(geoms, predicate="intersects")
        candidates: dict[int, list[int]] = {}
        for r, h in zip(rows.tolist(), hits.tolist()):
            candidates.setdefault(r, []).append(h)
        for r, found in candidates.items():
            if len(found) == 1 or geoms[r].geom_type in ("Point", "MultiPoint"):
                result[r] = self.codes[found[0]]
                continue
            parts = shapely.intersection(geoms[r], self.polygons[found])
            measure = shapely.area(parts) if shapely.area(geoms[r]) > 0 else shapely.length(parts)
            result[r] = self.codes[found[int(np.argmax(measure))]]
        missing = [i for i, code in enumerate(result) if code is None]
        if missing:
            rows, hits = self.tree.query_nearest(geoms[missing], all_matches=False)
            for r, h in zip(rows.tolist(), hits.tolist()):
                result[missing[r]] = self.codes[h]
        return result

    def crs_hint(self, source: SourceCRS, raw_points: np.ndarray) -> str:
        """For rows outside the city: which coordinate system their coordinates fit."""
        if self.area is None or len(raw_points) == 0:
            return ""
        sample = raw_points[:200]
        x, y = sample[:, 0], sample[:, 1]
        look_like_degrees = bool(np.all((np.abs(x) <= 180) & (np.abs(y) <= 90)))
        if source.is_geographic:
            if np.all((np.abs(x) <= 180) & (np.abs(y) <= 180)) and self._fits(
                    source.to_wgs84_xy(y, x)):
                return "longitude and latitude look swapped: check the columns"
            if look_like_degrees:
                return ""
            for code in PROJECTED_GUESSES:
                if self._fits(_to_wgs84(code, x, y)):
                    return (f"are these coordinates in EPSG:{code} "
                            f"({CRS.from_epsg(code).name})? pass --crs {code}")
            return ("these are not longitude/latitude: pass --crs with the EPSG code "
                    "of their coordinate system")
        if look_like_degrees:
            return (f"these look like longitude/latitude, not {crs_label(source)}: "
                    "pass --crs 4326 (or gcj02, bd09)")
        for code in PROJECTED_GUESSES:
            if code != source.crs.to_epsg() and self._fits(_to_wgs84(code, x, y)):
                return (f"are these coordinates in EPSG:{code} "
                        f"({CRS.from_epsg(code).name})? pass --crs {code}")
        return ""

    def _fits(self, lonlat) -> bool:
        points = shapely.points(np.column_stack(lonlat))
        return bool(np.mean(shapely.covered_by(points, self.area)) >= 0.5)


def _to_wgs84(epsg: int, x, y):
    transformer = Transformer.from_crs(CRS.from_epsg(epsg), WGS84, always_xy=True)
    return transformer.transform(x, y)
