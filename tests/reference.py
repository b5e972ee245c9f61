"""Independent reference implementations of SPEC §3, used to check the generators.

Everything here works from the *text* of an example, with plain Python integers and string methods, and
shares no code with ``interp.tasks``.
"""

from __future__ import annotations

import math
import re
from collections import deque

ARITHMETIC = {"add", "nocarry", "carry", "sub", "mul", "copyfirst"}
STRINGS = {"copy", "reverse", "capitalize", "capreverse", "mqar"}
MAZES = {"path", "dfs"}
ENTRY = re.compile(r"\[(\d+)\]:((?:\[\d+\])*);")
QUERY = re.compile(r"\?\[(\d+)\]>\[(\d+)\]=")
NODE = re.compile(r"\[(\d+)\]")


def rev(digits: str) -> int:
    return int(digits[::-1])


def padded(value_digits: str, width: int) -> str:
    assert len(value_digits) <= width
    return value_digits + "0" * (width - len(value_digits))


def expected_arithmetic(task: str, body: str) -> tuple[str, int]:
    """(target, length) for an arithmetic body such as ``9385+2749=``."""
    match = re.fullmatch(r"(\d+)([+\-*])(\d+)=", body)
    assert match, body
    x, op, y = match.groups()
    assert x[-1] != "0" and y[-1] != "0", "leading (most significant) digits are non-zero"
    a, b = rev(x), rev(y)
    width = max(len(x), len(y)) + 1
    if task == "add":
        assert op == "+"
        return padded(str(a + b)[::-1], width), width - 1
    if task == "nocarry":
        assert op == "+"
        digits = "".join(str((int(x[i]) if i < len(x) else 0) + (int(y[i]) if i < len(y) else 0))[-1]
                         for i in range(width))
        return digits, width - 1
    if task == "carry":
        assert op == "+"
        flags, carry = [], 0
        for i in range(width):
            flags.append(str(carry))
            carry = ((a // 10**i) % 10 + (b // 10**i) % 10 + carry) // 10
        return "".join(flags), width - 1
    if task == "sub":
        assert op == "-" and a >= b
        return padded(str(a - b)[::-1], width), width - 1
    if task == "copyfirst":
        assert op == "+"
        return x, width - 1
    if task == "mul":
        assert op == "*" and len(y) == 3
        n = len(x)
        partials = [("0" * i) + str(a * int(y[i]))[::-1] for i in range(3)]  # no padding; 0 is "0"
        return "+".join(partials) + "=" + str(a * b)[::-1], n
    raise AssertionError(task)


def expected_string(task: str, body: str) -> str | None:
    """The target for a string task (None for mqar, checked by :func:`check_mqar`)."""
    s = body[:-1]
    assert body[-1] == ("|" if task == "mqar" else "=") and s.isalpha() and s.isascii()
    return {"copy": s, "reverse": s[::-1], "capitalize": s.swapcase(), "capreverse": s.swapcase()[::-1]}.get(task)


def check_mqar(body: str, target: str, scored: list[int]) -> None:
    s = body[:-1]
    n = len(s)
    occurrences = [s[j : j + 2] for j in range(n - 1)]  # overlapping occurrences count too
    usable = {s[i : i + 2] for i in range(n - 2) if occurrences.count(s[i : i + 2]) == 1}
    assert usable, "s is redrawn when no key exists"
    assert len(target) % 3 == 0
    queries = [target[i : i + 3] for i in range(0, len(target), 3)]
    assert len(queries) == min(math.ceil(n / 4), len(usable))
    keys = [q[:2] for q in queries]
    assert len(set(keys)) == len(keys), "keys are drawn without replacement"
    for query in queries:
        key, value = query[:2], query[2]
        assert key in usable
        assert s[s.index(key) + 2] == value
    assert scored == [0, 0, 1] * len(queries)


def nodes_of(text: str) -> list[int]:
    return [int(node) for node in NODE.findall(text)]


def parse_maze_body(body: str):
    """(adjacency {node: neighbours as listed}, listing order, s, t) of a maze BODY."""
    entries = ENTRY.findall(body)
    assert "".join(f"[{u}]:{v};" for u, v in entries) + QUERY.search(body).group(0) == body, body
    s, t = map(int, QUERY.fullmatch(body[body.index("?") :]).groups())
    listing = [int(u) for u, _ in entries]
    adjacency = {int(u): nodes_of(neighbours) for u, neighbours in entries}
    return adjacency, listing, s, t


def grid_neighbours(node):
    row, col = divmod(node - 1, 8)
    return {8 * r + c + 1 for r, c in ((row - 1, col), (row, col - 1), (row, col + 1), (row + 1, col))
            if 0 <= r < 8 and 0 <= c < 8}


def check_tree(adjacency, listing, n):
    assert len(listing) == len(set(listing)) == n, "every node is listed exactly once"
    assert all(1 <= node <= 64 for node in listing)
    edges = set()
    for u, neighbours in adjacency.items():
        assert neighbours == sorted(set(neighbours)), "neighbours in ascending id, no repeats"
        for v in neighbours:
            assert v in adjacency and u in adjacency[v], "adjacency is symmetric, within the tree"
            assert v in grid_neighbours(u), "edges join grid neighbours only"
            edges.add(frozenset((u, v)))
    assert len(edges) == n - 1
    seen, stack = {listing[0]}, [listing[0]]
    while stack:
        for v in adjacency[stack.pop()]:
            if v not in seen:
                seen.add(v)
                stack.append(v)
    assert len(seen) == n, "connected with n − 1 edges: a tree"


def bfs_path(adjacency, s, t):
    previous, queue = {s: None}, deque([s])
    while queue:
        u = queue.popleft()
        for v in adjacency[u]:
            if v not in previous:
                previous[v] = u
                queue.append(v)
    path = [t]
    while path[-1] != s:
        path.append(previous[path[-1]])
    return path[::-1]


def dfs_trace(adjacency, s, t):
    """SPEC §3 verbatim: enter the smallest unvisited neighbour, else go back where we came from."""
    trace, visited, came_from, node = [s], {s}, {}, s
    while node != t:
        unvisited = [v for v in sorted(adjacency[node]) if v not in visited]
        if unvisited:
            came_from[unvisited[0]] = node
            visited.add(unvisited[0])
            node = unvisited[0]
        else:
            node = came_from[node]
        trace.append(node)
    return trace


def check_maze(task: str, body: str, target: str, length: int) -> None:
    adjacency, listing, s, t = parse_maze_body(body)
    check_tree(adjacency, listing, length)
    assert s != t and s in adjacency and t in adjacency
    assert NODE.sub("", target) == ""
    assert nodes_of(target) == (bfs_path(adjacency, s, t) if task == "path" else dfs_trace(adjacency, s, t))


def check_record(record: dict) -> None:
    """Assert a ``python -m interp.tasks sample`` record matches SPEC §3."""
    task, prompt, target = record["task"], record["prompt"], record["target"]
    token = f"<{task}>"
    assert prompt.startswith(token) and prompt.endswith(token), prompt
    body = prompt[len(token) : -len(token)]
    if task in ARITHMETIC:
        expected, length = expected_arithmetic(task, body)
        assert target == expected, (record, expected)
        assert record["length"] == length
        assert record["scored"] == [1] * len(target)
    elif task in STRINGS:
        assert record["length"] == len(body) - 1
        if task == "mqar":
            check_mqar(body, target, record["scored"])
        else:
            assert target == expected_string(task, body)
            assert record["scored"] == [1] * len(target)
    elif task in MAZES:
        check_maze(task, body, target, record["length"])
        assert record["scored"] == [1] * len(nodes_of(target))
    else:
        raise AssertionError(f"no reference for {task}")


def operand_lengths(task: str, prompt: str) -> tuple[int, ...]:
    """Digit counts of the operands of an arithmetic prompt (for the length-distribution tests)."""
    body = prompt[len(task) + 2 : -(len(task) + 2)]
    return tuple(len(part) for part in re.split(r"[+\-*=]", body)[:2])
