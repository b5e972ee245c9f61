"""Hostile input, one row per input: the command, its arguments, the exit status and a phrase the message must
contain. Every row must end in exactly one ``error: …`` line on stderr (no traceback) and leave the files
under the test's folder exactly as they were: nothing damaged, nothing half-made.

Arguments name what they need in braces (:func:`places`): ``{run}`` a copy of a finished micro run (40 steps,
checkpoints 0, 20, 40), ``{run_at_20}`` one stopped at step 20 (to resume), ``{file}`` a plain file, ``{dir}``
an empty folder, ``{unwritable}`` a folder this process cannot write, ``{tmp}`` the test's folder, and the
hostile files of :func:`write_hostile_files`. A row's ``damage`` edits its copy of the run first. Rows run
in this process (a ``main(argv)`` call) unless ``process`` is set, where the real exit path matters.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TINY_GROUP, train_micro
from micro_runs import CONTROL_GROUP, build_all, shared_folder

from interp.storage import RunLock, write_json

REPOSITORY = Path(__file__).parents[1]
MODELS = REPOSITORY / "models"
STEPS, CHECKPOINT_EVERY = 40, 20


@dataclass(frozen=True)
class Row:
    command: str
    """The module whose ``main`` runs (``interp.`` left off)."""
    args: tuple[str, ...]
    status: int
    phrase: str
    damage: Callable[[Path], None] | None = None
    """Edits ``{run}`` and ``{run_at_20}`` before the command runs."""
    process: bool = False

    def __str__(self) -> str:
        return f"{self.command} {' '.join(self.args)}"


def truncate(path: Path, keep: int = 40) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def optimizer(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step_{step:06d}.optimizer.safetensors"


def metrics_line_not_an_object(run: Path) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join([lines[0], "5\n", *lines[1:]]))


def other_shape_of_record(run: Path) -> None:
    write_json(run / "analysis" / "head_overlap.json", {"step": 40, "maps": {}, "reuse": {}})


NEW = "{tmp}/new"
TRAIN = ("--model", "micro", "--group", str(TINY_GROUP), "--seed", "0", "--quiet")
ROWS = [
    # train: everything is checked before the first step, and a refused run leaves nothing behind
    Row("train", ("--model", "micro", "--group", "{group_past_context}", "--seed", "0", "--out", NEW), 2,
        "copy is evaluated up to length 375, which takes 755 tokens, but the model's n_ctx is 512"),
    Row("train", ("--out", "{run_past_context}", "--resume"), 2, "but the model's n_ctx is 512"),
    Row("train", (*TRAIN, "--out", "{file}"), 2, "is a file, not a directory"),
    Row("train", (*TRAIN, "--out", "{file}/new"), 2, "is a file, not a directory"),
    Row("train", (*TRAIN, "--out", "{unwritable}/new"), 2, "cannot write"),
    Row("train", ("--model", "{lr_as_text}", "--group", str(TINY_GROUP), "--seed", "0", "--out", NEW), 2,
        "lr must be a finite number, got '0.1'"),
    Row("train", ("--model", "{warmup_fraction_as_text}", "--group", str(TINY_GROUP), "--seed", "0", "--out", NEW), 2,
        "warmup_fraction must be a finite number"),
    Row("train", ("--model", "{rotary_base_as_text}", "--group", str(TINY_GROUP), "--seed", "0", "--out", NEW), 2,
        "rotary_base must be a finite number"),
    Row("train", ("--model", "{norm_eps_as_text}", "--group", str(TINY_GROUP), "--seed", "0", "--out", NEW), 2,
        "norm_eps must be a finite number"),
    Row("train", ("--model", "{not_utf8}", "--group", str(TINY_GROUP), "--seed", "0", "--out", NEW), 2,
        "is not UTF-8 text"),
    Row("train", ("--model", "micro", "--group", "{not_utf8}", "--seed", "0", "--out", NEW), 2, "is not UTF-8 text"),
    Row("train", ("--model", "micro", "--group", "{dir}", "--seed", "0", "--out", NEW), 2, "is a folder, not a .toml"),
    Row("train", ("--model", "{dir}", "--group", str(TINY_GROUP), "--seed", "0", "--out", NEW), 2,
        "is a folder, not a .toml"),
    Row("train", (*TRAIN, "--lr", "inf", "--out", NEW), 2, "lr must be a finite number"),
    Row("train", (*TRAIN, "--lr", "nan", "--out", NEW), 2, "lr must be a finite number"),
    # damaged resume state: one line naming the file, with the previous good checkpoint
    Row("train", ("--out", "{run_at_20}", "--resume", "--quiet"), 2, "step_000020.optimizer.safetensors is damaged",
        lambda run: truncate(optimizer(run, 20))),
    Row("train", ("--out", "{run_at_20}", "--resume", "--quiet"), 2, "the previous good checkpoint is step 0",
        lambda run: truncate(optimizer(run, 20), keep=5000)),
    Row("train", ("--out", "{run_at_20}", "--resume", "--quiet"), 2, "step_000020.optimizer.safetensors is missing",
        lambda run: optimizer(run, 20).unlink()),
    Row("train", ("--out", "{run_at_20}", "--resume", "--quiet"), 2, "step_000020.safetensors is damaged",
        lambda run: truncate(run / "checkpoints" / "step_000020.safetensors")),
    Row("train", ("--out", "{run_at_20}", "--resume", "--quiet"), 2, "metrics.jsonl line 2 is not a JSON object",
        metrics_line_not_an_object),
    # evaluate: lengths, runs and the output are checked before any evaluation
    Row("evaluate", ("--run", "{run}", "--lengths", "9-3"), 2, "9-3 is an empty range"),
    Row("evaluate", ("--run", "{run}", "--lengths", "1-100000000"), 2, "at most 4096"),
    Row("evaluate", ("--run", "{run}", "--lengths", "1-1000"), 2,
        "copy is evaluated up to length 1000, which takes 2005 tokens, but the model's n_ctx is 512"),
    Row("evaluate", ("--run", "{run}", "{other_group_run}", "--count", "2"), 2, "only for one group"),
    Row("evaluate", ("--run", "{file}"), 2, "is a file, not a run directory"),
    Row("evaluate", ("--run", "{run}", "--count", "2"), 2, "is a file, not a directory",
        lambda run: (run / "eval").write_text("a file where the eval folder goes")),
    Row("evaluate", ("--run", "{unwritable_run}", "--count", "2"), 2, "cannot write"),
    Row("seeds", ("--runs", "{run}", "--eval-lengths", "9-3"), 2, "9-3 is an empty range"),
    Row("seeds", ("--runs", "{file}"), 2, "is a file, not a run directory"),
    Row("seeds", ("--runs", "{run}", "--json", "{dir}"), 2, "is a folder; give a file name"),
    Row("evaluate", ("--run", "{run}", "{run}", "--figure", "{dir}"), 2, "is a folder; give a file name"),
    Row("correlate", ("--runs", "{run}", "--out", "{file}"), 2, "is a file, not a directory"),
    Row("head_overlap", ("--run", "{run}", "--lengths", "9-3"), 2, "9-3 is an empty range"),
    Row("head_overlap", ("--run", "{run}", "--count", "2"), 2, "is a file, not a directory",
        lambda run: (run / "analysis").write_text("a file where the analysis folder goes")),
    # saved analyses of another shape
    Row("report", ("--run", "{run}"), 2, "is not a head-reuse record", other_shape_of_record),
    Row("reuse", ("--run", "{run}"), 2, "is not a head-reuse record", other_shape_of_record),
    # tasks: a length or a count no model could hold is refused before anything is drawn
    Row("tasks", ("sample", "copy", "--length", "100000000"), 2, "is outside [1, 4096]", process=True),
    Row("tasks", ("sample", "copy", "--length", "4000", "--count", "5000"), 2, "is at most 10,000,000"),
    # sweep: the output folder
    Row("sweep", ("--grid", "{grid}", "--out", "{file}"), 2, "is a file, not a directory"),
    Row("sweep", ("--grid", "{grid}", "--out", "{unwritable}/sweep"), 2, "cannot write"),
]


def unwritable(folder: Path) -> Path | None:
    """``folder`` if this process cannot write in it, else None."""
    try:
        (folder / ".probe").mkdir()
    except OSError:
        return folder
    (folder / ".probe").rmdir()
    return None


def read_only(folder: Path) -> None:
    folder.chmod(0o555)


def unwritable_folder(folder: Path) -> Path | None:
    """A folder this process cannot write: a read-only one, or for root (who writes anywhere) ``/sys``."""
    folder.mkdir()
    read_only(folder)
    return unwritable(folder) or unwritable(Path("/sys"))


def write_hostile_files(tmp: Path) -> dict[str, Path]:
    """Presets of the wrong types, with bytes that are not UTF-8, a group past the micro model's context, a
    sweep file."""
    micro = (MODELS / "sizes" / "micro.toml").read_text()
    files = {}
    for key, table in (("lr", "training"), ("warmup_fraction", "training"), ("rotary_base", "model"),
                       ("norm_eps", "model")):
        lines = [line for line in micro.splitlines() if not line.startswith(f"{key} =")]
        at = lines.index(f"[{table}]") + 1
        files[f"{key}_as_text"] = tmp / f"{key}_as_text.toml"
        files[f"{key}_as_text"].write_text("\n".join([*lines[:at], f'{key} = "0.1"', *lines[at:]]) + "\n")
    files["not_utf8"] = tmp / "not_utf8.toml"
    files["not_utf8"].write_bytes(b'description = "caf\xe9"\n')
    files["group_past_context"] = tmp / "past_context.toml"
    files["group_past_context"].write_text('[main]\ntask = "copy"\nmax_length = 4\n[[aux]]\ntask = "add"\n'
                                           'max_length = 300\n')
    files["grid"] = tmp / "grid.toml"
    files["grid"].write_text(f'[base]\nmodel = "micro"\ngroup = "{TINY_GROUP}"\nsteps = 4\n[grid]\nseed = [0]\n')
    return files


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory) -> Path:
    """A 40-step micro run with checkpoints at 0, 20 and 40, built once per session (shared by the workers)."""
    folder = shared_folder(tmp_path_factory, "hostile_inputs")
    build_all(folder, ["run"], lambda name: train_micro(folder / name, steps=STEPS, checkpoint_every=CHECKPOINT_EVERY,
                                                        eval_every=STEPS), "trained")
    return folder / "run"


def stop_at_20(run: Path) -> None:
    """As if stopped after step 20."""
    for path in (run / "checkpoints").glob(f"step_{STEPS:06d}.*"):
        path.unlink()


def group_change(**group) -> Callable[[Path], None]:
    """Another group in the run's config: a run of that group, or one made before a check existed."""
    def change(run: Path) -> None:
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "group": {**config["group"], **group}}))
    return change


RUNS = {
    "run": (),
    "run_at_20": (stop_at_20,),
    "other_group_run": (group_change(name=CONTROL_GROUP.stem, main={"task": "reverse", "max_length": 4},
                                     aux=[{"task": "copy", "max_length": 8}]),),
    "run_past_context": (stop_at_20, group_change(aux=[{"task": "add", "max_length": 300}])),
    "unwritable_run": (read_only,),
}
"""The runs an argument may name: copies of the session's micro run, changed by these in turn."""


def places(tmp: Path, micro_run: Path, row: Row) -> dict[str, str | None]:
    """What the row's arguments name, made under ``tmp`` (damaged as the row says)."""
    (tmp / "file").write_text("not a folder\n")
    (tmp / "dir").mkdir()
    named: dict[str, Path | None] = {"file": tmp / "file", "dir": tmp / "dir", "tmp": tmp, **write_hostile_files(tmp)}
    if "{unwritable}" in str(row):
        named["unwritable"] = unwritable_folder(tmp / "unwritable")
    for name, changes in RUNS.items():
        if f"{{{name}}}" in str(row):
            named[name] = tmp / name
            shutil.copytree(micro_run, tmp / name)
            for change in (*changes, *([row.damage] if row.damage and name in ("run", "run_at_20") else [])):
                change(tmp / name)
            if name.startswith("unwritable"):
                named[name] = unwritable(tmp / name)
    return {name: None if path is None else str(path) for name, path in named.items()}


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder under ``folder``: folders and lock files (which taking a lock rewrites) by name, other
    files by size, mtime and content."""
    found = {}
    for root, folders, files in os.walk(folder):
        for name in folders:
            found[os.path.join(root, name)] = ("folder",)
        for name in files:
            path = Path(root, name)
            found[str(path)] = ("lock",) if name == RunLock.FILE else (
                path.stat().st_size, path.stat().st_mtime_ns, path.read_bytes())
    return found


ENTRY_POINTS = {"tasks": ("interp.tasks.__main__", "main"), "report": ("interp.head_overlap", "report_main"),
                "reuse": ("interp.head_overlap", "reuse_main")}
"""Commands whose ``python -m`` entry runs a function of another module (``interp/report/__main__.py``)."""


def entry_point(command: str):
    """The function ``python -m interp.COMMAND`` runs."""
    module, function = ENTRY_POINTS.get(command, (f"interp.{command}", "main"))
    return getattr(importlib.import_module(module), function)


def run_row(row: Row, args: list[str], capsys) -> tuple[int, str]:
    if row.process:
        paths = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))  # this checkout's interp
        result = subprocess.run([sys.executable, "-m", f"interp.{row.command}", *args], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "PYTHONPATH": paths})
        return result.returncode, result.stderr
    with pytest.raises(SystemExit) as exited:
        entry_point(row.command)(args)
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("row", ROWS, ids=[f"{index:02d} {row}" for index, row in enumerate(ROWS)])
def test_hostile_input_gets_one_line_and_changes_nothing(row, micro_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    named = places(tmp_path, micro_run, row)
    if None in named.values():
        pytest.skip("no folder here is unwritable to this process")
    args = [arg.format(**named) for arg in row.args]
    before = snapshot(tmp_path)
    status, stderr = run_row(row, args, capsys)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == row.status, stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    assert row.phrase in lines[0], lines[0]
    assert snapshot(tmp_path) == before, "the refused command changed files"
