import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import interp.head_overlap as head_overlap
from interp.errors import InterpError
from interp.groups import load_group
from interp.head_overlap import analysis_lengths, analyze, main, spread_lengths
from interp.methods import MAP_METHODS as MAP_METHODS_ENUM
from interp.methods import Method, parse_methods
from interp.reuse import Protocol
from interp.reuse.record import HeadReuseRecord
from interp.run import DEFAULT_PROTOCOL
from interp.storage import write_json

ALL_METHODS = [method.value for method in Method]
MAP_METHODS = [method.value for method in MAP_METHODS_ENUM]


def test_cli_on_a_trained_micro_run_writes_everything(trained_run, tmp_path):
    """One CLI run (one test, so parallel workers do not each repeat it) checked from every side. The micro
    model is right on about 60-100% of short strings: competence 0.5 lets the pair be compared at length 2."""
    run = tmp_path / "tiny"
    shutil.copytree(trained_run, run)
    done = subprocess.run([sys.executable, "-m", "interp.head_overlap", "--run", str(run), "--count", "16",
                           "--lengths", "2", "4-5", "--competence", "0.5", "--device", "cpu"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    record = json.loads((run / "analysis" / "head_overlap.json").read_text())
    check_maps_and_scores(record)
    check_settings(run, record)
    check_reports(run)
    assert "ablation_mean" in done.stdout and "copy|reverse" in done.stdout and "Protocol: competent" in done.stdout


def check_maps_and_scores(record):
    assert (record["step"], record["n_layers"], record["n_heads"]) == (300, 2, 2)
    assert record["tasks"] == ["copy", "reverse"] and list(record["maps"]) == MAP_METHODS
    pair = record["pair_lengths"]["copy|reverse"]
    accuracy = record["clean_accuracy"]
    assert pair["reason"] is None and pair["lengths"] == [
        n for n in (2, 4) if accuracy["copy"][str(n)] >= 0.5 and accuracy["reverse"][str(n)] >= 0.5]  # ≤ L_copy = 4
    for task, top in (("copy", 4), ("reverse", 8)):
        assert record["task_lengths"][task]["lengths"] == [
            n for n in (2, 4, 5) if n <= top and accuracy[task][str(n)] >= 0.5]
    for method in MAP_METHODS:
        for task in ("copy", "reverse"):
            value = np.array(record["maps"][method][task], dtype=float)
            assert value.shape == (2, 2)
            by_length = record["maps_by_length"][method][task]
            assert sorted(by_length, key=int) == ["2", "4", "5"]
            used = record["task_lengths"][task]["lengths"]
            np.testing.assert_allclose(value, np.nanmean([np.array(by_length[str(n)], dtype=float) for n in used], 0))
            lo, hi = (np.array(record["intervals"][method][task][side], dtype=float) for side in ("lo", "hi"))
            assert (lo <= value + 1e-9).all() and (value <= hi + 1e-9).all()
        scores = record["reuse"][method]["copy|reverse"]
        for name in ("mean_abs_diff", "spearman", "jaccard_top_k"):
            if scores[name] is not None:
                assert scores[f"{name}_ci"][0] <= scores[name] <= scores[f"{name}_ci"][1]
        assert scores["k"] == 2 and 0 < scores["jaccard_null"] < 1
        copy_map, reverse_map = (np.nanmean([np.array(record["maps_by_length"][method][task][str(n)], dtype=float)
                                             for n in pair["lengths"]], 0) for task in ("copy", "reverse"))
        np.testing.assert_allclose(scores["difference_map"], copy_map - reverse_map)  # on the pair's own lengths
        assert scores["mean_abs_diff"] == pytest.approx(np.nanmean(np.abs(copy_map - reverse_map)))
    assert set(record["logprob_maps"]) == {"ablation_mean", "ablation_zero", "ablation_resample"}
    attention = record["reuse"]["attention"]["copy|reverse"]
    assert attention["form"] == "shared_layout" and attention["lengths"] == pair["lengths"]
    assert np.array(attention["per_head"]).shape == (2, 2)
    assert attention["difference"] == pytest.approx(np.mean(attention["per_head"]))
    assert -1 <= record["attribution_agreement"]["reverse"]["spearman"] <= 1


def check_settings(run, record):
    settings = record["settings"]
    weights = run / "checkpoints" / "step_000300.safetensors"
    assert settings["checkpoint"] == {"step": 300, "bytes": weights.stat().st_size,
                                      "mtime_ns": weights.stat().st_mtime_ns}
    assert settings["methods"] == ALL_METHODS and settings["count"] == 16
    assert settings["lengths"] == {"copy": [2, 4, 5], "reverse": [2, 4, 5]}
    assert (settings["protocol"], settings["competence"]) == ("competent", 0.5)
    assert json.loads((run / "analysis" / "steps" / "step_000300.json").read_text()) == record


def check_reports(run):
    page = (run / "analysis" / "report.html").read_text()
    assert page.count("Plotly.newPlot") >= 13 and "<script src=" not in page  # plotly.js embedded, offline
    assert "copy|reverse" in page and "Reuse scores" in page and "Protocol: competent" in page
    markdown = (run / "analysis" / "ablation_report.md").read_text()
    assert "## copy" in markdown and "## reverse" in markdown and "## Reuse" in markdown
    assert "L0H0" in markdown and "[" in markdown  # heads with intervals
    assert "copy vs reverse (lengths 2" in markdown and "No control pair was given" in markdown


def test_an_unlearned_checkpoint_gives_null_scores_with_reasons_not_a_traceback(trained_run, tmp_path, capsys):
    """Finding 10 of issue 17: step 0 (nothing learned; every patching map NaN) crashed the report and lost the
    record. Now every score is null with its reason, the record is written and the reports say n/a."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    main(["--run", str(run), "--step", "0", "--count", "16", "--lengths", "2", "--methods", "patching,ablation",
          "--device", "cpu"])
    out = capsys.readouterr().out
    record = json.loads((run / "analysis" / "head_overlap.json").read_text())
    pair = record["pair_lengths"]["copy|reverse"]
    assert pair["lengths"] == [] and "not competent" in pair["reason"]
    for method in ("patching", "ablation_mean"):
        scores = record["reuse"][method]["copy|reverse"]
        assert scores["mean_abs_diff"] is None and scores["jaccard_top_k"] is None and scores["reason"] == pair["reason"]
        assert record["maps"][method] == {"copy": None, "reverse": None}
    assert "n/a (not competent" in out
    markdown = (run / "analysis" / "ablation_report.md").read_text()
    assert "n/a (not competent" in markdown and "No map: not competent" in markdown
    assert "n/a (not competent" in (run / "analysis" / "report.html").read_text()


def test_the_paper_protocol_says_it_is_confounded(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    competent = analyze(run, methods=["ablation_mean"], count=8, lengths=[2, 4], progress=False, threshold=0.5)
    before = analysis_files(run)
    record = analyze(run, methods=["ablation_mean"], count=8, lengths=[2, 4, 5, 8], progress=False, protocol="paper")
    assert record.pair_lengths["copy|reverse"].lengths == [2, 4, 5, 8]  # l ≤ max(L_copy, L_reverse)
    assert record.settings.protocol is Protocol.PAPER and "confounded with accuracy" in record.notes[0]
    for name in ("report.html", "ablation_report.md"):
        assert "confounded with accuracy" in (run / "analysis" / "paper" / name).read_text()
    # kept beside the competent analysis, which stays as it was
    assert {path: data for path, data in analysis_files(run).items() if "paper" not in path.parts} == before
    assert head_overlap.saved_record(run) == competent and head_overlap.saved_record(run, protocol="paper") == record


def test_subsets_of_methods_and_tasks(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    record = analyze(run, step=200, methods=["attention", "ablation_zero"], count=6, lengths=[3], progress=False,
                     tasks=["reverse"])
    # "attention" names the family: the paper's difference (pairs only, no map) and the focus diagnostic
    assert list(record.maps) == ["ablation_zero", "attention_focus"] and record.tasks == ["reverse"]
    assert record.reuse == {"ablation_zero": {}, "attention": {}, "attention_focus": {}}
    assert "single task" in record.notes[0]
    assert (run / "analysis" / "steps" / "step_000200.json").is_file()
    saved = record.to_json()  # the typed record is the file's content, read back equal
    assert json.loads((run / "analysis" / "head_overlap.json").read_text()) == saved
    assert HeadReuseRecord.from_json(saved) == record
    del saved["settings"]["protocol"]
    with pytest.raises(InterpError, match="^the file is not a head-reuse record of this version"):
        HeadReuseRecord.from_json(saved, "the file")


def test_method_names():
    assert parse_methods(None) == list(Method)
    assert parse_methods(["patching"]) == [Method.PATCHING, Method.ATTRIBUTION]
    assert parse_methods(["attention", "ablation"]) == [Method.ABLATION_MEAN, Method.ABLATION_ZERO,
                                                         Method.ABLATION_RESAMPLE, Method.ATTENTION,
                                                         Method.ATTENTION_FOCUS]
    assert parse_methods(["attention_focus"]) == [Method.ATTENTION_FOCUS]
    with pytest.raises(InterpError, match="unknown method 'probing'.*ablation, patching, attention, ablation_mean"):
        parse_methods(["probing"])


def test_default_lengths_include_the_training_lengths():
    assert spread_lengths(list(range(1, 11)), [4, 8]) == [1, 2, 4, 5, 6, 8, 9, 10]
    assert spread_lengths([3, 4], [8]) == [3, 4]
    group = load_group("add_mul")  # add ≤ 8, mul ≤ 16
    competent = analysis_lengths(group, ["add", "mul"], None)  # the default protocol
    assert len(competent["mul"]) == 8 and {8, 16} <= set(competent["mul"])
    assert competent["add"] == [length for length in competent["mul"] if length <= 8]  # none past add's training
    assert len(competent["add"]) == 6  # most of them where the pair can be compared
    paper = analysis_lengths(group, ["add", "mul"], None, Protocol.PAPER)
    assert paper["add"] == paper["mul"] and len(paper["add"]) == 8 and {8, 16} <= set(paper["add"])
    assert max(paper["add"]) == 16  # the lengths GG averages, not 1.25× beyond
    for lengths in (competent, paper):
        for task in ("add", "mul"):
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


def test_the_record_is_written_before_the_reports_are_drawn(run_with_old_results, monkeypatch):
    """A report that fails to draw never costs the measurement (issue 17, finding 10): the record is on disk,
    the old reports are left whole, and ``python -m interp.report`` can draw them again."""
    before = analysis_files(run_with_old_results)

    def broken(*args, **kwargs):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(head_overlap, "ablation_markdown", broken)
    with pytest.raises(RuntimeError, match="rendering failed"):
        analyze(run_with_old_results, methods=["ablation_zero"], count=4, lengths=[2], progress=False)
    after = analysis_files(run_with_old_results)
    record = json.loads(after[Path("analysis/head_overlap.json")])
    assert record["settings"]["methods"] == ["ablation_zero"]
    assert after[Path("analysis/steps/step_000300.json")] == after[Path("analysis/head_overlap.json")]
    assert after[Path("analysis/report.html")] == before[Path("analysis/report.html")] == b"old report"


def test_a_narrower_analysis_is_kept_beside_a_fuller_one_never_replacing_it(trained_run, tmp_path):
    """Issue 21's one rule for results on disk, for analyses: a narrower analysis of the same checkpoint goes
    beside the fuller one under its own name; readers take the fullest; another checkpoint's replaces it."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    full = analyze(run, methods=["ablation_zero", "ablation_mean"], count=6, lengths=[2, 3], progress=False)
    narrow = analyze(run, methods=["ablation_zero"], count=4, lengths=[2], progress=False)
    folder = run / "analysis"
    assert head_overlap.saved_record(run) == full
    tag = "ablation_zero.n4.l2"
    assert json.loads((folder / f"head_overlap.{tag}.json").read_text()) == narrow.to_json()
    assert (folder / f"report.{tag}.html").is_file() and (folder / f"ablation_report.{tag}.md").is_file()
    steps = folder / "steps" / "step_000300.json"
    assert json.loads(steps.read_text()) == full.to_json()
    assert json.loads((folder / "steps" / f"step_000300.{tag}.json").read_text()) == narrow.to_json()
    assert head_overlap.fullest_analysis(steps, run)[1] == full
    fuller = analyze(run, methods=["ablation_zero", "ablation_mean"], count=8, lengths=[2, 3], progress=False)
    assert head_overlap.saved_record(run) == fuller  # covers the first: replaces it
    other_step = analyze(run, step=200, methods=["ablation_zero"], count=4, lengths=[2], progress=False)
    assert head_overlap.saved_record(run) == other_step  # the folder's analysis is the step analysed last
    assert json.loads(steps.read_text()) == fuller.to_json()  # each step keeps its own record


@pytest.mark.parametrize("module", ["ablation", "patching", "attention", "report", "reuse"])
def test_every_analysis_module_runs_as_a_command(module):
    done = subprocess.run([sys.executable, "-m", f"interp.{module}", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith(f"usage: python -m interp.{module} [-h] --run RUN"), done.stderr
    assert ("--methods" in done.stdout) is False and ("--family" in done.stdout) == (module in ("report", "reuse"))


def test_one_family_alone_keeps_the_full_analysis_and_a_saved_one_is_redrawn_and_printed(trained_run, tmp_path, capsys):
    from interp.head_overlap import report_main, reuse_main

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    analyze(run, methods=["ablation_zero"], count=6, lengths=[3], progress=False)
    full = analysis_files(run)
    main(["--run", str(run), "--count", "6", "--lengths", "3", "--device", "cpu", "--quiet"], family="attention")
    family = run / "analysis" / "attention"
    record = json.loads((family / "head_overlap.json").read_text())
    assert list(record["maps"]) == ["attention_focus"] and list(record["reuse"]) == ["attention", "attention_focus"]
    assert (family / "steps" / "step_000300.json").is_file()
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


def test_the_run_layout_keeps_the_default_protocol_at_the_top_of_analysis():
    """interp.run names the protocol whose analyses sit directly in analysis/ by its value (it sits below
    interp.reuse): the two must stay one."""
    assert DEFAULT_PROTOCOL == Protocol.COMPETENT.value
