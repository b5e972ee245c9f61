"""Micro runs shared by the correlation, seeds and analyses tests, built once per test session.

Five runs of 120 steps with a checkpoint every 30 (steps 0, 30, 60, 90, 120): the tiny group (copy ≤ 4 +
reverse ≤ 8) with seeds 0 and 1, the tiny control group (reverse ≤ 4 + copy ≤ 8) with seeds 0 and 1, and
a NoPE run of the tiny group; every checkpoint evaluated with 32 examples per length. Under pytest-xdist
the workers share one folder: each run is built under its own file lock, a worker first takes the runs
no other worker is building and then waits for the rest, so two workers train in parallel and nothing is
trained twice.

Head-reuse analyses per checkpoint are computed by ``interp.head_overlap`` through ``interp.correlate``
(two methods, 8 examples, lengths 3 and 6). :func:`write_fake_analysis` writes hand-made records of the
same shape (maps drawn at random, the reuse scores computed from them) with the checkpoint's fingerprint,
for tests that need known values.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from conftest import TINY_GROUP, train_micro

from interp.correlate import AnalysisRequest, analysis_path, collect_series
from interp.evaluate import evaluation_lengths
from interp.reuse.record import HeadReuseRecord
from interp.run import checkpoint_fingerprint, checkpoint_steps, read_config
from interp.runs import evaluations
from interp.stats import spearman
from interp.storage import write_json

CONTROL_GROUP = Path(__file__).parent / "groups" / "tiny_control.toml"
RUNS = {  # name: (group, seed, positional)
    "tiny_s0": (TINY_GROUP, 0, "rope"),
    "tiny_s1": (TINY_GROUP, 1, "rope"),
    "control_s0": (CONTROL_GROUP, 0, "rope"),
    "control_s1": (CONTROL_GROUP, 1, "rope"),
    "tiny_nope_s0": (TINY_GROUP, 0, "nope"),
}
STEPS, CHECKPOINT_EVERY = 120, 30
EVAL_COUNT = 32
METHODS = ("ablation_mean", "attention")
"""The head-reuse methods the tests ask for (few, to stay fast)."""
ANALYSIS_COUNT, ANALYSIS_LENGTHS = 8, [3, 6]
UNLEARNED_OK = 0.0
"""The micro runs learn nothing in 120 steps (every task far below 90% on its training lengths), so tests of
the plumbing downstream of ``learned`` and competence set these thresholds to 0 and count every checkpoint
(``REQUEST`` and ``ANALYSIS_OPTIONS``); tests of the exclusions themselves use the defaults."""
REQUEST = AnalysisRequest(METHODS, ANALYSIS_COUNT, ANALYSIS_LENGTHS, progress=False, competence=UNLEARNED_OK)
ANALYSIS_OPTIONS = ["--methods", *METHODS, "--count", str(ANALYSIS_COUNT), "--lengths", *map(str, ANALYSIS_LENGTHS),
                    "--eval-count", str(EVAL_COUNT), "--device", "cpu", "--quiet",
                    "--learned-threshold", str(UNLEARNED_OK), "--competence", str(UNLEARNED_OK)]
"""The same request on a command line."""


def shared_folder(tmp_path_factory, name: str) -> Path:
    """A folder every xdist worker of this session sees (the session's own folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build_all(folder: Path, names: list[str], build: Callable[[str], None], stage: str) -> None:
    """``build(name)`` for every name not yet built, each under a lock; parallel across workers."""
    waiting = []
    for name in names:
        if not with_lock(folder, name, build, stage, blocking=False):
            waiting.append(name)
    for name in waiting:
        with_lock(folder, name, build, stage, blocking=True)


def with_lock(folder: Path, name: str, build: Callable[[str], None], stage: str, blocking: bool) -> bool:
    done = folder / f".{name}.{stage}.done"
    with open(folder / f".{name}.{stage}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        if not done.exists():
            build(name)
            done.touch()
    return True


def trained_runs(tmp_path_factory) -> Path:
    """The folder holding the five micro runs, trained and evaluated at every checkpoint."""
    folder = shared_folder(tmp_path_factory, "micro_runs")

    def train(name: str) -> None:
        group, seed, positional = RUNS[name]
        run = train_micro(folder / name, group, seed, STEPS, positional, checkpoint_every=CHECKPOINT_EVERY,
                          eval_every=STEPS)
        evaluations(run, checkpoint_steps(run), EVAL_COUNT)

    build_all(folder, list(RUNS), train, "trained")
    return folder


def analysed_runs(tmp_path_factory) -> Path:
    """The micro runs with a head-reuse analysis at every checkpoint, computed the way ``interp.correlate``
    computes missing ones (``collect_series`` → ``head_overlap.analyze``)."""
    folder = trained_runs(tmp_path_factory)
    build_all(folder, list(RUNS), lambda name: collect_series(folder / name, name, None, REQUEST, EVAL_COUNT),
              "analysed")
    return folder


def write_fake_analysis(run_dir: Path, step: int, methods=METHODS, count: int = ANALYSIS_COUNT,
                        lengths: list[int] | None = None, seed: int = 0) -> HeadReuseRecord:
    """A per-step record of ``head_overlap``'s documented shape, fresh for the checkpoint on disk."""
    config = read_config(run_dir)
    group, shape = config.group, (config.model.n_layers, config.model.n_heads)
    rng = np.random.default_rng([seed, config.seed, step])
    maps = {method: {task: rng.random(shape) for task in group.task_names} for method in methods}
    reuse = {method: {f"{group.main.task}|{aux.task}": pair_scores(maps[method][group.main.task],
                                                                    maps[method][aux.task])
                      for aux in group.aux} for method in methods}
    for pairs in reuse.get("attention", {}).values():  # the paper's attention difference has one score
        pairs["difference"] = pairs["mean_abs_diff"]
    record = {
        "step": step, "n_layers": shape[0], "n_heads": shape[1], "group": group.name, "main_task": group.main.task,
        "tasks": list(group.task_names), "task_lengths": {}, "pair_lengths": {}, "intervals": {}, "logprob_maps": {},
        "clean_accuracy": {}, "control": None, "notes": [],
        "maps": {method: {task: values.tolist() for task, values in by_task.items()} for method, by_task in maps.items()},
        "maps_by_length": {},
        "reuse": reuse,
        "settings": {"methods": list(methods), "count": count,
                     "lengths": evaluation_lengths(group, lengths or ANALYSIS_LENGTHS), "seed": 0,
                     "checkpoint": checkpoint_fingerprint(run_dir, step), "protocol": REQUEST.protocol,
                     "competence": REQUEST.competence},
    }
    write_json(analysis_path(run_dir, step), record)
    return HeadReuseRecord.from_json(record)


def pair_scores(first: np.ndarray, second: np.ndarray, k: int = 2) -> dict:
    top_first = set(np.argsort(-first.ravel())[:k])
    top_second = set(np.argsort(-second.ravel())[:k])
    return {"mean_abs_diff": float(np.abs(first - second).mean()),
            "spearman": spearman(first.ravel(), second.ravel()),
            "jaccard_top_k": len(top_first & top_second) / len(top_first | top_second), "k": k}
