"""Vector tiles of the one map: tile SQL per layer, tile math, the cache and its versions.

`service.routers.tiles` serves them; `layers.tiling` says what each layer's tiles hold.
"""

from service.tiles.cache import CachedTile, TileCache, content_etag, gzip_etag
from service.tiles.grid import Tile, parse_tile, tile_bounds, tile_of, tiles_over
from service.tiles.queries import QueryBook, TileQuery, build_query
from service.tiles.service import TileService
from service.tiles.tilejson import tilejson_document

__all__ = ["CachedTile", "QueryBook", "Tile", "TileCache", "TileQuery", "TileService",
           "build_query", "content_etag", "gzip_etag", "parse_tile", "tile_bounds", "tile_of",
           "tilejson_document", "tiles_over"]
