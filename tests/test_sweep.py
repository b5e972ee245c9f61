import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_GROUP
from hypothesis import given, settings
from hypothesis import strategies as st

from interp import sweep as sweep_module
from interp.config import make_run_config, tokens_needed
from interp.errors import InterpError
from interp.groups import load_group
from interp.run import checkpoint_steps
from interp.storage import RunLock, write_json
from interp.sweep import (
    NAME_PATTERN,
    Job,
    Options,
    Outcome,
    Status,
    StopRequest,
    execute,
    expand,
    load_grid,
    plan,
    run_sweep,
    write_derived_presets,
)
from interp.sweep.process import PARENT_VARIABLE
from interp.train import build_parser, training_overrides

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "sweeps" / "micro_smoke.toml"
SMOKE_NAMES = ["copy_reverse-L4x8-s0", "copy_reverse-L4x8-s1"]


def write_grid(path: Path, base: dict, grid: dict | None = None) -> Path:
    """A sweep file (JSON scalars and arrays are TOML values)."""
    lines = ["[base]", *(f"{key} = {json.dumps(value)}" for key, value in base.items())]
    lines += ["[grid]", *(f"{key} = {json.dumps(value)}" for key, value in (grid or {}).items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def sweep_cli(grid: Path, out: Path, *extra: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "interp.sweep", "--grid", str(grid), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300, **popen)


def runs_of(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())["runs"]


def mtimes(directory: Path) -> dict[str, int]:
    return {str(path.relative_to(directory)): path.stat().st_mtime_ns for path in directory.rglob("*")
            if path.is_file() and path.name != ".lock"}


def fabricate_finished(run_dir: Path, config_dict: dict, step: int) -> None:
    """The files that mark a run finished: config, a complete checkpoint at ``step`` and its evaluation."""
    write_json(run_dir / "config.json", config_dict)
    for suffix in (".json", ".safetensors"):
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        (run_dir / "checkpoints" / f"step_{step:06d}{suffix}").write_text("{}")
    write_json(run_dir / "eval" / f"step_{step:06d}.json", {"step": step})


# ---- the sweep file and its expansion ----------------------------------------------------------------


def test_micro_smoke_expands_to_stable_readable_names(tmp_path):
    runs = expand(load_grid(SMOKE), tmp_path)
    assert [run.name for run in runs] == SMOKE_NAMES
    assert [run.name for run in expand(load_grid(SMOKE), tmp_path)] == SMOKE_NAMES
    group = runs[0].config.group
    assert (group.main.task, group.main.max_length) == ("copy", 4) and [(s.task, s.max_length) for s in group.aux] == [
        ("reverse", 8)]
    assert group.name == "copy_reverse-L4x8" and runs[0].config.training.steps == 20
    assert [run.config.seed for run in runs] == [0, 1]


@pytest.mark.parametrize("preset, count, example, settings", [
    ("paper_groups", 75, "add_mul-s4", {"group": "add_mul", "seed": 4, "model": "paper"}),
    ("rope_nope", 90, "copy_mqar-nope-s3", {"group": "copy_mqar", "positional": "nope", "seed": 3}),
    ("fig10_lengths", 147, "add_carry-L16x32-s0", {"main_length": 16, "aux_length": 32, "n_ctx": 1024}),
])
def test_paper_presets_expand(tmp_path, preset, count, example, settings):
    runs = expand(load_grid(ROOT / "sweeps" / f"{preset}.toml"), tmp_path)
    names = [run.name for run in runs]
    assert len(runs) == count == len(set(names))
    assert all(NAME_PATTERN.fullmatch(name) for name in names)
    run = runs[names.index(example)]
    assert settings.items() <= run.settings.items()
    assert [run.config.seed for run in runs] == sorted(run.config.seed for run in runs)  # seed-major
    if preset == "fig10_lengths":
        assert {(r.config.group.main.max_length, r.config.group.aux_length) for r in runs} == {
            (m, x) for m in (4, 8, 16, 32, 64, 128, 256) for x in (4, 8, 16, 32, 64, 128, 256)}
        assert run.config.model.n_ctx == 1024 and run.config.model_preset == "paper-n_ctx1024"
        assert [(s.task, s.max_length) for s in run.config.group.specs] == [("add", 16), ("nocarry", 32), ("carry", 32)]
    if preset == "rope_nope":
        assert run.config.model.positional == "nope" and "--positional" in run.train_args


def test_names_show_every_varied_axis(tmp_path):
    grid = write_grid(tmp_path / "g.toml", {"group": "copy_reverse", "main_length": 4, "aux_length": 8},
                      {"model": ["micro", "small"], "positional": ["rope", "nope"], "lr": [1e-3, 3e-4],
                       "warmup_fraction": [0.2], "data_seed": [1], "seed": [0, 7]})
    names = [run.name for run in expand(load_grid(grid), tmp_path)]
    assert names[:3] == ["copy_reverse-L4x8-micro-rope-lr0.001-warmup_fraction0.2-d1-s0",
                         "copy_reverse-L4x8-micro-rope-lr0.0003-warmup_fraction0.2-d1-s0",
                         "copy_reverse-L4x8-micro-nope-lr0.001-warmup_fraction0.2-d1-s0"]
    assert len(names) == 16 and names[-1] == "copy_reverse-L4x8-small-nope-lr0.0003-warmup_fraction0.2-d1-s7"


AXIS_VALUES = {
    "group": st.lists(st.sampled_from(["copy_reverse", "add_carry", "add_sub", "capreverse", "add_copyfirst"]),
                      min_size=1, max_size=3, unique=True),
    "main_length": st.lists(st.sampled_from([2, 4, 8, 16]), min_size=1, max_size=3, unique=True),
    "aux_length": st.lists(st.sampled_from([4, 8, 32]), min_size=1, max_size=3, unique=True),
    "positional": st.lists(st.sampled_from(["rope", "nope"]), min_size=1, max_size=2, unique=True),
    "lr": st.lists(st.sampled_from([1e-3, 3e-4, 1e-5]), min_size=1, max_size=3, unique=True),
    "steps": st.lists(st.integers(1, 10_000), min_size=1, max_size=2, unique=True),
    "seed": st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True),
}


@settings(max_examples=25)
@given(st.fixed_dictionaries({}, optional=AXIS_VALUES), st.data())
def test_any_grid_expands_to_its_product_with_unique_stable_names(tmp_path_factory, axes, data):
    folder = tmp_path_factory.mktemp("grid")
    base = {"model": "micro", "group": "copy_reverse", "seed": 0}
    grid = {key: values for key, values in axes.items() if data.draw(st.booleans(), label=f"{key} varies")}
    base.update({key: values[0] for key, values in axes.items() if key not in grid})
    path = write_grid(folder / "g.toml", {k: v for k, v in base.items() if k not in grid}, grid)
    runs = expand(load_grid(path), folder)
    names = [run.name for run in runs]
    assert len(runs) == load_grid(path).size and len(set(names)) == len(names)
    assert names == [run.name for run in expand(load_grid(path), folder)]
    for run in runs:
        assert NAME_PATTERN.fullmatch(run.name) and run.name.endswith(f"-s{run.settings['seed']}")
        assert run.name.startswith(run.settings["group"])
        config, group = run.config, run.config.group
        assert config.seed == run.settings["seed"]
        assert config.model.positional == run.settings.get("positional", "rope")
        assert group.main.max_length == run.settings.get("main_length", load_group(run.settings["group"]).main.max_length)
        assert all(spec.max_length == run.settings.get("aux_length", spec.max_length) for spec in group.aux)
        assert config.training.lr == run.settings.get("lr", 3e-3)


@pytest.mark.parametrize("base, grid, message", [
    ({"model": "micro", "group": "copy_only", "seed": 0, "colour": "red"}, {}, "unknown key(s) colour"),
    ({"model": "micro", "group": "copy_only", "seed": 0}, {"seed": [1, 2]}, "seed is set in both"),
    ({"model": "micro", "group": "copy_only"}, {}, "every run needs seed"),
    ({"model": "micro", "group": "copy_only"}, {"seed": []}, "seed must be a non-empty list"),
    ({"model": "micro", "group": "copy_only"}, {"seed": [1, 1]}, "seed lists a value twice"),
    ({"model": "micro", "group": "copy_only", "seed": "0"}, {}, "seed takes int values, got '0'"),
    ({"model": "micro", "group": "copy_only", "seed": 0, "aux_length": 8}, {}, "has no auxiliary task"),
    ({"model": "micro", "group": "dfs_path", "seed": 0, "aux_length": 128}, {},
     "max_length 128 for task 'path' is outside the accepted range"),
    ({"model": "micro", "group": "nope_group", "seed": 0}, {}, "unknown group preset 'nope_group'"),
    ({"model": "micro", "group": "add_carry", "seed": 0}, {"aux_length": [64, 256]},
     "run add_carry-L16x256-s0: add is evaluated up to length 320, which takes 967 tokens, but the model's n_ctx "
     "is 512; set n_ctx = 1024"),
    ({"model": "micro", "group": "copy_only", "seed": 0, "warmup_fraction": 2.0}, {},
     "warmup_fraction and decay_fraction must be ≥ 0 and sum to at most 1"),
    ({"model": "micro", "group": "copy_only", "seed": 0, "positional": "alibi"}, {}, "positional 'alibi' is not one of"),
])
def test_bad_sweep_files_name_the_problem(tmp_path, base, grid, message):
    path = write_grid(tmp_path / "bad.toml", base, grid)
    with pytest.raises(InterpError) as error:
        expand(load_grid(path), tmp_path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_context_check_finds_mul_longest_sequence():
    """mul's widths vary with the value (SPEC §3); its longest sequence at n (every a·b_i n+1 digits, the
    product n+3: 5n + 21 tokens) is the one the context check's sample must see, at every length."""
    assert all(tokens_needed("mul", n) == 5 * n + 21 for n in range(1, 321))


@pytest.mark.parametrize("extra, message", [
    (["--max-parallel", "2"], "--max-parallel apply to --executor ray only"),
    (["--retries", "-1"], "--retries must be ≥ 0"),
])
def test_bad_command_lines_give_one_line(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(["--grid", str(SMOKE), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_without_ray_the_ray_executor_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(["--grid", str(SMOKE), "--out", str(tmp_path / "out"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1 and "pip install -e '.[ray]'" in err


def test_derived_presets_give_the_config_the_sweep_expects(tmp_path):
    """The train command a sweep issues, parsed as interp.train parses it, resolves to the run's expected config."""
    grid = write_grid(tmp_path / "g.toml", {"model": "micro", "group": "add_carry", "main_length": 8, "n_ctx": 640,
                                            "warmup_fraction": 0.25, "eval_count": 8},
                      {"aux_length": [16, 64], "positional": ["rope", "nope"], "lr": [1e-3], "seed": [2]})
    runs = expand(load_grid(grid), tmp_path / "sweep")
    write_derived_presets(runs)
    assert sorted(p.name for p in (tmp_path / "sweep" / "groups").iterdir()) == ["add_carry-L8x16.toml", "add_carry-L8x64.toml"]
    assert [p.name for p in (tmp_path / "sweep" / "models").iterdir()] == [
        "micro-n_ctx640-warmup_fraction0.25-eval_count8.toml"]
    for run in runs:
        args = build_parser().parse_args([*run.train_args, "--out", str(tmp_path / run.name)])
        config = make_run_config(args.model, args.group, args.seed, args.data_seed, args.positional,
                                 **training_overrides(args))
        assert config == run.config
    assert runs[0].config.training.warmup_fraction == 0.25 and runs[0].config.model.n_ctx == 640


# ---- what a run still needs ---------------------------------------------------------------------------


def test_plan_follows_the_run_directory(tmp_path):
    run = expand(load_grid(SMOKE), tmp_path)[0]
    directory = tmp_path / run.name
    fresh = plan(run, tmp_path, Options(eval_count=3))
    assert fresh.action == "train" and [stage for stage, _ in fresh.job.stages] == ["train", "evaluate"]
    assert fresh.job.stages[0][1] == (*run.train_args, "--out", str(directory), "--quiet")
    assert fresh.job.stages[1][1] == ("--run", str(directory), "--step", "20", "--count", "3")
    assert fresh.job.config == run.config  # a new run's job trains the config the sweep resolved

    write_json(directory / "config.json", run.config.to_dict())
    assert plan(run, tmp_path, Options()).action == "resume from step 0"
    fabricate_finished(directory, run.config.to_dict(), 10)
    interrupted = plan(run, tmp_path, Options())
    assert interrupted.action == "resume from step 10"
    assert interrupted.job.stages[0] == ("train", ("--out", str(directory), "--resume", "--quiet"))
    assert interrupted.job.config is None  # a started run trains the config.json it has

    fabricate_finished(directory, run.config.to_dict(), 20)
    (directory / "eval" / "step_000020.json").unlink()
    trained = plan(run, tmp_path, Options(analyze=True))
    assert trained.action == "evaluate" and [s for s, _ in trained.job.stages] == ["evaluate", "analyze"]

    write_json(directory / "eval" / "step_000020.json", {})
    assert plan(run, tmp_path, Options()).action == "finished" and plan(run, tmp_path, Options()).job is None
    assert plan(run, tmp_path, Options(analyze=True)).action == "analyze"
    write_json(directory / "analysis" / "steps" / "step_000020.json", {})
    assert plan(run, tmp_path, Options(analyze=True)).action == "finished"

    other = dict(run.config.to_dict(), seed=5)
    write_json(directory / "config.json", other)
    conflict = plan(run, tmp_path, Options())
    assert conflict.job is None and "holds a different run (differing: seed)" in conflict.problem


def test_dry_run_prints_each_runs_commands_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    fabricate_finished(out / SMOKE_NAMES[1], expand(load_grid(SMOKE), out)[1].config.to_dict(), 20)
    before = mtimes(tmp_path)
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(["--grid", str(SMOKE), "--out", str(out), "--dry-run", "--eval-count", "5"])
    lines = capsys.readouterr().out.splitlines()
    assert exit.value.code == 0 and mtimes(tmp_path) == before and not (out / "groups").exists()
    assert lines == [
        f"{SMOKE_NAMES[0]}: train",
        f"    python -m interp.train --model micro --group {out}/groups/copy_reverse-L4x8.toml --seed 0 --data-seed 0 "
        f"--steps 20 --out {out}/{SMOKE_NAMES[0]} --quiet",
        f"    python -m interp.evaluate --run {out}/{SMOKE_NAMES[0]} --step 20 --count 5",
        f"{SMOKE_NAMES[1]}: finished",
        "2 runs; 1 derived presets would be written",
    ]


class ScriptedExecutor:
    """Jobs "run" instantly with scripted exit codes; a successful one leaves a finished run behind."""

    def __init__(self, runs, codes, capacity=2, stop=None, stop_on=None):
        self.configs = {run.name: run.config.to_dict() for run in runs}
        self.codes, self.capacity, self.stop, self.stop_on = codes, capacity, stop, stop_on
        self.submitted: list[Job] = []
        self.running: list[Job] = []

    def submit(self, job):
        self.submitted.append(job)
        self.running.append(job)

    def wait(self):
        job = self.running.pop(0)
        code = self.codes[job.name].pop(0)
        if job.name == self.stop_on:
            self.stop.signal = signal.SIGTERM
        if code == 0:
            fabricate_finished(job.log.parent.parent / job.name, self.configs[job.name], 20)
        return [(job, Outcome(code, "train", f"error: scripted failure {code}", 1.0, 2.0))]

    def close(self):
        pass


def scripted_sweep(tmp_path, codes, **executor):
    tmp_path.mkdir(exist_ok=True)
    runs = expand(load_grid(write_grid(tmp_path / "g.toml", {"model": "micro", "group": "copy_reverse",
                                                             "main_length": 4, "aux_length": 8, "steps": 20},
                                       {"seed": [0, 1, 2, 3]})), tmp_path / "out")
    names = [run.name for run in runs]
    stop = StopRequest(tmp_path / "out" / ".stop")
    executor = ScriptedExecutor(runs, {name: list(codes[index]) for index, name in enumerate(names)}, stop=stop,
                                **executor)
    status = Status(tmp_path / "out", load_grid(tmp_path / "g.toml"), runs, "scripted")
    code = run_sweep(runs, tmp_path / "out", status, lambda: executor, Options(retries=2), stop)
    return code, executor, names, runs_of(tmp_path / "out")


def test_failures_are_retried_up_to_the_limit_without_stopping_the_rest(tmp_path):
    code, executor, names, runs = scripted_sweep(tmp_path, [[0], [1, 0], [2], [1, 1, 1]])
    assert code == 1
    assert [runs[name]["status"] for name in names] == ["done", "done", "failed", "failed"]
    assert [runs[name]["attempts"] for name in names] == [1, 2, 1, 3]  # bad input (2) is not retried
    assert runs[names[3]]["error"] == "train (exit status 1): error: scripted failure 1"
    assert [job.name for job in executor.submitted] == [names[0], names[1], names[2], names[3], names[1],
                                                        names[3], names[3]]
    # The next invocation skips finished runs and gives the failed ones a fresh set of attempts.
    code, executor, names, runs = scripted_sweep(tmp_path, [[], [], [0], [1, 0]])
    assert code == 0 and [job.name for job in executor.submitted] == [names[2], names[3], names[3]]
    assert [runs[name]["status"] for name in names] == ["skipped", "skipped", "done", "done"]


def test_a_stopped_sweep_leaves_running_runs_pending_and_starts_no_more(tmp_path):
    code, executor, names, runs = scripted_sweep(tmp_path, [[143, 0], [143, 0], [0], [0]])
    assert code == 0 and runs[names[0]]["attempts"] == 2  # no stop requested: a 143 from outside is retried
    code, executor, names, runs = scripted_sweep(tmp_path / "again", [[143], [0], [0], [0]],
                                                 stop_on="copy_reverse-L4x8-s0")
    assert code == 128 + signal.SIGTERM
    assert [runs[name]["status"] for name in names] == ["pending", "done", "pending", "pending"]
    assert [job.name for job in executor.submitted] == names[:2]


# ---- real processes -----------------------------------------------------------------------------------


def test_a_failing_stage_is_reported_with_its_error_line(tmp_path):
    job = Job("broken", (("evaluate", ("--run", str(tmp_path / "missing"))), ("analyze", ("--run", "x"))),
              tmp_path / "logs" / "broken.log", tmp_path / ".stop", 1)
    outcome = execute(job)
    assert outcome.code == 2 and outcome.stage == "evaluate"
    assert outcome.error == f"error: run directory {tmp_path / 'missing'} does not exist"
    assert "== analyze" not in job.log.read_text()


def test_stop_restart_and_ray_finish_the_grid_identically_without_repeating_work(tmp_path, capsys):
    """One sweep's life: SIGTERM mid-way, a restart that finishes only what was left, a no-op third
    invocation, and the same grid under Ray (two runs side by side) giving byte-identical runs."""
    grid = write_grid(tmp_path / "slow.toml", {"model": "micro", "group": str(TINY_GROUP), "steps": 60,
                                               "checkpoint_every": 20, "eval_every": 60}, {"seed": [0, 1]})
    names = ["tiny-s0", "tiny-s1"]
    local = tmp_path / "local"
    options = ["--eval-count", "4", "--cpus-per-run", "1"]
    process = subprocess.Popen([sys.executable, "-m", "interp.sweep", "--grid", str(grid), "--out", str(local),
                                *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first, second = local / names[0], local / names[1]
    start = time.time()
    while not ((first / "eval" / "step_000060.json").exists() and (second / "checkpoints" / "step_000020.json").exists()):
        assert process.poll() is None, process.communicate()
        assert time.time() - start < 240
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "tiny-s1: stopped" in stdout
    assert [record["status"] for record in runs_of(local).values()] == ["done", "pending"]
    stopped_at = checkpoint_steps(second)[-1]
    assert 20 <= stopped_at < 60
    finished_files, partial_checkpoints = mtimes(first), mtimes(second / "checkpoints")

    with pytest.raises(SystemExit) as exit:  # the restart, in this process (its job runs in a child as always)
        sweep_module.main(["--grid", str(grid), "--out", str(local), *options])
    records = runs_of(local)
    assert exit.value.code == 0, records
    assert [record["status"] for record in records.values()] == ["skipped", "done"]
    assert records["tiny-s1"]["action"] == f"resume from step {stopped_at}"
    assert mtimes(first) == finished_files  # the finished run was not touched
    assert {k: v for k, v in mtimes(second / "checkpoints").items() if k in partial_checkpoints} == partial_checkpoints
    assert checkpoint_steps(second)[-1] == 60 and (second / "eval" / "step_000060.json").is_file()
    assert not (local / ".stop").exists()

    before = mtimes(local)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(["--grid", str(grid), "--out", str(local), *options])
    assert exit.value.code == 0 and "nothing to do: 2 of 2 runs already finished" in capsys.readouterr().out
    assert {k: v for k, v in mtimes(local).items() if k != "sweep.json"} == {
        k: v for k, v in before.items() if k != "sweep.json"}

    pytest.importorskip("ray")
    distributed = tmp_path / "ray"
    result = sweep_cli(grid, distributed, "--executor", "ray", *options)
    assert result.returncode == 0, result.stderr
    records = runs_of(distributed)
    assert [record["status"] for record in records.values()] == ["done", "done"]
    one, other = records.values()
    assert one["started"] < other["finished"] and other["started"] < one["finished"]  # ran side by side
    for name in names:  # tiny-s1 was stopped and resumed locally, and ran straight through under Ray
        for relative in ("checkpoints/step_000060.safetensors", "eval/step_000060.json", "config.json"):
            assert (distributed / name / relative).read_bytes() == (local / name / relative).read_bytes()
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(["--grid", str(grid), "--out", str(distributed), "--executor", "ray", *options])
    assert exit.value.code == 0 and "nothing to do" in capsys.readouterr().out


def running(pid: int) -> bool:
    """Whether the process exists and has not exited (an orphan's zombie counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


PARENT_DEATHS = """
import os, signal, sys, time
from interp.sweep.process import PARENT_DEATH_SIGNAL, stop_with_parent
stops = []
signal.signal(signal.SIGTERM, lambda number, frame: stops.append(number))
stop_with_parent()
for _ in range(3):  # as the kernel does while the killed sweep's threads exit one after another
    os.kill(os.getpid(), PARENT_DEATH_SIGNAL)
time.sleep(0.2)
print(len(stops))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_repeated_parent_death_signals_stop_a_job_once():
    """The kernel signals an orphan again for each thread of its dying parent it is handed to; the job must see one
    SIGTERM (a second aborts training without a checkpoint: seen as a flaky kill -9 test)."""
    child = subprocess.run([sys.executable, "-c", PARENT_DEATHS], capture_output=True, text=True, timeout=120,
                           env={**os.environ, PARENT_VARIABLE: str(os.getpid())})
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["1"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_sweep_leaves_no_training_behind_only_a_checkpoint(tmp_path):
    grid = write_grid(tmp_path / "long.toml", {"model": "micro", "group": str(TINY_GROUP), "steps": 100_000,
                                               "checkpoint_every": 20, "eval_every": 100_000}, {"seed": [0]})
    out = tmp_path / "out"
    sweep = subprocess.Popen([sys.executable, "-m", "interp.sweep", "--grid", str(grid), "--out", str(out),
                              "--cpus-per-run", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = out / "tiny-s0"
    start = time.time()
    while not (run / "checkpoints" / "step_000020.json").exists():
        assert sweep.poll() is None and time.time() - start < 240
        time.sleep(0.05)
    [job] = [int(child) for task in Path(f"/proc/{sweep.pid}/task").iterdir()
             for child in (task / "children").read_text().split()]
    sweep.kill()  # SIGKILL: the sweep gets no chance to forward anything
    sweep.wait()
    start = time.time()
    while running(job):
        assert time.time() - start < 60, "the job outlived the killed sweep"
        time.sleep(0.05)
    log = (out / "logs" / "tiny-s0.log").read_text()
    stopped = [line for line in log.splitlines() if line.startswith("stopped by")]
    assert len(stopped) == 1 and stopped[0].startswith("stopped by SIGTERM after step"), log
    assert checkpoint_steps(run)[-1] == int(stopped[0].split()[5].rstrip(";")) < 100_000
    with RunLock(run):  # released
        pass
    record = runs_of(out)["tiny-s0"]  # not "running" for a sweep that no longer runs
    assert record["status"] == "pending" and f"the sweep (process {sweep.pid}) was killed" in record["error"]


def test_analyze_runs_head_overlap_on_a_trained_run(tmp_path, trained_run, capsys):
    """--analyze on a trained, unevaluated run: evaluation then interp.head_overlap, and then nothing more."""
    pytest.importorskip("interp.head_overlap")
    grid = write_grid(tmp_path / "g.toml", {"model": "micro", "group": str(TINY_GROUP), "seed": 0, "steps": 300,
                                            "batch_size": 64, "eval_every": 100, "checkpoint_every": 100})
    out = tmp_path / "out"
    shutil.copytree(trained_run, out / "tiny-s0", ignore=shutil.ignore_patterns("eval", "analysis"))
    arguments = ["--grid", str(grid), "--out", str(out), "--analyze", "--eval-count", "4"]
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(arguments)
    record = runs_of(out)["tiny-s0"]
    assert exit.value.code == 0, (record, (out / "logs" / "tiny-s0.log").read_text()[-3000:])
    assert record["status"] == "done" and record["action"] == "evaluate"
    assert json.loads((out / "tiny-s0" / "analysis" / "steps" / "step_000300.json").read_text())["step"] == 300
    assert (out / "tiny-s0" / "eval" / "step_000300.json").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        sweep_module.main(arguments)
    assert exit.value.code == 0 and "nothing to do" in capsys.readouterr().out
