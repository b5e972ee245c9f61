"""Maze tasks (SPEC §3) against independent plain-Python checks of the decoded text.

Every example is decoded to ``<bos><task>BODY<task>TARGET<eos>``, the adjacency list is parsed back into a
graph, and the tree properties, the path and the DFS trace are recomputed from it with ordinary Python
(BFS, a step-by-step DFS). Distributional checks compare the trees with the effective resistances of
the grid (a uniform spanning tree holds each edge with probability equal to its resistance) and with a
direct implementation of the SPEC's stopped Wilson procedure.
"""

import hashlib
import random
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import NODE, bfs_path, check_tree, dfs_trace, grid_neighbours, nodes_of, parse_maze_body
from scipy.stats import chi2_contingency, chisquare

from interp.tasks import TASKS, default_tokenizer, get_task, stable_rng
from interp.vocab import EOS

MAZE_TASKS = ["path", "dfs"]
EXAMPLE = re.compile(r"<bos><(path|dfs)>(.*)<\1>(.*)<eos>(?:<pad>)*")
TOKENIZER = default_tokenizer()


def parse(row_tokens):
    """(task, adjacency {node: [neighbours as listed]}, listing order, s, t, target node list)."""
    match = EXAMPLE.fullmatch(TOKENIZER.decode(row_tokens))
    assert match, TOKENIZER.decode(row_tokens)
    task, body, target = match.groups()
    adjacency, listing, s, t = parse_maze_body(body)
    assert NODE.sub("", target) == "", target
    return task, adjacency, listing, s, t, nodes_of(target)


def check_examples(task, examples, length, exact):
    for b in range(len(examples)):
        end = examples.end[b]
        row = examples.tokens[b, :end]
        assert row[-1] == EOS and (examples.tokens[b, end:] == 0).all()
        name, adjacency, listing, s, t, target = parse(examples.tokens[b])
        assert name == task
        n = examples.length[b]
        assert n == length if exact else 4 <= n <= length
        check_tree(adjacency, listing, n)
        assert s != t and s in adjacency and t in adjacency
        expected = bfs_path(adjacency, s, t) if task == "path" else dfs_trace(adjacency, s, t)
        assert target == expected
        assert target[-1] == t and target.count(t) == 1
        assert len(target) <= 2 * n - 1
        assert nodes_of(TOKENIZER.decode(row[examples.target_start[b] : end - 1])) == target
        scored = np.zeros(examples.tokens.shape[1], dtype=bool)
        scored[examples.target_start[b] : end] = True  # every target token and <eos>, nothing else
        assert (examples.scored[b] == scored).all()


def test_maze_tasks_are_registered_in_order():
    names = list(TASKS)
    assert names[-2:] == MAZE_TASKS
    for name in MAZE_TASKS:
        task = get_task(name)
        assert (task.domain, task.min_length, task.max_length) == ("mazes", 4, 64)


@settings(max_examples=30, deadline=None)
@given(
    task=st.sampled_from(MAZE_TASKS),
    length=st.integers(4, 64),
    seed=st.integers(0, 2**32 - 1),
    exact=st.booleans(),
)
def test_property_examples_match_independent_computation(task, length, seed, exact):
    examples = get_task(task).sample(np.random.default_rng(seed), 8, length, exact)
    check_examples(task, examples, length, exact)


@pytest.mark.parametrize("task", MAZE_TASKS)
@pytest.mark.parametrize("length", [4, 5, 63, 64])
def test_smallest_and_largest_mazes(task, length):
    examples = get_task(task).sample(stable_rng(length, task), 64, length, exact=True)
    check_examples(task, examples, length, exact=True)
    if length == 64:  # a spanning tree of the whole grid
        assert all(sorted(parse(row)[2]) == list(range(1, 65)) for row in examples.tokens)


@pytest.mark.parametrize("task", MAZE_TASKS)
def test_train_lengths_are_uniform(task):
    L = 24
    lengths = get_task(task).sample(stable_rng(1, task), 4000, L, exact=False).length
    assert lengths.min() == 4 and lengths.max() == L
    assert chisquare(np.bincount(lengths, minlength=L + 1)[4:]).pvalue > 1e-3


def test_same_seed_same_mazes_different_seed_different():
    def tokens(seed):
        return TASKS["dfs"].sample(np.random.default_rng(seed), 32, 40, exact=False).tokens

    assert np.array_equal(tokens(1), tokens(1))
    assert not np.array_equal(tokens(1), tokens(2))


SNIPPET = (
    "import hashlib; from interp.tasks import TASKS, stable_rng; "
    "print(hashlib.sha256(b''.join(TASKS[t].sample(stable_rng(9, t), 128, 64, exact=e).tokens.tobytes() "
    "for t in ('path', 'dfs') for e in (False, True))).hexdigest())"
)


def test_determinism_across_processes():
    here = hashlib.sha256(b"".join(TASKS[t].sample(stable_rng(9, t), 128, 64, exact=e).tokens.tobytes()
                                   for t in MAZE_TASKS for e in (False, True))).hexdigest()
    there = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, check=True).stdout
    assert there == here + "\n"


@pytest.fixture(scope="module")
def full_grid_mazes():
    """3000 mazes of 64 nodes: (adjacency, listing, s, t) each."""
    examples = TASKS["path"].sample(stable_rng(2024, "ust"), 3000, 64, exact=True)
    return [parse(row)[1:5] for row in examples.tokens]


def test_full_grid_trees_are_uniform_spanning_trees(full_grid_mazes):
    """Kirchhoff: a uniform spanning tree holds edge (u, v) with probability R_eff(u, v)."""
    laplacian = np.zeros((64, 64))
    for u in range(1, 65):
        for v in grid_neighbours(u):
            laplacian[u - 1, v - 1] = -1
        laplacian[u - 1, u - 1] = len(grid_neighbours(u))
    green = np.linalg.pinv(laplacian)
    counts = Counter(frozenset((u, v)) for adjacency, *_ in full_grid_mazes for u in adjacency for v in adjacency[u])
    trials = len(full_grid_mazes)
    worst = 0.0
    for u in range(1, 65):
        for v in grid_neighbours(u):
            p = green[u - 1, u - 1] + green[v - 1, v - 1] - 2 * green[u - 1, v - 1]
            observed = counts[frozenset((u, v))] / 2 / trials  # each edge is listed from both ends
            worst = max(worst, abs(observed - p) / np.sqrt(p * (1 - p) / trials))
    assert worst < 4.5, worst


def test_start_goal_and_listing_are_uniform(full_grid_mazes):
    starts = [s for *_, s, _ in full_grid_mazes]
    goals = [t for *_, t in full_grid_mazes]
    first_listed = [listing[0] for _, listing, _, _ in full_grid_mazes]
    for cells in (starts, goals, first_listed):
        assert chisquare(np.bincount(cells, minlength=65)[1:]).pvalue > 1e-3
    position_of_start = [listing.index(s) for _, listing, s, _ in full_grid_mazes]
    assert chisquare(np.bincount(position_of_start, minlength=64)).pvalue > 1e-3


def reference_wilson_tree(rand, n):
    """The SPEC's procedure, written directly: {node: neighbours} of a stopped Wilson tree (1-based ids)."""
    tree = {rand.randrange(64) + 1}
    edges = []
    while len(tree) < n:
        start = rand.choice(sorted(set(range(1, 65)) - tree))
        step_from, node = {}, start
        while node not in tree:
            step_from[node] = rand.choice(sorted(grid_neighbours(node)))
            node = step_from[node]
        path = [start]
        while path[-1] not in tree:
            path.append(step_from[path[-1]])
        kept = path[-(n - len(tree)) - 1 :]  # at most n − size nodes next to the tree, and the tree node
        edges += zip(kept, kept[1:], strict=False)
        tree.update(kept)
    adjacency = {node: [] for node in tree}
    for u, v in edges:
        adjacency[u].append(v)
        adjacency[v].append(u)
    return adjacency


def tree_shape(adjacency):
    """A summary that depends on the tree's growth: (number of leaves, number of grid rows it spans)."""
    leaves = sum(len(neighbours) == 1 for neighbours in adjacency.values())
    rows = {(node - 1) // 8 for node in adjacency}
    return leaves, max(rows) - min(rows) + 1


@pytest.mark.parametrize("n", [5, 12])
def test_stopped_trees_match_a_direct_implementation_of_the_spec(n):
    """The vectorised generator and the plain-Python procedure give the same distribution of shapes."""
    trials = 1500
    rand = random.Random(n)
    reference = Counter(tree_shape(reference_wilson_tree(rand, n)) for _ in range(trials))
    examples = TASKS["path"].sample(stable_rng(n, "shapes"), trials, n, exact=True)
    generated = Counter(tree_shape(parse(row)[1]) for row in examples.tokens)
    shapes = sorted(set(reference) | set(generated))
    table = np.array([[reference[s] for s in shapes], [generated[s] for s in shapes]])
    table = table[:, table.sum(axis=0) >= 10]  # keep the chi-square approximation honest
    assert chi2_contingency(table).pvalue > 1e-3

