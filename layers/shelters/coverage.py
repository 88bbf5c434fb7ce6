"""Who can reach a shelter with room: walking coverage with capacity, and where a new
shelter would shelter the most people still without one.

Residents sit at the centres of the population raster's cells (EPSG:4545 metres). A
shelter serves the residents within its class's service radius, at most its capacity
(effective area / the class's m² per person). Residents are given places in rounds: in
each round, every cell whose residents are not all placed asks for places at its nearest
shelter that still has room, and each shelter gives its remaining places to the nearest
asking cells first (the farthest may get part of what they asked for). Cells turned away
ask the next shelter in the next round. Each round fills a shelter or places every asking
cell, so the rounds end. Distances are straight lines; walking routes are longer, which
the radius (a standard's planning figure) already allows for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

EPS = 1e-6  # residents and places below this are none (floating-point leftovers)


@dataclass
class Pairs:
    """Cell–site pairs within a site's radius, with their distance in metres."""

    cell: np.ndarray
    site: np.ndarray
    distance: np.ndarray


def pairs_within(cells: cKDTree, x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> Pairs:
    """Every (cell, site) with the cell's centre within the site's radius."""
    found = []
    for r in np.unique(radius):
        chosen = np.flatnonzero(radius == r)
        sites = cKDTree(np.column_stack([x[chosen], y[chosen]]))
        near = sites.sparse_distance_matrix(cells, float(r), output_type="ndarray")
        found.append((near["j"], chosen[near["i"]], near["v"]))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, np.zeros(0))
    cell, site, distance = (np.concatenate(parts) for parts in zip(*found))
    return Pairs(cell.astype(np.int64), site.astype(np.int64), distance)


@dataclass
class Assignment:
    served: np.ndarray      # residents of each cell given a place
    load: np.ndarray        # residents given a place at each site
    rounds: int


def by_cell(pairs: Pairs) -> Pairs:
    """The pairs ordered by cell, and for each cell its nearest site first (as `assign`
    wants them; a selection of ordered pairs stays ordered)."""
    order = np.lexsort((pairs.distance, pairs.cell))
    return Pairs(pairs.cell[order], pairs.site[order], pairs.distance[order])


def assign(population: np.ndarray, capacity: np.ndarray, pairs: Pairs,
           ordered: bool = False) -> Assignment:
    """Places for the residents of each cell at the sites of `pairs` (see the module doc);
    `ordered`: the pairs are already `by_cell`."""
    remaining = population.astype(np.float64).copy()
    load = np.zeros(len(capacity))
    served = np.zeros(len(population))
    pairs = pairs if ordered else by_cell(pairs)
    cell, site, dist = pairs.cell, pairs.site, pairs.distance
    rounds = 0
    while cell.size:
        room = capacity - load
        open_ = (remaining[cell] > EPS) & (room[site] > EPS)
        cell, site, dist = cell[open_], site[open_], dist[open_]
        if not cell.size:
            break
        first = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        c, s, d = cell[first], site[first], dist[first]
        by_site = np.lexsort((c, d, s))  # per site, nearest asking cell first
        c, s = c[by_site], s[by_site]
        asked = remaining[c]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        running = np.cumsum(asked)
        before_group = np.repeat(running[starts] - asked[starts], np.diff(np.r_[starts, len(s)]))
        ahead = running - asked - before_group  # asked by nearer cells at the same site
        take = np.clip(room[s] - ahead, 0.0, asked)
        served[c] += take
        remaining[c] -= take
        load += np.bincount(s, weights=take, minlength=len(capacity))
        rounds += 1
    return Assignment(served, load, rounds)


@dataclass
class Proposal:
    site: int               # index into the candidate sites
    gain: float             # residents it would shelter that no shelter could before
    total: float            # residents sheltered by the proposals so far, this one included


def best_sites(cells: cKDTree, unsheltered: np.ndarray, x: np.ndarray, y: np.ndarray,
               radius: float, capacity: float, n: int) -> list[Proposal]:
    """Greedy maximum coverage: up to `n` of the candidate sites (x, y), each the one that
    would shelter the most residents still without a place, nearest first, up to
    `capacity`, given the proposals before it (ties: the first site). A site is proposed
    once. Stops early when no site helps."""
    if not len(x) or n < 1:
        return []
    pairs = pairs_within(cells, x, y, np.full(len(x), float(radius)))
    shape = (len(x), len(unsheltered))
    reach = csr_matrix((np.ones(len(pairs.cell)), (pairs.site, pairs.cell)), shape=shape)
    near = csr_matrix((pairs.distance, (pairs.site, pairs.cell)), shape=shape)
    left = unsheltered.astype(np.float64).copy()
    chosen = np.zeros(len(x), dtype=bool)
    proposals: list[Proposal] = []
    total = 0.0
    for _ in range(n):
        gains = np.where(chosen, -1.0, np.minimum(reach @ left, capacity))
        best = int(np.argmax(gains))
        chosen[best] = True
        if gains[best] <= EPS:
            break
        row = slice(near.indptr[best], near.indptr[best + 1])
        cells_here, dist = near.indices[row], near.data[row]
        order = np.lexsort((cells_here, dist))
        cells_here = cells_here[order]
        asked = left[cells_here]
        take = np.clip(capacity - (np.cumsum(asked) - asked), 0.0, asked)
        left[cells_here] -= take
        total += float(take.sum())
        proposals.append(Proposal(best, float(take.sum()), total))
    return proposals
