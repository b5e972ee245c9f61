"""Maze tasks (SPEC §3): ``path`` (the tree path from s to t) and ``dfs`` (the depth-first search trace).

As in Cai et al., "Extrapolation by Association: Length Generalization Transfer in Transformers"
(arXiv 2506.09251), a maze is a spanning tree of part of an 8×8 grid (cell = 8·row + col, written as
the node token ``[cell + 1]``), given to the model as an adjacency list, one ``[u]:`` entry per node in
random order with u's neighbours in ascending id, followed by the query ``?[s]>[t]=``. The length of an
example is its number of nodes n (4 ≤ n ≤ 64).

Growing the tree: Wilson's algorithm. The root is a uniformly random cell. While the tree holds fewer
than n nodes, a walk starts at a uniformly random cell outside the tree and moves to uniformly random
grid neighbours until it hits the tree; its loop-erased path is added to the tree. A path that would take
the tree past n nodes contributes only its last m = n − size nodes, the ones next to the tree, so the
tree stays connected and holds exactly n nodes (this "overshoot" walk is always the last one). With
n = 64 the result is a uniform spanning tree of the grid.

Vectorisation. All mazes of a batch run in lockstep: every iteration, every unfinished maze makes one
move of its own walk, and mazes leave the active set as they finish, so the long tail of slow walks is
cheap. A maze's state is a *record*, one row of cells: the root, then each finished walk's loop-erased
path followed by the tree cell that walk hit, then the current walk's loop-erased path, kept as a stack.
With ``slot[cell]`` = where the cell was last pushed (it counts only while the record still holds the
cell there), two lookups tell whether the cell a walk steps onto is in the tree (the walk is over), on
the current path (the loop back to it is erased by cutting the stack there) or new (it is pushed). A
finished walk's path is committed to the tree as it stands; under the overshoot rule only its last m
cells count. The parent of a tree node (toward the root) is the cell after it in the record. Random
numbers are drawn in bulk: a move draws r uniform in [0, 12) and goes to neighbour r mod degree (12 is
divisible by every degree: 2, 3, 4). Starts: each maze draws a uniformly random order of the 64 cells;
the root is its first cell and each walk starts at the next cell of the order that is outside the tree.
Every earlier cell of the order is in the tree by then (each start joins it, save in the last walk),
and given everything so far the remaining cells are still in uniformly random order, so the start is
uniform among the cells outside the tree.

Start s and goal t are two distinct tree nodes drawn uniformly; the body lists the tree nodes in a
uniformly random order. Both targets are computed for the whole batch at once:

- ``path``: the tree path s → lowest common ancestor → t, from the two ancestor chains.
- ``dfs``: depth-first search from s that tries neighbours in ascending id. It emits a node when it
  enters it (s first); at a node with no unvisited neighbour it emits the node's parent (the node it was
  entered from) and continues there (the backtrack); it stops right after emitting t. In a tree of n
  nodes the trace holds at most 2n − 1 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interp.tasks.base import Layout, Piece, register_task
from interp.vocab import MAX_NODES, NODE_1, SYMBOL_ID

GRID = 8
CELLS = GRID * GRID
MIN_NODES = 4
assert CELLS == MAX_NODES


def _grid_neighbours() -> np.ndarray:
    """(64, 4) grid neighbours of every cell in ascending id (up, left, right, down), −1 off the grid."""
    cells = np.arange(CELLS)
    rows, cols = np.divmod(cells, GRID)
    moves = [(rows > 0, -GRID), (cols > 0, -1), (cols < GRID - 1, 1), (rows < GRID - 1, GRID)]
    return np.stack([np.where(inside, cells + offset, -1) for inside, offset in moves], axis=1)


NEIGHBOURS = _grid_neighbours()
WALK_CHOICES = 12
"""A walk step draws r uniform in [0, 12) and moves to neighbour r mod degree: uniform for degree 2, 3, 4."""
WALK_STEP = np.array(
    [[row[row >= 0][r % np.count_nonzero(row >= 0)] for r in range(WALK_CHOICES)] for row in NEIGHBOURS]
).ravel()
"""``WALK_STEP[cell * 12 + r]``: the cell a walk at ``cell`` moves to on draw r."""
WALK_DRAWS = 1 << 16
"""How many walk steps' random numbers are drawn at once."""
RECORD_WIDTH = 2 * CELLS
"""Room for a maze's record: the root, the walks' path cells (at most 63 distinct cells in all) and one
attachment per walk (at most 63 walks: each starts at a different cell)."""
ENTRY_TOKENS = np.concatenate(
    [
        NODE_1 + np.arange(CELLS)[:, None],
        np.full((CELLS, 1), SYMBOL_ID[":"]),
        NODE_1 + NEIGHBOURS,  # the off-grid slots are never emitted
        np.full((CELLS, 1), SYMBOL_ID[";"]),
    ],
    axis=1,
)
"""(64, 7) every token a cell's adjacency-list entry ``[u]:[v]…;`` can hold; the tree picks which."""


@dataclass(frozen=True)
class Mazes:
    """A batch of mazes. Cells are 0-based (token ``[cell + 1]``); arrays have one row per maze.

    ``in_tree`` (B, 64) marks the tree's cells; ``parent`` (B, 64) is each tree cell's neighbour toward
    the root (−1 at the root and off the tree); ``edges`` (B, 64, 4) marks which of ``NEIGHBOURS`` are tree
    neighbours; ``listing`` (B, 64) is the order of the body's entries (tree cells first, in random order);
    ``start`` and ``goal`` are s and t; ``size`` is n.
    """

    size: np.ndarray
    in_tree: np.ndarray
    parent: np.ndarray
    edges: np.ndarray
    listing: np.ndarray
    start: np.ndarray
    goal: np.ndarray


def grow_trees(rng: np.random.Generator, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilson trees of ``sizes[b]`` nodes on the grid, all grown in lockstep: ``(in_tree, parent)``.

    Each maze writes a *record* (a row of ``record``): the root, then each walk's loop-erased path
    followed by the tree cell the walk hit (the path's attachment). The record before ``commit`` is the
    tree; from ``commit`` to ``top`` it is the current walk's path, used as a stack. ``slot[cell]`` is
    where the cell was last pushed, and counts only while the record still holds the cell there, at or
    before ``top``: two lookups tell whether a cell is in the tree, on the path, or neither. Stepping
    onto the path erases the loop by cutting the stack back to the cell; hitting the tree writes the
    attachment after the path and commits both. A walk's first move jumps to its start instead: the
    next cell in the maze's random order, skipped (an empty walk) when the tree already holds it.
    """
    walks = Walks.start(rng, sizes)
    draws, used = rng.integers(0, WALK_CHOICES, WALK_DRAWS), 0
    while len(walks.maze):
        active = len(walks.maze)
        if used + active > len(draws):
            draws, used = rng.integers(0, WALK_CHOICES, WALK_DRAWS), 0
        walks.step(draws[used : used + active])
        used += active
    return walks.trees()


class Walks:
    """The records of every maze (:func:`grow_trees`) and the state of the unfinished ones' walks."""

    def __init__(self, start_order: np.ndarray, sizes: np.ndarray) -> None:
        count = len(start_order)
        self.every_maze = np.arange(count)
        self.order_flat = np.pad(start_order, ((0, 0), (0, 1))).reshape(-1)  # a spare column past the last start
        self.record = np.zeros((count, RECORD_WIDTH), dtype=np.int64)
        self.record[:, 0] = start_order[:, 0]  # the root
        self.record_flat = self.record.reshape(-1)
        # positions in ``record_flat``; stale ones fail the check
        self.slot = np.repeat(self.every_maze * RECORD_WIDTH, CELLS)
        # A finished maze's tree: the nodes (not the attachments) in record_flat[base : tree_end], except
        # record_flat[cut_from : cut_to], the part of an overshooting last path that is left out.
        self.tree_end, self.cut_from, self.cut_to = (np.zeros(count, dtype=np.int64) for _ in range(3))
        # The state of the active (unfinished) mazes, one entry per maze.
        self.maze = self.every_maze
        self.base = self.maze * RECORD_WIDTH  # the maze's record in ``record_flat``
        self.cell_base = self.maze * CELLS  # its cells in ``slot``
        self.next_start = self.maze * (CELLS + 1) + 1  # its next start in ``order_flat``
        self.cell = start_order[:, 0].copy()
        self.top = self.base.copy()
        self.commit = self.base + 1
        self.missing = np.asarray(sizes, dtype=np.int64) - 1  # nodes the tree still lacks
        self.restart = np.ones(count, dtype=bool)  # the walk hit the tree: the next move jumps to a new start

    @classmethod
    def start(cls, rng: np.random.Generator, sizes: np.ndarray) -> Walks:
        return cls(rng.permuted(np.tile(np.arange(CELLS), (len(sizes), 1)), axis=1), sizes)

    def step(self, choices: np.ndarray) -> None:
        """Every active walk moves one cell (or jumps to its next start), then finished mazes retire."""
        moved = WALK_STEP[self.cell * WALK_CHOICES + choices]
        self.cell = np.where(self.restart, self.order_flat[self.next_start], moved)
        self.next_start += self.restart
        at = self.cell_base + self.cell
        written = self.slot[at]
        recorded = (written <= self.top) & (self.record_flat[written] == self.cell)
        self.restart = recorded & (written < self.commit)  # the cell is in the tree
        self.top = np.where(recorded & ~self.restart, written, self.top + 1)  # erase the loop, or push the cell
        self.record_flat[self.top] = self.cell  # after a hit: the attachment
        self.slot[at] = np.where(self.restart, written, self.top)
        path_length = np.where(self.restart, self.top - self.commit, 0)
        self.missing -= path_length
        self.commit = np.where(self.restart, self.top + 1, self.commit)
        finished = self.missing <= 0
        if finished.any():
            self.retire(finished, path_length)

    def retire(self, finished: np.ndarray, path_length: np.ndarray) -> None:
        """Close the finished mazes' trees: only the last ``path_length + missing`` nodes of an overshooting
        path (those next to the tree) join it."""
        done = self.maze[finished]
        self.tree_end[done] = self.top[finished]
        self.cut_from[done] = self.top[finished] - path_length[finished]
        self.cut_to[done] = self.cut_from[done] - self.missing[finished]
        unfinished = ~finished
        for name in ("maze", "base", "cell_base", "next_start", "cell", "top", "commit", "missing", "restart"):
            setattr(self, name, getattr(self, name)[unfinished])

    def trees(self) -> tuple[np.ndarray, np.ndarray]:
        """``(in_tree, parent)`` of every maze, read from the records."""
        count = len(self.every_maze)
        width = (self.tree_end - self.every_maze * RECORD_WIDTH).max() + 1  # through the last attachment
        record = self.record[:, :width]
        position = (self.every_maze * RECORD_WIDTH)[:, None] + np.arange(width)
        joined = (
            (self.slot[(self.every_maze * CELLS)[:, None] + record] == position)  # a node (not an attachment, nor stale)
            & (position < self.tree_end[:, None])
            & ~((position >= self.cut_from[:, None]) & (position < self.cut_to[:, None]))
        )
        row, column = np.nonzero(joined)
        in_tree = np.zeros((count, CELLS), dtype=bool)
        in_tree[row, record[row, column]] = True
        parent = np.full((count, CELLS), -1, dtype=np.int64)
        child = column > 0  # every node but the root: its parent follows it in the record
        parent[row[child], record[row[child], column[child]]] = record[row[child], column[child] + 1]
        return in_tree, parent


def tree_edges(in_tree: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """(B, 64, 4): whether ``NEIGHBOURS[cell, k]`` is a tree neighbour of ``cell`` (either's parent)."""
    on_grid = NEIGHBOURS >= 0
    to_parent = parent[:, :, None] == NEIGHBOURS
    from_child = parent[:, NEIGHBOURS] == np.arange(CELLS)[:, None]
    return (to_parent | from_child) & on_grid & in_tree[:, :, None]


def draw_mazes(rng: np.random.Generator, count: int, length: int, exact: bool) -> Mazes:
    """``count`` mazes of ``length`` nodes (exact) or uniform in [4, length], with s, t and body order."""
    rows = np.arange(count)
    sizes = np.full(count, length, dtype=np.int64) if exact else rng.integers(MIN_NODES, length + 1, count)
    in_tree, parent = grow_trees(rng, sizes)
    pick = np.where(in_tree, rng.random((count, CELLS)), 2.0)
    start = pick.argmin(axis=1)
    pick[rows, start] = 2.0
    goal = pick.argmin(axis=1)
    listing = np.argsort(np.where(in_tree, rng.random((count, CELLS)), 2.0), axis=1)
    return Mazes(sizes, in_tree, parent, tree_edges(in_tree, parent), listing, start, goal)


def node_tokens(cells: np.ndarray) -> np.ndarray:
    """Token ids of 0-based cells: cell c is node ``[c + 1]``."""
    return NODE_1 + cells


def body_pieces(mazes: Mazes) -> list[Piece]:
    """The adjacency list ``[u]:[v]…;`` in ``listing`` order, then ``?[s]>[t]=``."""
    count = len(mazes.size)
    rows = np.arange(count)[:, None]
    listing = mazes.listing[:, : mazes.size.max()]
    in_tree = mazes.in_tree[rows, listing, None]
    emitted = np.concatenate([in_tree, in_tree, mazes.edges[rows, listing], in_tree], axis=2).reshape(-1)
    lengths = emitted.reshape(count, -1).sum(axis=1)
    width = lengths.max()
    # The b-th row's emitted tokens go to columns 0, 1, … of row b: shift their running index.
    shift = rows[:, 0] * width - (np.cumsum(lengths) - lengths)
    adjacency = np.zeros(count * width, dtype=np.int64)
    adjacency[np.arange(lengths.sum()) + np.repeat(shift, lengths)] = ENTRY_TOKENS[listing].reshape(-1)[emitted]
    query = np.stack(
        [
            np.full(count, SYMBOL_ID["?"]),
            node_tokens(mazes.start),
            np.full(count, SYMBOL_ID[">"]),
            node_tokens(mazes.goal),
            np.full(count, SYMBOL_ID["="]),
        ],
        axis=1,
    )
    return [Piece(adjacency.reshape(count, width), lengths), Piece(query)]


def ancestor_chains(parent: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(B, 64): each cell, its parent, its parent's parent, … up to the root, then −1."""
    rows = np.arange(len(cells))
    parent = np.pad(parent, ((0, 0), (0, 1)), constant_values=-1)  # column −1: the parent of −1 is −1
    chains = np.full((len(cells), CELLS), -1, dtype=np.int64)
    chains[:, 0] = cells
    for step in range(1, CELLS):
        chains[:, step] = parent[rows, chains[:, step - 1]]
        if (chains[:, step] < 0).all():
            break
    return chains


def tree_paths(mazes: Mazes) -> tuple[np.ndarray, np.ndarray]:
    """The tree path from s to t, s and t included: cells (B, width) and node counts (B,).

    The path climbs from s to the lowest common ancestor of s and t (the first of s's ancestors that is
    also one of t's), then descends t's ancestor chain back to t.
    """
    rows = np.arange(len(mazes.size))[:, None]
    from_start = ancestor_chains(mazes.parent, mazes.start)
    from_goal = ancestor_chains(mazes.parent, mazes.goal)
    above_goal = np.zeros((len(rows), CELLS + 1), dtype=bool)  # column −1 stands for −1
    above_goal[rows, from_goal] = True
    above_goal[:, -1] = False
    climb = above_goal[rows, from_start].argmax(axis=1)[:, None]  # steps from s up to the common ancestor
    descent = (from_goal == from_start[rows, climb]).argmax(axis=1)[:, None]  # from t up to it
    lengths = (climb + descent + 1)[:, 0]
    position = np.arange(lengths.max())
    climbing = position <= climb
    chain_index = np.maximum(np.where(climbing, position, climb + descent - position), 0)
    cells = np.where(
        climbing,
        np.take_along_axis(from_start, chain_index, axis=1),
        np.take_along_axis(from_goal, chain_index, axis=1),
    )
    return cells, lengths


def dfs_traces(mazes: Mazes) -> tuple[np.ndarray, np.ndarray]:
    """The DFS trace from s, cut right after t (B, width) and its node counts (B,), all mazes in lockstep."""
    count = len(mazes.size)
    trace = np.zeros((count, 2 * CELLS - 1), dtype=np.int64)
    trace[:, 0] = mazes.start
    lengths = np.ones(count, dtype=np.int64)
    visited = np.zeros((count, CELLS + 1), dtype=bool)
    visited[:, -1] = True  # the off-grid neighbour −1 counts as visited
    entered_from = np.full((count, CELLS), -1, dtype=np.int64)
    maze, cell = np.arange(count), mazes.start.copy()
    visited[maze, cell] = True
    while len(maze):
        neighbours = NEIGHBOURS[cell]
        unvisited = mazes.edges[maze, cell] & ~visited[maze[:, None], neighbours]
        enters = unvisited.any(axis=1)
        first = neighbours[np.arange(len(maze)), unvisited.argmax(axis=1)]
        following = np.where(enters, first, entered_from[maze, cell])
        visited[maze[enters], following[enters]] = True
        entered_from[maze[enters], following[enters]] = cell[enters]
        trace[maze, lengths[maze]] = following
        lengths[maze] += 1
        searching = following != mazes.goal[maze]
        maze, cell = maze[searching], following[searching]
    return trace[:, : lengths.max()], lengths


def maze_layout(mazes: Mazes, target_cells: np.ndarray, target_lengths: np.ndarray) -> Layout:
    """The body of ``mazes`` and the target (node cells, scored), with the maze size as the length."""
    return Layout(
        body=body_pieces(mazes),
        target=[Piece(node_tokens(target_cells), target_lengths, scored=True)],
        length=mazes.size,
    )


@register_task(
    "path", domain="mazes", description="the tree path from s to t in a maze", min_length=MIN_NODES,
    max_length=MAX_NODES,
)
def path(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    mazes = draw_mazes(rng, count, length, exact)
    return maze_layout(mazes, *tree_paths(mazes))


@register_task(
    "dfs", domain="mazes", description="the depth-first search trace from s until t in a maze",
    min_length=MIN_NODES, max_length=MAX_NODES,
)
def dfs(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    mazes = draw_mazes(rng, count, length, exact)
    return maze_layout(mazes, *dfs_traces(mazes))
