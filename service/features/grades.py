"""Grade statistics: counts per grade for each district, category or domain.

PostgreSQL counts (one statement, `query.grade_stats_query`); this module names the
groups from the catalogue's vocabularies and lists every group of the vocabulary, those
without units too, so a chart of the 13 districts always has 13 bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layers.catalogue import Layer
from service.features.params import GradeStatsQuery

UNGRADED = "ungraded"
TOTAL = "total"


def _counts(row: Sequence[Any], grades: tuple[str, ...]) -> dict[str, int]:
    # row: key, is_total, one count per grade, ungraded, total
    values = [int(v) for v in row[2:]]
    return {**dict(zip(grades, values)), UNGRADED: values[-2], TOTAL: values[-1]}


def _zeros(grades: tuple[str, ...]) -> dict[str, int]:
    return {**{g: 0 for g in grades}, UNGRADED: 0, TOTAL: 0}


def grade_stats_document(layer: Layer, stats: GradeStatsQuery, rows: Sequence[Sequence[Any]],
                         grades: tuple[str, ...]) -> dict[str, Any]:
    """`{"by", "groups": [{key, name, name_en, <grade>: n, ungraded, total}], "total"}`.

    Groups follow the vocabulary's order, limited to the values a filter on the same
    attribute asks for; a key the vocabulary lacks comes last with its own name.
    """
    attribute = layer.attribute(stats.column)
    counted = {row[0]: _counts(row, grades) for row in rows if not row[1]}
    total = next((_counts(row, grades) for row in rows if row[1]), _zeros(grades))
    asked = next((f.values for f in stats.filters if f.column == stats.column), None)
    keys = list(asked if asked is not None else attribute.values)
    keys += [k for k in counted if k not in keys]
    groups = []
    for key in keys:
        zh, en = attribute.label(key) or (key, key)
        groups.append({"key": key, "name": zh, "name_en": en,
                       **counted.get(key, _zeros(grades))})
    return {"by": stats.by, "groups": groups, "total": total}


def grade_stats_table(document: dict[str, Any],
                      grades: tuple[str, ...]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the CSV: one row per group, then the total."""
    counts = [*grades, UNGRADED, TOTAL]
    header = [document["by"], "name", "name_en", *counts]
    rows = [[g["key"], g["name"], g["name_en"], *(g[c] for c in counts)]
            for g in document["groups"]]
    rows.append(["", "合计", "Total", *(document["total"][c] for c in counts)])
    return header, rows
