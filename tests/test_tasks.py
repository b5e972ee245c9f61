"""Arithmetic and string tasks against the independent reference of SPEC §3 (tests/reference.py)."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import ARITHMETIC, MAZES, STRINGS, check_record, operand_lengths
from scipy.stats import chisquare

from interp.tasks import TASKS, default_tokenizer, get_task, stable_rng
from interp.tasks.__main__ import example_records
from interp.tasks.arithmetic import multiplication_layout
from interp.tasks.base import assemble

SPEC_TASKS = ["add", "nocarry", "carry", "sub", "mul", "copyfirst", "copy", "reverse", "capitalize",
              "capreverse", "mqar", "path", "dfs"]


def records(task, length, count, seed, split="test"):
    examples = get_task(task).sample(stable_rng(seed, task, split), count, length, exact=split == "test")
    return example_records(task, examples, default_tokenizer())


def test_registry_has_every_spec_task_with_its_token(tokenizer):
    assert list(TASKS) == SPEC_TASKS
    for name in SPEC_TASKS:
        assert tokenizer.encode(f"<{name}>") == [TASKS[name].token_id]


@pytest.mark.parametrize("task", sorted(ARITHMETIC | STRINGS | MAZES))
def test_every_length_from_1_to_64_matches_the_spec(task):
    """Lengths 1 to 64 (mqar from 3, mazes from 4), as ``python -m interp.tasks sample`` prints them."""
    first = get_task(task).min_length
    for length in range(first, 65):
        batch = records(task, length, count=6, seed=length)
        for record in batch:
            check_record(record)
            assert record["length"] == length


@given(
    task=st.sampled_from(sorted(ARITHMETIC | STRINGS)),
    length=st.integers(3, 64),
    seed=st.integers(0, 2**32 - 1),
    split=st.sampled_from(["train", "test"]),
)
def test_property_samples_match_independent_computation(task, length, seed, split):
    for record in records(task, length, count=16, seed=seed, split=split):
        check_record(record)
        assert get_task(task).min_length <= record["length"] <= length
        if split == "test":
            assert record["length"] == length


def test_spec_worked_examples():
    """The SPEC's table, a = 5839, b = 9472, re-derived by the reference (guards the reference itself)."""
    from reference import expected_arithmetic

    assert expected_arithmetic("add", "9385+2749=")[0] == "11351"
    assert expected_arithmetic("nocarry", "9385+2749=")[0] == "10240"
    assert expected_arithmetic("carry", "9385+2749=")[0] == "01111"
    assert expected_arithmetic("sub", "2749-9385=")[0] == "33630"
    assert expected_arithmetic("mul", "9385*274=")[0] == "87611+037804+0065332=8006572"
    assert expected_arithmetic("mul", "1*595=")[0] == "5+09+005=595"
    assert expected_arithmetic("mul", "12*001=")[0] == "0+00+0012=0012"
    assert expected_arithmetic("copyfirst", "9385+2749=")[0] == "9385"


def mul_records(pairs):
    """mul's generator on the given (a, b) pairs, one batch, as ``python -m interp.tasks sample`` prints them."""
    width = max(len(str(a)) for a, _ in pairs)
    a = np.array([[int(digit) for digit in str(a)[::-1].ljust(width, "0")] for a, _ in pairs])
    b = np.array([[int(digit) for digit in str(b)[::-1]] for _, b in pairs])
    counts = np.array([len(str(a)) for a, _ in pairs])
    examples = assemble(get_task("mul").token_id, multiplication_layout(a, counts, b), len(pairs))
    return example_records("mul", examples, default_tokenizer())


def test_mul_generator_gives_the_spec_examples():
    """SPEC §3's mul examples, in one batch (rows of different widths), from the generator itself."""
    batch = mul_records([(5839, 472), (1, 595), (21, 100)])
    assert [(r["prompt"], r["target"], r["length"]) for r in batch] == [
        ("<mul>9385*274=<mul>", "87611+037804+0065332=8006572", 4),
        ("<mul>1*595=<mul>", "5+09+005=595", 1),
        ("<mul>12*001=<mul>", "0+00+0012=0012", 2),
    ]


@given(st.lists(st.tuples(st.integers(1, 10**40 - 1), st.integers(100, 999)), min_size=1, max_size=8))
def test_property_mul_matches_python_integers(pairs):
    """Any a (up to 40 digits) and b (100–999), zero digits included, against the reference's Python ints."""
    for (a, b), record in zip(pairs, mul_records(pairs), strict=True):
        check_record(record)
        assert record["prompt"] == f"<mul>{str(a)[::-1]}*{str(b)[::-1]}=<mul>"


@pytest.mark.parametrize("task", sorted(ARITHMETIC - {"sub"}))
def test_train_operand_lengths_are_independent_and_uniform(task):
    L = 12
    counts = [operand_lengths(task, r["prompt"]) for r in records(task, L, 6000, seed=7, split="train")]
    first = np.array([c[0] for c in counts])
    assert chisquare(np.bincount(first, minlength=L + 1)[1:]).pvalue > 1e-3
    if task == "mul":
        assert all(c[1] == 3 for c in counts)
        return
    second = np.array([c[1] for c in counts])
    table = np.histogram2d(first, second, bins=[np.arange(1, L + 2)] * 2)[0]
    assert chisquare(table.ravel()).pvalue > 1e-3  # every pair (i, j) equally likely: independent, uniform


def test_sub_orders_independently_drawn_operands():
    """sub puts the larger operand first: (longer, shorter) digit counts follow two independent draws."""
    L = 10
    counts = [operand_lengths("sub", r["prompt"]) for r in records("sub", L, 6000, seed=8, split="train")]
    assert all(first >= second for first, second in counts)
    observed = np.zeros((L, L))
    for first, second in counts:
        observed[first - 1, second - 1] += 1
    rows, columns = np.tril_indices(L)
    expected = np.where(rows == columns, 1.0, 2.0) / L**2 * len(counts)
    assert chisquare(observed[rows, columns], expected).pvalue > 1e-3


@pytest.mark.parametrize("task", sorted(STRINGS))
def test_train_string_lengths_are_uniform(task):
    L = 20
    lengths = np.array([r["length"] for r in records(task, L, 6000, seed=3, split="train")])
    low = get_task(task).min_length
    assert lengths.min() == low and lengths.max() == L
    assert chisquare(np.bincount(lengths, minlength=L + 1)[low:]).pvalue > 1e-3


def test_letters_and_digits_are_uniform():
    text = "".join(r["prompt"][6:-7] for r in records("copy", 40, 500, seed=1))
    letters = np.array([ord(c) for c in text])
    assert chisquare(np.unique(letters, return_counts=True)[1]).pvalue > 1e-3
    assert len(set(text)) == 52


def test_same_seed_same_examples_different_seed_different():
    a = records("add", 10, 50, seed=1)
    assert a == records("add", 10, 50, seed=1)
    assert a != records("add", 10, 50, seed=2)


SNIPPET = (
    "import hashlib, numpy as np; from interp.tasks import TASKS, stable_rng; "
    "print(hashlib.sha256(b''.join(TASKS[t].sample(stable_rng(5, t), 64, 20, exact=False).tokens.tobytes() "
    "for t in TASKS)).hexdigest())"
)


def test_determinism_across_processes():
    outputs = {subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, check=True).stdout
               for _ in range(2)}
    here = hashlib.sha256(b"".join(TASKS[t].sample(stable_rng(5, t), 64, 20, exact=False).tokens.tobytes()
                                   for t in TASKS)).hexdigest()
    assert outputs == {here + "\n"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "interp.tasks", *args], capture_output=True, text=True)


def test_cli_list_names_every_task():
    result = run_cli("list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == SPEC_TASKS
    assert all(line.split()[1] in {"arithmetic", "strings", "mazes"} for line in lines)


def test_cli_sample_prints_spec_records():
    result = run_cli("sample", "mul", "--length", "7", "--count", "5", "--seed", "11")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5 and all(set(r) == {"task", "length", "prompt", "target", "scored"} for r in lines)
    for record in lines:
        check_record(record)
        assert record["length"] == 7
    train = [json.loads(line) for line in run_cli("sample", "copy", "--length", "9", "--count", "50",
                                                  "--split", "train").stdout.splitlines()]
    assert all(1 <= r["length"] <= 9 for r in train) and len({r["length"] for r in train}) > 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "addition", "--length", "3"], "unknown task 'addition'"),
        (["sample", "add", "--length", "0"], "length 0 is outside [1,"),
        (["sample", "mqar", "--length", "2"], "length 2 is outside [3,"),
        (["sample", "path", "--length", "65"], "length 65 is outside [4, 64]"),
        (["sample", "add", "--length", "3", "--count", "0"], "count must be at least 1"),
        (["sample", "add", "--length", "3", "--seed", "-1"], "non-negative"),
    ],
)
def test_cli_bad_input_is_one_clear_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
