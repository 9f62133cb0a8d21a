"""Tracing: a one-pixel skeleton turned into ordered pen strokes.

The skeleton's pixels are a graph (8-neighbours, minus the diagonal shortcuts of
staircases); its branches run between end points and junctions.  At each junction the
branches are paired by the straightest continuation, so a "+" becomes two crossing
strokes and a ring one closed stroke.  Tracing walks a small graph in Python, a few
hundred pixels per digit, which we accept for its clarity.

Coordinates of strokes are pixel coordinates ``[x, y] = [column, row]``.
"""

from __future__ import annotations

import numpy as np

SPUR = 2
"""Branches from a junction to a loose end with at most this many pixels are artefacts."""

JUNCTION_REACH = 3
"""Junctions joined by a branch of at most this many pixels are one crossing."""

DIRECTION_REACH = 4
"""How many pixels along a branch we look to judge its direction leaving a junction."""

STRAIGHT_ENOUGH = -0.4
"""Two branches continue each other through a junction when the cosine of their leaving
directions is below this (they leave in roughly opposite directions)."""

# Neighbour offsets (row, column), clockwise from north: N, NE, E, SE, S, SW, W, NW.
RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def trace(skeleton: np.ndarray, *, smooth: int = 1) -> list[np.ndarray]:
    """Return the skeleton's strokes as float (k, 2) ``[x, y]`` arrays (closed ones repeat
    their first point at the end): open strokes first, then closed loops."""
    graph = _Graph(np.asarray(skeleton, dtype=bool))
    strokes = graph.strokes()
    return [_smoothed(s, smooth) for s in strokes]


def _smoothed(points: np.ndarray, passes: int) -> np.ndarray:
    """Soften pixel staircases with a [1, 2, 1] / 4 filter, keeping the ends of open strokes."""
    if len(points) < 3 or passes <= 0:
        return points
    closed = len(points) > 3 and np.array_equal(points[0], points[-1])
    p = points[:-1] if closed else points
    for _ in range(passes):
        if closed:
            p = (np.roll(p, 1, axis=0) + 2 * p + np.roll(p, -1, axis=0)) / 4
        else:
            p = np.concatenate([p[:1], (p[:-2] + 2 * p[1:-1] + p[2:]) / 4, p[-1:]])
    return np.concatenate([p, p[:1]]) if closed else p


class _Graph:
    """The skeleton as a graph of pixels, with branches between end points and junctions."""

    def __init__(self, skeleton: np.ndarray):
        rows, cols = np.nonzero(skeleton)
        self.xy = np.stack([cols, rows], axis=1).astype(np.float64)  # (P, 2) [x, y]
        self.neighbours = _neighbour_lists(skeleton, rows, cols)
        self.degree = [len(n) for n in self.neighbours]

    def __repr__(self) -> str:
        return f"_Graph(pixels={len(self.xy)})"

    def strokes(self) -> list[np.ndarray]:
        """Return the ordered strokes: from loose ends, from junctions, then closed loops."""
        branches, loops, dots = self._branches()
        clusters = self._junction_clusters(branches)
        branches = _without_internal(branches, clusters)
        branches = _without_spurs(branches, clusters, self.degree)
        links = self._pair_at_junctions(branches, clusters)
        strokes = [self.xy[s] for s in _chain(branches, links, self.degree)]
        strokes += [self.xy[loop + loop[:1]] for loop in loops]
        strokes += [self.xy[[d]] for d in dots]
        return strokes

    def _branches(self) -> tuple[list[list[int]], list[list[int]], list[int]]:
        """Walk every branch between nodes (degree != 2); also return pure loops and dots."""
        degree, neighbours = self.degree, self.neighbours
        seen_edges: set[tuple[int, int]] = set()
        branches = []
        for node in range(len(degree)):
            if degree[node] == 2:
                continue
            for first in neighbours[node]:
                if (node, first) in seen_edges:
                    continue
                path = [node, first]
                seen_edges.update({(node, first), (first, node)})
                previous, current = node, first
                while degree[current] == 2:
                    a, b = neighbours[current]
                    following = b if a == previous else a
                    seen_edges.update({(current, following), (following, current)})
                    path.append(following)
                    previous, current = current, following
                branches.append(path)
        on_branch = {p for path in branches for p in path}
        loops = []
        for start in range(len(degree)):
            if degree[start] != 2 or start in on_branch:
                continue
            loop = [start]
            on_branch.add(start)
            previous, current = start, neighbours[start][0]
            while current != start:
                loop.append(current)
                on_branch.add(current)
                a, b = neighbours[current]
                previous, current = current, (b if a == previous else a)
            loops.append(loop)
        dots = [p for p in range(len(degree)) if degree[p] == 0]
        return branches, loops, dots

    def _junction_clusters(self, branches: list[list[int]]) -> dict[int, int]:
        """Map each junction pixel to a cluster id; junctions a short branch apart share one."""
        junctions = [p for p in range(len(self.degree)) if self.degree[p] >= 3]
        parent = {j: j for j in junctions}

        def root(j: int) -> int:
            while parent[j] != j:
                parent[j] = parent[parent[j]]
                j = parent[j]
            return j

        for path in branches:
            a, b = path[0], path[-1]
            if a in parent and b in parent and len(path) <= JUNCTION_REACH + 1:
                parent[root(a)] = root(b)
        return {j: root(j) for j in junctions}

    def _pair_at_junctions(
        self, branches: list[list[int]], clusters: dict[int, int]
    ) -> dict[tuple[int, int], tuple[int, int]]:
        """Link branch ends meeting at a junction, straightest continuation first."""
        ends_at: dict[int, list[tuple[int, int]]] = {}
        for b, path in enumerate(branches):
            for side, pixel in ((0, path[0]), (1, path[-1])):
                if pixel in clusters:
                    ends_at.setdefault(clusters[pixel], []).append((b, side))
        links: dict[tuple[int, int], tuple[int, int]] = {}
        for ends in ends_at.values():
            if len(ends) < 2:
                continue
            directions = np.array([self._leaving(branches[b], side) for b, side in ends])
            cosine = directions @ directions.T
            candidates = sorted(
                (cosine[i, j], i, j)
                for i in range(len(ends))
                for j in range(i + 1, len(ends))
                if ends[i][0] != ends[j][0] or len(ends) == 2
            )
            used: set[int] = set()
            for c, i, j in candidates:
                if i in used or j in used or (c > STRAIGHT_ENOUGH and len(ends) > 2):
                    continue
                used.update((i, j))
                links[ends[i]] = ends[j]
                links[ends[j]] = ends[i]
        return links

    def _leaving(self, path: list[int], side: int) -> np.ndarray:
        """Unit vector along the branch, leaving from its end ``side`` (0 start, 1 end)."""
        ordered = path if side == 0 else path[::-1]
        far = ordered[min(DIRECTION_REACH, len(ordered) - 1)]
        v = self.xy[far] - self.xy[ordered[0]]
        n = np.hypot(*v)
        return v / n if n > 0 else v


def _neighbour_lists(skeleton: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> list[list[int]]:
    """Return each skeleton pixel's neighbours, dropping a diagonal step when an
    orthogonal path of two steps joins the same pixels (the corners of staircases)."""
    h, w = skeleton.shape
    index = np.full((h + 2, w + 2), -1, dtype=np.int64)
    index[rows + 1, cols + 1] = np.arange(len(rows))
    on = index >= 0
    r, c = rows + 1, cols + 1
    columns = []
    for dr, dc in RING:
        neighbour = index[r + dr, c + dc]
        if dr != 0 and dc != 0:
            shortcut = on[r + dr, c] | on[r, c + dc]
            neighbour = np.where(shortcut, -1, neighbour)
        columns.append(neighbour)
    table = np.stack(columns, axis=1) if columns else np.zeros((0, 8), dtype=np.int64)
    return [[int(n) for n in row if n >= 0] for row in table.tolist()]


def _without_internal(branches: list[list[int]], clusters: dict[int, int]) -> list[list[int]]:
    """Drop the short branches that join two junctions of the same crossing."""
    return [
        path
        for path in branches
        if not (
            path[0] in clusters
            and path[-1] in clusters
            and clusters[path[0]] == clusters[path[-1]]
            and len(path) <= JUNCTION_REACH + 1
        )
    ]


def _without_spurs(
    branches: list[list[int]], clusters: dict[int, int], degree: list[int]
) -> list[list[int]]:
    """Drop tiny branches from a junction to a loose end, thinning artefacts, keeping at
    least two branches at every junction so no real stroke is cut."""
    count: dict[int, int] = {}
    for path in branches:
        for pixel in (path[0], path[-1]):
            if pixel in clusters:
                count[clusters[pixel]] = count.get(clusters[pixel], 0) + 1
    kept = []
    for path in sorted(branches, key=len):
        ends = (path[0], path[-1])
        junction = [clusters[p] for p in ends if p in clusters]
        loose = [p for p in ends if degree[p] == 1]
        if len(path) - 1 <= SPUR and len(junction) == 1 and loose and count[junction[0]] > 2:
            count[junction[0]] -= 1
            continue
        kept.append(path)
    return kept


def _chain(
    branches: list[list[int]],
    links: dict[tuple[int, int], tuple[int, int]],
    degree: list[int],
) -> list[list[int]]:
    """Join linked branches into strokes: first those starting at a loose end, then those
    starting at an unlinked junction end, then the remaining closed chains."""
    used = [False] * len(branches)
    strokes = []

    def walk(b: int, side: int) -> list[int]:
        pixels: list[int] = []
        while not used[b]:
            used[b] = True
            path = branches[b] if side == 0 else branches[b][::-1]
            pixels.extend(path[1:] if pixels and pixels[-1] == path[0] else path)
            other = (b, 1 - side)
            if other not in links:
                break
            b, side = links[other]
        return pixels

    starts = [(b, s) for b in range(len(branches)) for s in (0, 1) if (b, s) not in links]
    starts.sort(key=lambda e: degree[branches[e[0]][0 if e[1] == 0 else -1]] != 1)
    for b, side in starts:
        if not used[b]:
            strokes.append(walk(b, side))
    for b in range(len(branches)):
        if not used[b]:
            pixels = walk(b, 0)
            strokes.append(pixels + pixels[:1] if pixels[0] != pixels[-1] else pixels)
    return strokes
