"""The tile cache: bounded in bytes, least recently used out first, with content ETags.

A key names everything a tile depends on: layer, z, x, y, the data version of the layer's
table (read from the database, see `versions`) and the statement that made it. A change of
data gives a new version, so no request finds the old tiles again; `invalidate(layer)`
also drops them at once, to give their memory back.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

ENTRY_OVERHEAD = 240  # bytes of bookkeeping per entry (key, objects), roughly

CacheKey = tuple[str, int, int, int, Any, str]  # layer, z, x, y, version, statement


def content_etag(data: bytes) -> str:
    """A strong ETag: a hash of the tile's bytes."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def gzip_etag(etag: str) -> str:
    """The ETag of the gzipped representation of a tile with ETag `etag`."""
    return etag[:-1] + '-gz"'


@dataclass(frozen=True)
class CachedTile:
    """A tile's bytes (empty: an empty tile), its ETag and, once asked for, its gzip form."""

    data: bytes
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, data: bytes) -> CachedTile:
        return cls(data, content_etag(data))

    def with_gzip(self, gzipped: bytes) -> CachedTile:
        return replace(self, gzipped=gzipped)

    @property
    def size(self) -> int:
        return len(self.data) + len(self.gzipped or b"") + ENTRY_OVERHEAD


class TileCache:
    """An LRU of tiles, at most `max_bytes` in all; 0 turns it off."""

    def __init__(self, max_bytes: int, max_entry_fraction: float = 0.125):
        self.max_bytes = max(0, max_bytes)
        # one tile may take at most this share: a few huge tiles must not flush the rest
        self.max_entry = int(self.max_bytes * max_entry_fraction)
        self._entries: OrderedDict[CacheKey, CachedTile] = OrderedDict()
        self._by_layer: dict[str, set[CacheKey]] = {}
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> CachedTile | None:
        tile = self._entries.get(key)
        if tile is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return tile

    def peek(self, key: CacheKey) -> CachedTile | None:
        """The tile under `key`, without counting a hit or refreshing its place."""
        return self._entries.get(key)

    def put(self, key: CacheKey, tile: CachedTile) -> None:
        """Keep `tile` under `key` (replacing what was there), evicting the oldest to fit."""
        if not self.enabled:
            return
        self._discard(key)
        if tile.size > self.max_entry:
            return
        self._entries[key] = tile
        self._by_layer.setdefault(key[0], set()).add(key)
        self.bytes += tile.size
        while self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._discard(oldest)
            self.evictions += 1

    def invalidate(self, layer: str) -> int:
        """Drop every tile of `layer`; the number dropped."""
        keys = self._by_layer.pop(layer, set())
        for key in keys:
            tile = self._entries.pop(key, None)
            if tile is not None:
                self.bytes -= tile.size
        return len(keys)

    def clear(self) -> None:
        self._entries.clear()
        self._by_layer.clear()
        self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self.bytes, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses, "evictions": self.evictions}

    def _discard(self, key: CacheKey) -> None:
        tile = self._entries.pop(key, None)
        if tile is None:
            return
        self.bytes -= tile.size
        keys = self._by_layer.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_layer[key[0]]
