import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import interp.head_overlap as head_overlap
from interp.errors import InterpError
from interp.groups import load_group
from interp.head_overlap import Method, analysis_lengths, analyze, main, parse_methods, spread_lengths
from interp.storage import write_json

ALL_METHODS = [method.value for method in Method]


def test_cli_on_a_trained_micro_run_writes_everything(trained_run, tmp_path):
    """One CLI run (one test, so parallel workers do not each repeat it) checked from every side."""
    run = tmp_path / "tiny"
    shutil.copytree(trained_run, run)
    done = subprocess.run([sys.executable, "-m", "interp.head_overlap", "--run", str(run), "--count", "16",
                           "--lengths", "2", "4-5", "--device", "cpu"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    record = json.loads((run / "analysis" / "head_overlap.json").read_text())
    check_maps_and_scores(record)
    check_settings(run, record)
    check_reports(run)
    assert "ablation_mean" in done.stdout and "copy|reverse" in done.stdout and "spearman" in done.stdout


def check_maps_and_scores(record):
    assert (record["step"], record["n_layers"], record["n_heads"]) == (300, 2, 2)
    assert record["tasks"] == ["copy", "reverse"] and list(record["maps"]) == ALL_METHODS
    for method in ALL_METHODS:
        for task in ("copy", "reverse"):
            value = np.array(record["maps"][method][task], dtype=float)
            assert value.shape == (2, 2)
            assert sorted(record["maps_by_length"][method][task], key=int) == ["2", "4", "5"]
            lo, hi = (np.array(record["intervals"][method][task][side], dtype=float) for side in ("lo", "hi"))
            assert (lo <= value + 1e-9).all() and (value <= hi + 1e-9).all()
        scores = record["reuse"][method]["copy|reverse"]
        for name in ("mean_abs_diff", "spearman", "jaccard_top_k"):
            assert scores[f"{name}_ci"][0] <= scores[name] <= scores[f"{name}_ci"][1]
        assert scores["k"] == 2 and 0 < scores["jaccard_null"] < 1
    by_length = record["maps_by_length"]["ablation_mean"]["copy"]
    np.testing.assert_allclose(record["maps"]["ablation_mean"]["copy"], np.mean([by_length[n] for n in by_length], 0))
    assert set(record["logprob_maps"]) == {"ablation_mean", "ablation_zero", "ablation_resample"}
    assert record["clean_accuracy"]["copy"]["2"] > 0.5
    pair = record["attention_pairs"]["copy|reverse"]
    assert pair["pattern_l1_lengths"] == [2, 4, 5] and np.array(pair["offset_js"]).shape == (2, 2)
    assert -1 <= record["attribution_agreement"]["copy"]["spearman"] <= 1


def check_settings(run, record):
    settings = record["settings"]
    weights = run / "checkpoints" / "step_000300.safetensors"
    assert settings["checkpoint"] == {"step": 300, "bytes": weights.stat().st_size,
                                      "mtime_ns": weights.stat().st_mtime_ns}
    assert settings["methods"] == ALL_METHODS and settings["count"] == 16
    assert settings["lengths"] == {"copy": [2, 4, 5], "reverse": [2, 4, 5]}
    assert json.loads((run / "analysis" / "steps" / "step_000300.json").read_text()) == record


def check_reports(run):
    page = (run / "analysis" / "report.html").read_text()
    assert page.count("Plotly.newPlot") >= 13 and "<script src=" not in page  # plotly.js embedded, offline
    assert "copy|reverse" in page and "Reuse scores" in page
    markdown = (run / "analysis" / "ablation_report.md").read_text()
    assert "## copy" in markdown and "## reverse" in markdown and "## Reuse" in markdown
    assert "L0H0" in markdown and "[" in markdown  # heads with intervals


def test_subsets_of_methods_and_tasks(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    record = analyze(run, step=200, methods=["attention", "ablation_zero"], count=6, lengths=[3], progress=False,
                     tasks=["reverse"])
    assert list(record["maps"]) == ["ablation_zero", "attention"] and record["tasks"] == ["reverse"]
    assert record["reuse"] == {"ablation_zero": {}, "attention": {}} and "single task" in record["notes"][0]
    assert (run / "analysis" / "steps" / "step_000200.json").is_file()


def test_method_names():
    assert parse_methods(None) == list(Method)
    assert parse_methods(["patching"]) == [Method.PATCHING, Method.ATTRIBUTION]
    assert parse_methods(["attention", "ablation"]) == [Method.ABLATION_MEAN, Method.ABLATION_ZERO,
                                                         Method.ABLATION_RESAMPLE, Method.ATTENTION]
    with pytest.raises(InterpError, match="unknown method 'probing'.*ablation, patching, attention, ablation_mean"):
        parse_methods(["probing"])


def test_default_lengths_include_the_training_lengths():
    assert spread_lengths(list(range(1, 11)), [4, 8]) == [1, 2, 4, 5, 6, 8, 9, 10]
    assert spread_lengths([3, 4], [8]) == [3, 4]
    group = load_group("add_mul")
    lengths = analysis_lengths(group, ["add", "mul"], None)
    for task in ("add", "mul"):
        assert len(lengths[task]) == 8 and {8, 16} <= set(lengths[task])
        assert set(lengths[task]) <= set(group.eval_lengths(task))
    assert analysis_lengths(group, ["mul"], [3, 300])["mul"] == [3, 300]
    with pytest.raises(InterpError, match=r"none of the lengths \[2\] fits task 'mqar'"):
        analysis_lengths(load_group("copy_mqar"), ["copy", "mqar"], [2])


def analysis_files(run):
    return {path.relative_to(run): path.read_bytes() for path in (run / "analysis").rglob("*") if path.is_file()}


@pytest.fixture
def run_with_old_results(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    write_json(run / "analysis" / "head_overlap.json", {"old": True})
    (run / "analysis" / "report.html").write_text("old report")
    return run


@pytest.mark.parametrize("arguments,message", [
    (["--step", "150"], "no checkpoint at step 150"),
    (["--methods", "ablation,probing"], "unknown method 'probing'"),
    (["--tasks", "copy,add"], "task 'add' is not in the run's group 'tiny'"),
    (["--count", "1"], "--count must be at least 2"),
    (["--lengths", "0"], "--lengths must be at least 1"),
])
def test_bad_input_gives_one_line_and_leaves_the_run_alone(run_with_old_results, capsys, arguments, message):
    before = analysis_files(run_with_old_results)
    with pytest.raises(SystemExit) as stop:
        main(["--run", str(run_with_old_results), "--quiet", *arguments])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and error.count("\n") == 1
    assert analysis_files(run_with_old_results) == before


def test_missing_or_foreign_run_directory(tmp_path, capsys):
    for directory, message in [(tmp_path / "nowhere", "does not exist"), (tmp_path, "not an interp run directory")]:
        with pytest.raises(SystemExit) as stop:
            main(["--run", str(directory)])
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_nothing_is_written_until_everything_is_computed(run_with_old_results, monkeypatch):
    before = analysis_files(run_with_old_results)

    def broken(*args, **kwargs):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(head_overlap, "ablation_markdown", broken)  # the last thing computed before writing
    with pytest.raises(RuntimeError, match="rendering failed"):
        analyze(run_with_old_results, methods=["ablation_zero"], count=4, lengths=[2], progress=False)
    assert analysis_files(run_with_old_results) == before


@pytest.mark.parametrize("module", ["ablation", "patching", "attention", "report", "reuse"])
def test_every_analysis_module_runs_as_a_command(module):
    done = subprocess.run([sys.executable, "-m", f"interp.{module}", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith(f"usage: python -m interp.{module} [-h] --run RUN"), done.stderr
    assert ("--methods" in done.stdout) is False and ("--family" in done.stdout) == (module in ("report", "reuse"))


def test_one_family_alone_keeps_the_full_analysis_and_a_saved_one_is_redrawn_and_printed(trained_run, tmp_path, capsys):
    from interp.report import main as report_main
    from interp.reuse import main as reuse_main

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    analyze(run, methods=["ablation_zero"], count=6, lengths=[3], progress=False)
    full = analysis_files(run)
    main(["--run", str(run), "--count", "6", "--lengths", "3", "--device", "cpu", "--quiet"], family="attention")
    family = run / "analysis" / "attention"
    record = json.loads((family / "head_overlap.json").read_text())
    assert list(record["maps"]) == ["attention"] and (family / "steps" / "step_000300.json").is_file()
    assert {path: data for path, data in analysis_files(run).items() if "attention" not in path.parts} == full

    written = {name: (family / name).read_bytes() for name in ("report.html", "ablation_report.md")}
    for name in written:
        (family / name).unlink()
    report_main(["--run", str(run), "--family", "attention", "--device", "cpu"])
    assert {name: (family / name).read_bytes() for name in written} == written  # the same pages, patterns included
    reuse_main(["--run", str(run), "--family", "attention"])
    assert "attention" in capsys.readouterr().out.split("copy|reverse")[0]

    for command, arguments, message in [
        (reuse_main, ["--family", "patching"], "has no saved analysis"),
        (report_main, ["--family", "ablation"], "run python -m interp.ablation --run"),
    ]:
        with pytest.raises(SystemExit) as stop:
            command(["--run", str(run), *arguments])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    weights = run / "checkpoints" / "step_000300.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1))
    with pytest.raises(SystemExit) as stop:
        report_main(["--run", str(run), "--family", "attention"])
    assert stop.value.code == 2 and "changed since it was analysed" in capsys.readouterr().err
