"""What the vector tiles of each layer carry: attributes, the zoom where single features start,
the aggregation cells below it, whether geometries are simplified.

Keyed by layer name; a layer of the catalogue that is not listed here gets `DEFAULT`, with
the attributes a map needs that it has (`MAP_ATTRIBUTES`). The tiles themselves are built
by `service.tiles`; this module only declares, so the style and the page can read it too.

Tiles below `individual_from` hold one point per grid cell instead of the features: the
cells are squares of the tile (`cells_per_side` to a side, so a cell never straddles two
tiles and every feature is counted in exactly one tile of a zoom), each with the number of
features of each grade, their total and the worst grade, placed at the mean position of
its features. Features that are not points are counted at one representative point: the
point itself, the middle of a line, a point on the surface of a polygon (the same point
the area-risk views count them at).
"""

from __future__ import annotations

from dataclasses import dataclass

from layers.catalogue import Attribute, Layer

MAX_ZOOM = 22          # WebMercatorQuad levels served: 0..22
EXTENT = 4096          # tile coordinate units per side
BUFFER = 64            # units of geometry kept beyond each edge (lines and polygons join)
CELLS_SUFFIX = "_cells"

# The attributes a map needs (id, name, grade, what kind of thing, where), in this order;
# a layer sends those it has, unless its settings below name others.
MAP_ATTRIBUTES = ("code", "name", "title", "grade", "category", "kind", "type", "class",
                  "level", "status", "state", "monitoring_point_id", "district_code")

# Fields of an aggregation cell, and their TileJSON types.
CELL_FIELDS: dict[str, str] = {"red": "Number", "orange": "Number", "yellow": "Number",
                               "blue": "Number", "total": "Number", "worst_grade": "String"}


@dataclass(frozen=True)
class LayerTiling:
    """Tile settings of one layer."""

    # Properties sent in tiles; None: those of MAP_ATTRIBUTES the layer has. An integer id
    # column is the feature id of the tile (not repeated as a property); a text id (the
    # codes of districts and sub-districts) is sent as a property.
    attributes: tuple[str, ...] | None = None
    # Below this zoom the tiles hold aggregation cells (layer `<name>_cells`); 0 = never.
    individual_from: int = 0
    cells_per_side: int = 16          # 4096 / 16 = 256 units: 32 px on a 512-px tile
    # Lines and polygons clipped to the tile and simplified to about a pixel before they
    # are projected; off for layers of small shapes (nothing to gain, and they would vanish).
    simplify: bool = True
    # TileJSON minzoom: None = the catalogue's minzoom (aggregated layers and the base map
    # start at 0, so that a client asks for them at every zoom).
    minzoom: int | None = None


DEFAULT = LayerTiling()

TILING: dict[str, LayerTiling] = {
    # the base map: outlines at every zoom
    "districts": LayerTiling(attributes=("code", "name"), minzoom=0),
    "subdistricts": LayerTiling(attributes=("code", "name", "kind", "district_code")),
    # 3,176 units: single features from z11 (a z11 tile of the centre holds ~1,400);
    # small lines and polygons, not simplified
    "risk_units": LayerTiling(attributes=("name", "grade", "category", "district_code"),
                              individual_from=11, simplify=False, minzoom=0),
    # 22,067 points: single from z13 (a z12 tile of the centre would hold ~3,300 points,
    # 220 kB; the z12 cells are 500 m wide, fine enough to read the network's layout)
    "monitoring_points": LayerTiling(attributes=("name", "grade", "kind", "district_code"),
                                     individual_from=13, minzoom=0),
    # the effective area sizes a shelter's circle
    "shelters": LayerTiling(attributes=("name", "class", "effective_area_m2", "district_code")),
    # residents and area: the map shades a gap by residents per km²
    "shelter_gaps": LayerTiling(attributes=("residents", "area_km2", "subdistrict_code",
                                            "district_code")),
    "candidate_sites": LayerTiling(attributes=("code", "name", "site_type", "area_m2",
                                               "district_code")),
    # the kind picks the drawing (a station's reach, the union, built-up land outside it)
    "fire_coverage": LayerTiling(attributes=("kind", "station_id", "residents", "area_km2",
                                             "district_code")),
    "resources": LayerTiling(attributes=("name", "type", "district_code")),
    "hidden_dangers": LayerTiling(attributes=("title", "level", "status", "district_code")),
    "alarms": LayerTiling(attributes=("grade", "state", "kind", "monitoring_point_id",
                                      "district_code")),
    # area risk (materialized views), when the catalogue publishes them
    "area_risk_districts": LayerTiling(
        attributes=("code", "name", "red", "orange", "yellow", "blue", "total",
                    "worst_grade", "risk_index"), minzoom=0),
    "area_risk_subdistricts": LayerTiling(
        attributes=("code", "name", "district_code", "red", "orange", "yellow", "blue",
                    "total", "worst_grade", "risk_index"), minzoom=0),
    "area_risk_grid": LayerTiling(
        attributes=("id", "red", "orange", "yellow", "blue", "total", "worst_grade",
                    "risk_index"), simplify=False, minzoom=0),
}


def tiling_of(layer: Layer) -> LayerTiling:
    """The tile settings of `layer` (DEFAULT when it has none of its own)."""
    return TILING.get(layer.name, DEFAULT)


def has_tiles(layer: Layer) -> bool:
    """Whether `layer` has tiles: a part by geometry kind is in its parent's tiles."""
    return layer.geometry_kind is None


def integer_id(layer: Layer) -> bool:
    """Whether the layer's ids are integers, sent as the feature ids of the tiles."""
    return layer.id_type == "integer"


def tile_attributes(layer: Layer) -> tuple[Attribute, ...]:
    """The layer's attributes sent as tile properties, in the order of the settings.

    Attributes the layer does not have are skipped (a table may lack a column); JSON
    objects are never sent.
    """
    wanted = tiling_of(layer).attributes
    if wanted is None:
        wanted = MAP_ATTRIBUTES
        if not integer_id(layer):
            wanted = (layer.id_column, *wanted)
    by_name = {a.name: a for a in layer.attributes}
    if layer.id_column not in by_name:  # a text id that is not an attribute of its own
        by_name[layer.id_column] = Attribute(layer.id_column, layer.id_type, "标识", "Id")
    chosen = []
    for name in dict.fromkeys(wanted):
        attribute = by_name.get(name)
        if attribute is None or attribute.type == "object":
            continue
        if name == layer.id_column and integer_id(layer):
            continue  # the feature id
        chosen.append(attribute)
    return tuple(chosen)


def field_type(attribute: Attribute) -> str:
    """TileJSON type of a property: String, Number or Boolean."""
    if attribute.type in ("integer", "number"):
        return "Number"
    if attribute.type == "boolean":
        return "Boolean"
    return "String"


def cells_layer_name(layer: Layer) -> str:
    """Name of the tile layer of the aggregation cells of `layer`."""
    return f"{layer.name}{CELLS_SUFFIX}"


def aggregated(layer: Layer) -> bool:
    """Whether low-zoom tiles of `layer` hold aggregation cells."""
    return tiling_of(layer).individual_from > 0 and any(
        a.name == "grade" for a in layer.attributes)


def individual_from(layer: Layer) -> int:
    """First zoom whose tiles hold single features (0 when there are no cells)."""
    return tiling_of(layer).individual_from if aggregated(layer) else 0


def tile_minzoom(layer: Layer) -> int:
    """The TileJSON minzoom of `layer`: where a client starts asking for its tiles."""
    setting = tiling_of(layer).minzoom
    return max(0, min(setting if setting is not None else layer.minzoom, MAX_ZOOM))


def tile_maxzoom(layer: Layer) -> int:
    """The TileJSON maxzoom: the catalogue's; clients overzoom the tiles beyond it."""
    return max(tile_minzoom(layer), min(layer.maxzoom, MAX_ZOOM))


def simplified(layer: Layer) -> bool:
    """Whether the layer's lines and polygons are clipped and simplified before projection."""
    polygonal = any(t not in ("Point", "MultiPoint") for t in layer.geometry_types)
    return polygonal and tiling_of(layer).simplify
