"""interp.seeds and every analyses/ script, end to end on the micro runs."""

import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import micro_runs
import numpy as np
import pytest
from micro_runs import ANALYSIS_OPTIONS, EVAL_COUNT, RUNS, UNLEARNED_OK

from interp.errors import InterpError
from interp.evaluate import Evaluation
from interp.groups import TaskGroup, TaskSpec
from interp.runs import RunResult, evaluations, expand_runs, final_results, run_labels
from interp.seeds import format_seeds_table, main, summarize_seeds

ANALYSES = Path(__file__).resolve().parents[1] / "analyses"


@pytest.fixture(scope="session")
def analysed(tmp_path_factory):
    return micro_runs.analysed_runs(tmp_path_factory)


@pytest.fixture(scope="session")
def results(analysed):
    return final_results(expand_runs([analysed]), EVAL_COUNT, threshold=UNLEARNED_OK)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ANALYSES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(capsys, name: str, *argv: str) -> str:
    """The script's ``main`` in this process (one test runs a script as a program, the others save the start)."""
    load_script(name).main(list(argv))
    return capsys.readouterr().out


def offline_page(path: Path) -> str:
    html = path.read_text()
    assert "plotly" in html and "<script src=\"http" not in html
    return html


# ---- seeds ----------------------------------------------------------------------------------------------

def test_expand_runs_and_labels(analysed, tmp_path):
    runs = expand_runs([analysed, analysed / "tiny_s0"])  # a folder of runs, and one of them again
    assert [run.name for run in runs] == sorted(RUNS)
    assert run_labels(runs) == sorted(RUNS)
    assert run_labels([analysed / "tiny_s0"]) == ["tiny_s0"]
    with pytest.raises(InterpError, match="does not exist"):
        expand_runs([tmp_path / "missing"])
    with pytest.raises(InterpError, match="neither a run directory nor a folder"):
        expand_runs([tmp_path])


def test_runs_of_different_models_never_pool(results):
    import dataclasses

    other = [dataclasses.replace(result, config=dataclasses.replace(result.config, model_preset="small"))
             for result in results if result.group.name == "tiny" and result.positional == "rope"]
    summaries = summarize_seeds([*results, *other])
    tiny_rope = [summary for summary in summaries if (summary["group"], summary["positional"]) == ("tiny", "rope")]
    assert [summary["model"] for summary in tiny_rope] == ["micro", "small"]
    assert tiny_rope[0]["seeds"] == tiny_rope[1]["seeds"] == sorted(result.seed for result in other)


def test_seeds_summary_over_final_checkpoints(results):
    summaries = {(summary["group"], summary["positional"]): summary for summary in summarize_seeds(results)}
    assert list(summaries) == [("tiny", "rope"), ("tiny", "nope"), ("tiny_control", "rope")]
    assert {summary["model"] for summary in summaries.values()} == {"micro"}
    for (group, positional), summary in summaries.items():
        members = [result for result in results if (result.group.name, result.positional) == (group, positional)]
        assert summary["seeds"] == sorted(result.seed for result in members)
        assert summary["steps"] == [120] * len(members)
        gg = [result.evaluation.gg for result in members]
        assert summary["gg"]["mean"] == pytest.approx(np.mean(gg))
        assert min(gg) - 1e-12 <= summary["gg"]["ci"][0] <= summary["gg"]["ci"][1] <= max(gg) + 1e-12
        window = [result.evaluation.transfer_window_accuracy for result in members]
        assert summary["transfer_window_accuracy"]["mean"] == pytest.approx(np.mean(window))
        best = max(members, key=lambda result: np.mean(list(
            result.evaluation.tasks[result.group.main.task].accuracy.values())))
        assert summary["best"]["seed"] == best.seed and summary["best"]["run"] == best.label
    assert summaries["tiny_control", "rope"]["kind"] == "control"
    assert summaries["tiny_control", "rope"]["main"] == {"task": "reverse", "max_length": 4}


def test_unlearned_seeds_are_left_out_of_gg(analysed):
    summaries = summarize_seeds(final_results(expand_runs([analysed]), EVAL_COUNT))  # the default threshold, 0.9
    for summary in summaries:
        assert summary["learned"] == [False] * len(summary["seeds"]) and summary["unlearned"] == summary["runs"]
        assert summary["gg"]["mean"] is None and summary["transfer_window_accuracy"]["mean"] is None
        assert summary["main_accuracy"]["mean"] is not None  # still described
    table = format_seeds_table(summaries)
    assert "0/2" in table and "not learned, left out of GG: tiny_s0, tiny_s1 (tiny)" in table


def test_seeds_command(analysed, tmp_path, capsys):
    main(["--runs", str(analysed), "--eval-count", str(EVAL_COUNT), "--device", "cpu", "--json",
          str(tmp_path / "seeds.json")])
    out = capsys.readouterr().out
    assert "tiny_control" in out and "GG mean" in out and "best seed" in out
    assert len(json.loads((tmp_path / "seeds.json").read_text())) == 3


def test_an_evaluation_with_another_count_is_recomputed(analysed, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(analysed / "tiny_s0", run)
    assert evaluations(run, [120])[120].tasks["copy"].n[1] == EVAL_COUNT  # unset: reuse what is there
    assert evaluations(run, [120], count=8)[120].tasks["copy"].n[1] == 8
    # fewer examples than the saved one: kept beside it, which stays the one an unset request uses
    assert json.loads((run / "eval" / "step_000120.json").read_text())["tasks"]["copy"]["n"]["1"] == EVAL_COUNT
    assert json.loads((run / "eval" / "step_000120.n8.l1-10.json").read_text())["tasks"]["copy"]["n"]["1"] == 8
    assert evaluations(run, [120])[120].source.file == str(run / "eval" / "step_000120.json")


# ---- analyses/ scripts -----------------------------------------------------------------------------------

def test_accuracy_vs_length_script(analysed, tmp_path):
    result = subprocess.run([sys.executable, str(ANALYSES / "accuracy_vs_length.py"), "--runs", str(analysed),
                             "--out", str(tmp_path), "--device", "cpu"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for header in ("== tiny (transfer, rope, micro) ==", "== tiny (transfer, nope, micro) ==",
                   "== tiny_control (control, rope, micro) =="):
        assert header in out
    assert "copy (main ≤ 4)" in out and "reverse (main ≤ 4)" in out and "GG mean" in out
    assert offline_page(tmp_path / "accuracy_vs_length.html").count("exact match vs length") == 3


def test_gg_table_script_prints_the_paper_beside_ours(analysed, results, tmp_path, capsys):
    arguments = ["--runs", str(analysed), "--out", str(tmp_path), "--device", "cpu"]
    out = run_script(capsys, "gg_table", *arguments, "--learned-threshold", str(UNLEARNED_OK))
    tiny = np.mean([result.gg for result in results if result.group.name == "tiny" and result.positional == "rope"])
    assert f"{tiny:.2f} (0.41) [2/2]" in out  # M = 4, X = 8: ours over 2 seeds beside the paper's 0.41
    assert "0.90 (0.90)" not in out and "— (0.95)" in out and "— (0.20)" in out  # the paper's 7 × 7 grid in full
    assert "copy ← reverse (rope)" in out and "reverse ← copy (rope)" in out and "not the paper's task shape" in out
    assert "not learned" not in out
    offline_page(tmp_path / "gg_table.html")
    out = run_script(capsys, "gg_table", *arguments)  # at the default threshold no micro run has learned
    assert "— (0.41) [0/2]" in out and "not learned (left out of the mean): tiny_s0 (M=4, X=8, GG " in out


def synthetic(result: RunResult, main: int, aux: int, gg: float, learned: bool | None = True) -> RunResult:
    """``result`` as an add_carry run at M = ``main``, X = ``aux``; ``learned`` None: unknown."""
    group = TaskGroup("add_carry", TaskSpec("add", main), (TaskSpec("nocarry", aux), TaskSpec("carry", aux)))
    evaluation = dataclasses.replace(result.evaluation, gg=gg, learned=learned)
    return dataclasses.replace(result, config=dataclasses.replace(result.config, group=group), evaluation=evaluation)


def test_gg_table_cells_against_the_paper(results):
    gg_table = load_script("gg_table")
    base = results[0]
    runs = [synthetic(base, 16, 32, 0.2), synthetic(base, 16, 32, 0.3, learned=None),
            synthetic(base, 16, 32, 0.0, learned=False), synthetic(base, 8, 16, 0.27),
            synthetic(base, 256, 4, 0.0, learned=False)]
    cells = gg_table.gg_cells(runs)
    shape = ("add", ("carry", "nocarry"), base.positional)
    assert {key: [run.gg for run in cell] for key, cell in cells[shape].items()} == {
        (16, 32): [0.2, 0.3, 0.0], (8, 16): [0.27], (256, 4): [0.0]}
    table = gg_table.format_table(shape, cells[shape])
    assert "0.25 (0.23) [2/3]" in table and "0.27 (0.27) [1/1]" in table  # the unlearned 0.0 left out
    assert "— (0.91) [0/1]" in table and "— (0.20) " in table  # M = 256 from the paper, no run at X = 128
    assert table.count("not learned (left out of the mean): ") == 2 and "(M=256, X=4, GG 0.00)" in table
    assert "1 of 5 run(s) have no `learned` flag" in table
    assert "mean |ours − paper| over the 2 of 49 paper cell(s) we have: 0.010" in table


def test_gg_table_holds_the_full_paper_grid():
    gg_table = load_script("gg_table")
    lengths = (4, 8, 16, 32, 64, 128, 256)
    assert gg_table.PAPER_AUX_LENGTHS == tuple(gg_table.PAPER_GG) == lengths
    assert set(gg_table.PAPER_TABLE) == {(main, aux) for main in lengths for aux in lengths}
    assert all(gg_table.PAPER_TABLE[length, length] == 0 for length in lengths)


SPEC = ANALYSES.parents[1] / "shared" / "SPEC.md"


def markdown_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def spec_fig10() -> dict[tuple[int, int], float]:
    """SPEC §6's Fig. 10 table as (M, X) → GG, parsed from its Markdown."""
    lines = SPEC.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.replace(" ", "").startswith("|M\\X|"))
    auxes = [int(cell) for cell in markdown_cells(lines[start])[1:]]
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        main, *values = markdown_cells(line)
        table.update({(int(main), aux): float(value) for aux, value in zip(auxes, values, strict=True)})
    return table


@pytest.mark.skipif(not SPEC.is_file(), reason=f"no {SPEC}: the SPEC lives beside the repository, not in a clone")
def test_gg_table_transcribes_spec_fig10_exactly():
    gg_table = load_script("gg_table")
    spec = spec_fig10()
    assert len(spec) == 49 and gg_table.PAPER_TABLE == spec


def test_fig10_sweep_fills_every_paper_cell_with_three_seeds(tmp_path):
    """The runs sweeps/fig10_lengths.toml makes land, as gg_table reads them, in the paper's 49 cells."""
    from interp.sweep import expand, load_grid

    gg_table = load_script("gg_table")
    runs = expand(load_grid(ANALYSES.parent / "sweeps" / "fig10_lengths.toml"), tmp_path)
    unevaluated = Evaluation(0, {}, 0.5, None, None, None, 0.9, {})
    cells = gg_table.gg_cells([RunResult(tmp_path / run.name, run.name, run.config, run.config.training.steps,
                                         unevaluated) for run in runs])
    assert list(cells) == [(*gg_table.PAPER_SHAPE, "rope")]
    [grid] = cells.values()
    assert set(grid) == set(gg_table.PAPER_TABLE)
    assert all(sorted(run.seed for run in cell) == [0, 1, 2] for cell in grid.values())


def test_rope_vs_nope_script(analysed, results, tmp_path, capsys):
    out = run_script(capsys, "rope_vs_nope", "--runs", str(analysed), "--out", str(tmp_path), "--device", "cpu",
                     "--learned-threshold", str(UNLEARNED_OK))
    tiny = {result.positional: [] for result in results if result.group.name == "tiny"}
    for result in results:
        if result.group.name == "tiny":
            tiny[result.positional].append(result.gg)
    delta = np.mean(tiny["nope"]) - np.mean(tiny["rope"])
    row = next(line for line in out.splitlines() if line.startswith("tiny "))
    assert row.endswith(f"{delta:+.3f}") and "(2/2)" in row and "(1/1)" in row
    control = next(line for line in out.splitlines() if line.startswith("tiny_control"))
    assert control.rstrip().endswith("—")  # no NoPE control run
    offline_page(tmp_path / "rope_vs_nope.html")


def test_reuse_over_checkpoints_script(analysed, tmp_path, capsys):
    caches = {path: path.stat().st_mtime_ns for path in analysed.glob("*/analysis/steps/*.json")}
    out = run_script(capsys, "reuse_over_checkpoints", "--runs", str(analysed), "--out", str(tmp_path), *ANALYSIS_OPTIONS)
    for name in RUNS:
        assert f"== {name} (" in out
    assert "ρ(GG, attention difference)" in out and "ρ(GG, ablation_mean mean_abs_diff)" in out
    assert "left out:" in out and "learned" in out
    assert out.count("\n     120 ") == len(RUNS)
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in caches.items())  # cached analyses reused
    assert offline_page(tmp_path / "reuse_over_checkpoints.html").count("over checkpoints") >= 2


@pytest.mark.parametrize("name", ["accuracy_vs_length", "gg_table", "rope_vs_nope", "reuse_over_checkpoints"])
def test_scripts_reject_bad_input_with_one_line(name, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        load_script(name).main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written
