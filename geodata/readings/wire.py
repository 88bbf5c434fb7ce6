"""Readings in PostgreSQL's binary formats, built from numpy arrays in one go.

A batch of 5,000 readings encoded value by value (psycopg's `write_row`, or a list adapted
item by item as an array parameter) took longer in Python than PostgreSQL took to store it.
Here each column is a numpy array and a whole COPY payload, or a whole array parameter, is one
structured array turned into bytes.
"""

from __future__ import annotations

import struct

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

# PostgreSQL counts time in microseconds from 2000-01-01 UTC
PG_EPOCH_MICROS = 946_684_800 * 1_000_000
DAY_MICROS = 86_400 * 1_000_000

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_READING = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("ts_len", ">i4"),
                     ("ts", ">i8"), ("value_len", ">i4"), ("value", ">f8")])


def copy_payload(ids: np.ndarray, micros: np.ndarray, values: np.ndarray) -> bytes:
    """Rows (point id, ts as microseconds since the Unix epoch, value) as a binary COPY."""
    rows = np.empty(len(ids), dtype=_READING)
    rows["fields"], rows["id_len"], rows["ts_len"], rows["value_len"] = 3, 8, 8, 8
    rows["id"], rows["ts"], rows["value"] = ids, micros - PG_EPOCH_MICROS, values
    return b"".join((_COPY_HEADER, rows.tobytes(), _COPY_TRAILER))


class BinaryArray(bytes):
    """A one-dimensional array without NULLs in PostgreSQL's binary form (pass as `%b`)."""

    oid = 0


class Int8Array(BinaryArray):
    oid = 1016


class Float8Array(BinaryArray):
    oid = 1022


class TimestamptzArray(BinaryArray):
    oid = 1185


class BoolArray(BinaryArray):
    oid = 1000


_ELEMENT = {Int8Array: (20, ">i8"), Float8Array: (701, ">f8"), TimestamptzArray: (1184, ">i8"),
            BoolArray: (16, ">u1")}


def _array(kind: type[BinaryArray], values: np.ndarray) -> BinaryArray:
    element_oid, dtype = _ELEMENT[kind]
    items = np.empty(len(values), dtype=[("len", ">i4"), ("value", dtype)])
    items["len"] = np.dtype(dtype).itemsize
    items["value"] = values
    head = struct.pack("!iiIii", 1, 0, element_oid, len(values), 1)
    return kind(head + items.tobytes())


def int8_array(values: np.ndarray) -> Int8Array:
    return _array(Int8Array, values)


def float8_array(values: np.ndarray) -> Float8Array:
    return _array(Float8Array, values)


def timestamptz_array(micros: np.ndarray) -> TimestamptzArray:
    """From microseconds since the Unix epoch."""
    return _array(TimestamptzArray, micros - PG_EPOCH_MICROS)


def bool_array(values: np.ndarray) -> BoolArray:
    return _array(BoolArray, values)


def _dumper(kind: type[BinaryArray]) -> type[Dumper]:
    class ArrayDumper(Dumper):
        format = Format.BINARY
        oid = kind.oid

        def dump(self, obj: BinaryArray) -> bytes:
            return obj

    return ArrayDumper


for _kind in _ELEMENT:
    psycopg.adapters.register_dumper(_kind, _dumper(_kind))
