"""Documents around what PostgreSQL wrote: FeatureCollection, links, CSV.

Links keep the query string as the client sent it, byte for byte, and change only what
they must (`limit`, `offset`, `f`): a client such as QGIS sends `bbox` with 17
significant digits, and a next page must select exactly the same features.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson

from layers.catalogue import Layer

JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv"
CSV_WITH_CHARSET = "text/csv; charset=utf-8"
FORMAT_TYPES = {"json": GEOJSON, "csv": CSV}
# Excel takes a UTF-8 file for its local code page (GBK in China) unless it starts so.
UTF8_BOM = "\ufeff"


def timestamp(now: datetime | None = None) -> str:
    """The time of an answer, RFC 3339 in UTC to the second."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_name(piece: str) -> str:
    return unquote_plus(piece.split("=", 1)[0])


def rewrite_query(raw_query: str, replace: dict[str, str]) -> str:
    """`raw_query` with the parameters in `replace` set to new values (appended at the end);
    every other parameter is kept exactly as it was written."""
    kept = [piece for piece in raw_query.split("&") if piece and _query_name(piece) not in replace]
    added = [f"{quote(name, safe='')}={quote(value, safe=',:/')}"
             for name, value in replace.items()]
    return "&".join([*kept, *added])


def with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def items_url(base_url: str, layer: Layer) -> str:
    return f"{base_url}/collections/{quote(layer.name, safe='')}/items"


def collection_url(base_url: str, layer: Layer) -> str:
    return f"{base_url}/collections/{quote(layer.name, safe='')}"


def items_links(base_url: str, layer: Layer, raw_query: str, fmt: str, limit: int, offset: int,
                has_next: bool) -> list[dict[str, Any]]:
    """self, alternate format, next (when there are more), prev (past the first page),
    collection: absolute URLs that keep every filter as given."""
    url = items_url(base_url, layer)
    links = [{"href": with_query(url, raw_query), "rel": "self", "type": FORMAT_TYPES[fmt],
              "title": f"{layer.title_en}: this page"}]
    for other, media_type in FORMAT_TYPES.items():
        if other != fmt:
            links.append({"href": with_query(url, rewrite_query(raw_query, {"f": other})),
                          "rel": "alternate", "type": media_type,
                          "title": f"{layer.title_en}: this page as {other.upper()}"})
    if has_next:
        query = rewrite_query(raw_query, {"limit": str(limit), "offset": str(offset + limit)})
        links.append({"href": with_query(url, query), "rel": "next", "type": FORMAT_TYPES[fmt],
                      "title": "next page"})
    if offset > 0:
        query = rewrite_query(raw_query, {"limit": str(limit),
                                          "offset": str(max(offset - limit, 0))})
        links.append({"href": with_query(url, query), "rel": "prev", "type": FORMAT_TYPES[fmt],
                      "title": "previous page"})
    links.append({"href": collection_url(base_url, layer), "rel": "collection", "type": JSON,
                  "title": layer.title_en})
    return links


def item_links(base_url: str, layer: Layer, feature_id: str) -> list[dict[str, Any]]:
    """self and collection links of one feature."""
    return [
        {"href": f"{items_url(base_url, layer)}/{quote(feature_id, safe='')}", "rel": "self",
         "type": GEOJSON, "title": "this feature"},
        {"href": collection_url(base_url, layer), "rel": "collection", "type": JSON,
         "title": layer.title_en},
    ]


def feature_collection(features: bytes, matched: int, returned: int,
                       links: list[dict[str, Any]], now: datetime | None = None) -> bytes:
    """The FeatureCollection document around `features` (comma-joined Feature texts),
    which are copied in as they are, not parsed."""
    head = orjson.dumps({"type": "FeatureCollection", "numberMatched": matched,
                         "numberReturned": returned, "timeStamp": timestamp(now),
                         "links": links})
    # orjson writes an object as {...}: open it again to add the features last
    return b"".join((head[:-1], b',"features":[', features, b"]}"))


def csv_document(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> bytes:
    """A CSV file for spreadsheets: UTF-8 with a byte-order mark, CRLF line ends."""
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def csv_header(attribute_names: Iterable[str]) -> list[str]:
    """Columns of a CSV page: the feature id, the properties, the geometry as WKT."""
    return ["id", *attribute_names, "wkt"]


def link_header(links: list[dict[str, Any]], rels: Iterable[str] = ("next", "prev")) -> str:
    """An HTTP Link header (RFC 8288) with the links of those relations."""
    return ", ".join(f'<{link["href"]}>; rel="{link["rel"]}"'
                     for link in links if link["rel"] in set(rels))


def attachment(filename: str) -> str:
    """A Content-Disposition value naming the download."""
    return f'attachment; filename="{filename}"'
