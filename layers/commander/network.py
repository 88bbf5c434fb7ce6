"""The road network built from the imported roads: node ids and travel times.

Lines meet where their ends meet: ends within `SNAP_M` of each other (in the city's own
CRS, in metres) become one node, numbered from 1. Lines that cross without a shared end are
taken as bridges or tunnels and do not connect, as in routing networks as delivered. Each
road gets `source`/`target` (its first and last point's nodes), `cost_s` = length /
speed (the time from source to target, length on the ellipsoid) and `reverse_cost_s`, the
same or -1 on a one-way road (traffic goes the way the line is drawn), as pgRouting reads
them. Building needs no pgRouting; routing does (`layers.commander.routing`), and its
extension is created here when the server has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from layers.commander.routing import LOCAL_SRID

SNAP_M = 1.0

_BUILD = """
WITH ends AS (
    SELECT id, true AS first, ST_Transform(ST_StartPoint(geom), %(srid)s) AS p FROM roads
    UNION ALL
    SELECT id, false, ST_Transform(ST_EndPoint(geom), %(srid)s) FROM roads
), nodes AS (
    SELECT id, first, ST_ClusterDBSCAN(p, eps := %(snap)s, minpoints := 1) OVER () + 1 AS node
    FROM ends
), pairs AS (
    SELECT id, max(node) FILTER (WHERE first) AS source,
           max(node) FILTER (WHERE NOT first) AS target
    FROM nodes GROUP BY id
)
UPDATE roads r
SET source = p.source, target = p.target,
    cost_s = ST_Length(r.geom::geography) / (r.speed_kmh / 3.6),
    reverse_cost_s = CASE WHEN r.oneway THEN -1
                          ELSE ST_Length(r.geom::geography) / (r.speed_kmh / 3.6) END
FROM pairs p
WHERE p.id = r.id
"""

_SUMMARY = """
WITH ends AS (SELECT source AS node FROM roads UNION ALL SELECT target FROM roads),
     degree AS (SELECT node, count(*) AS n FROM ends GROUP BY node)
SELECT (SELECT count(*) FROM roads),
       (SELECT count(*) FROM degree),
       (SELECT count(*) FROM degree WHERE n = 1),
       (SELECT count(*) FROM roads WHERE oneway),
       (SELECT coalesce(sum(ST_Length(geom::geography)), 0) / 1000 FROM roads)
"""


@dataclass
class NetworkReport:
    """What was built."""

    roads: int
    nodes: int
    dead_ends: int                  # nodes with one road: ends of the network, or gaps
    oneway: int
    length_km: float
    pgrouting: str | None           # the extension's version, None when not installed
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        routing = (f"routed with pgRouting {self.pgrouting}" if self.pgrouting
                   else "not routed: pgRouting is not installed, times are estimated")
        return (f"road network: {self.roads:,} roads ({self.length_km:,.1f} km, "
                f"{self.oneway:,} one-way), {self.nodes:,} nodes, {self.dead_ends:,} dead ends; "
                f"{routing}")


def ensure_pgrouting(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """Create the pgRouting extension where the server has it: (version, why not)."""
    installed = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'pgrouting'").fetchone()
    if installed:
        return installed[0], None
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting'").fetchone()
    if not available:
        return None, ("pgRouting is not installed on the database server "
                      "(Debian: postgresql-<version>-pgrouting): times stay estimated")
    try:
        with conn.transaction():    # a savepoint: a refusal leaves the import standing
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE")
    except psycopg.errors.InsufficientPrivilege:
        return None, ("not allowed to create the pgRouting extension: ask the database's "
                      "administrator to run CREATE EXTENSION pgrouting; times stay estimated")
    version = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'pgrouting'").fetchone()[0]
    return version, None


def build_network(conn: psycopg.Connection, snap_m: float = SNAP_M) -> NetworkReport:
    """Number the roads' end nodes and time every road, in the caller's transaction."""
    with conn.transaction():
        conn.execute("LOCK TABLE roads IN SHARE ROW EXCLUSIVE MODE")
        conn.execute(_BUILD, {"srid": LOCAL_SRID, "snap": snap_m})
        roads, nodes, dead_ends, oneway, km = conn.execute(_SUMMARY).fetchone()
        version, why_not = ensure_pgrouting(conn) if roads else (None, None)
    report = NetworkReport(roads, nodes, dead_ends, oneway, float(km), version)
    if why_not:
        report.notes.append(why_not)
    if roads and dead_ends > 0.5 * nodes:
        report.notes.append("more than half the nodes are dead ends: do the lines meet at "
                            "their ends? (a line crossing another is not joined to it)")
    return report
