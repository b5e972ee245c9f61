"""interp.correlate: statistics checked against scipy, caching, the command's files, bad input."""

import json
import os
import shutil
import subprocess
import sys
from itertools import permutations

import micro_runs
import numpy as np
import pytest
from micro_runs import ANALYSIS_OPTIONS, EVAL_COUNT, METHODS, REQUEST, RUNS, write_fake_analysis
from scipy import stats as scipy_stats

import interp.correlate as correlate_module
from interp.correlate import (
    PRIMARY_SCORE,
    SCORES,
    AnalysisRequest,
    RunSeries,
    StatisticsSettings,
    analysis_path,
    checkpoint_caution,
    collect_series,
    correlate,
    correlate_across,
    correlate_within,
    main,
    parse_steps,
    reuse_score,
)
from interp.groups import TaskGroup, TaskSpec
from interp.run import checkpoint_steps
from interp.storage import write_json

PERMUTATIONS, RESAMPLES = 2000, 300
STEPS = [0, 30, 60, 90, 120]


@pytest.fixture(scope="session")
def analysed(tmp_path_factory):
    return micro_runs.analysed_runs(tmp_path_factory)


@pytest.fixture(scope="session")
def command(analysed, tmp_path_factory):
    """``python -m interp.correlate`` on the five micro runs; the analysis files' mtimes before it ran."""
    caches = {path: path.stat().st_mtime_ns for path in analysed.glob("*/analysis/steps/*.json")}
    out = tmp_path_factory.mktemp("correlation")
    result = subprocess.run([sys.executable, "-m", "interp.correlate", "--runs", str(analysed), *ANALYSIS_OPTIONS,
                             "--permutations", str(PERMUTATIONS), "--resamples", str(RESAMPLES), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    strict = json.loads((out / "correlation.json").read_text(), parse_constant=reject_non_finite)
    return strict, result.stdout, out, caches


def reject_non_finite(constant):
    raise AssertionError(f"correlation.json holds {constant}, which is not JSON: undefined values must be null")


def finite_pairs(x, y):
    return [(a, b) for a, b in zip(x, y) if a is not None and b is not None]


def reference_test(x, y, n_resamples=RESAMPLES, seed=0):
    """The slow reference: scipy's Spearman, every ordering enumerated, resamples one by one."""
    pairs = finite_pairs(x, y)
    xs, ys = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    if len(pairs) < 2 or not np.ptp(xs) or not np.ptp(ys):  # scipy: "An input array is constant"
        return {"rho": None, "n": len(pairs)}
    rho = scipy_stats.spearmanr(xs, ys).statistic
    null = np.array([scipy_stats.spearmanr(xs, ys[list(order)]).statistic for order in permutations(range(len(xs)))])
    rng = np.random.default_rng(seed)
    resampled = []
    for _ in range(n_resamples):
        rows = rng.integers(0, len(xs), len(xs))
        with np.errstate(invalid="ignore"):
            value = scipy_stats.spearmanr(xs[rows], ys[rows]).statistic if np.ptp(xs[rows]) and np.ptp(ys[rows]) \
                else np.nan
        resampled.append(value)
    resampled = np.array(resampled)[np.isfinite(resampled)]
    return {"rho": rho, "p": float(np.mean(np.abs(null) >= abs(rho) - 1e-9)), "n": len(pairs),
            "ci": [np.quantile(resampled, 0.025), np.quantile(resampled, 0.975)]}


def assert_matches_reference(record, reference):
    assert record["n"] == reference["n"]
    if reference["rho"] is None:
        assert record["rho"] is None
        return
    assert record["rho"] == pytest.approx(reference["rho"], abs=1e-12)
    assert record["p"] == pytest.approx(reference["p"], abs=1e-12)  # ≤ 5 points: exact
    assert record["ci"] == pytest.approx(reference["ci"], abs=1e-12)


def test_command_writes_the_json_and_an_offline_page(command):
    result, stdout, out, _ = command
    assert set(result["within_run"]) == set(RUNS) and set(result["across_runs"]) == set(METHODS)
    assert result["primary_score"] == PRIMARY_SCORE == "mean_abs_diff"
    assert result["scores"]["mean_abs_diff"]["supports_reuse"] == "rho > 0"
    assert result["scores"]["spearman"]["supports_reuse"] == "rho < 0"
    for label, methods in result["within_run"].items():
        assert result["runs"][label]["steps"] == STEPS
        for record in methods.values():
            assert {"rho", "p", "ci", "n", "n_eff", "caution", "by_score"} <= set(record)
    for record in result["across_runs"].values():
        assert {"rho", "p", "p_fdr", "ci", "n"} <= set(record) and record["n"] == len(RUNS)
    assert {run["kind"] for run in result["runs"].values()} == {"transfer", "control"}
    assert {run["positional"] for run in result["runs"].values()} == {"rope", "nope"}
    html = (out / "correlation.html").read_text()
    assert "<script src=\"http" not in html and "plotly" in html and "ρ" in html
    assert "across runs" in stdout and "reuse predicts rho > 0" in stdout


def test_within_run_statistics_match_scipy(command):
    result = command[0]
    for label, methods in result["within_run"].items():
        series = result["runs"][label]
        for method, record in methods.items():
            assert set(series["reuse"][method]) == {PRIMARY_SCORE, *record["by_score"]}
            for score in series["reuse"][method]:
                tested = record if score == PRIMARY_SCORE else record["by_score"][score]
                assert_matches_reference(tested, reference_test(series["gg"], series["reuse"][method][score]))


def test_across_runs_statistics_and_fdr_match_scipy(command):
    result = command[0]
    runs = result["runs"]
    assert "pattern_l1_mean" in result["across_runs"]["attention"]["by_score"]  # the paper's attention score
    assert "pattern_l1_mean" not in result["across_runs"]["ablation_mean"]["by_score"]
    for score in SCORES:
        records = {method: record if score == PRIMARY_SCORE else record["by_score"][score]
                   for method, record in result["across_runs"].items()
                   if score == PRIMARY_SCORE or score in record["by_score"]}
        for method, record in records.items():
            finals = [(run["gg"][-1], run["reuse"][method][score][-1]) for run in runs.values()]
            assert_matches_reference(record, reference_test(*zip(*finals)))
        p = [record["p"] for record in records.values()]
        if all(value is not None for value in p):
            expected = scipy_stats.false_discovery_control(p, method="bh")
            assert [record["p_fdr"] for record in records.values()] == pytest.approx(list(expected))


def test_cautions_follow_the_documented_rule_and_are_printed(command):
    result, stdout = command[0], command[1]
    for label, methods in result["within_run"].items():
        for method, record in methods.items():
            for tested in [record, *record["by_score"].values()]:
                expected = tested["n"] < 5 or tested["n_eff"] is None or tested["n_eff"] < 4
                assert (tested["caution"] is not None) == expected
            assert (f"caution: {label} / {method}:" in stdout) == (record["caution"] is not None)


def test_cached_analyses_were_reused_not_recomputed(command):
    caches = command[3]
    assert caches and all(path.stat().st_mtime_ns == mtime for path, mtime in caches.items())


def test_stale_analyses_and_evaluations_are_recomputed(analysed, tmp_path, monkeypatch):
    run = tmp_path / "tiny_s0"
    shutil.copytree(analysed / "tiny_s0", run)  # copy2 keeps the mtimes, so the caches stay fresh
    computed = []

    def fake_compute(run_dir, step, request):
        computed.append(step)
        return write_fake_analysis(run_dir, step, request.methods or METHODS, request.count or 8, request.lengths)

    monkeypatch.setattr(correlate_module, "compute_analysis", fake_compute)
    collect_series(run, "run", None, REQUEST, EVAL_COUNT)
    assert computed == []
    checkpoint = run / "checkpoints" / "step_000060.safetensors"
    evaluation = run / "eval" / "step_000060.json"
    before = evaluation.stat().st_mtime_ns
    os.utime(checkpoint, ns=(before + 10**9, before + 10**9))  # rewritten after its evaluation
    collect_series(run, "run", None, REQUEST, EVAL_COUNT)
    assert computed == [60] and evaluation.stat().st_mtime_ns > before  # that checkpoint only, both redone
    analysis_path(run, 90).write_text("{torn")
    collect_series(run, "run", None, REQUEST)
    assert computed == [60, 90]
    for changed in (AnalysisRequest(METHODS, count=16), AnalysisRequest((*METHODS, "patching")),
                    AnalysisRequest(lengths=[3])):
        computed.clear()
        collect_series(run, "run", None, changed)
        assert computed == STEPS, changed
    computed.clear()
    collect_series(run, "run", None, AnalysisRequest())  # nothing set: whatever is cached is accepted
    assert computed == []


def test_hand_written_analyses_give_their_scores(analysed, tmp_path):
    runs = []
    for name in ("tiny_s0", "control_s1"):
        shutil.copytree(analysed / name, tmp_path / name)
        runs.append(tmp_path / name)
    written = {(run.name, step): write_fake_analysis(run, step, seed=7) for run in runs for step in STEPS}
    result = correlate(runs, [30, 60, 120], AnalysisRequest(progress=False), EVAL_COUNT,
                       settings=StatisticsSettings(PERMUTATIONS, RESAMPLES))
    assert result["runs"]["control_s1"]["steps"] == [30, 60, 120]
    pairs = {"tiny_s0": "copy|reverse", "control_s1": "reverse|copy"}  # main|aux
    for run in runs:
        for method in METHODS:
            expected = [written[run.name, step]["reuse"][method][pairs[run.name]]["mean_abs_diff"]
                        for step in (30, 60, 120)]
            assert result["runs"][run.name]["reuse"][method]["mean_abs_diff"] == pytest.approx(expected)
    assert result["across_runs"]["attention"]["n"] == 2


def test_reuse_score_is_the_mean_over_main_aux_pairs_in_either_order():
    group = TaskGroup("g", TaskSpec("add", 4), (TaskSpec("nocarry", 8), TaskSpec("carry", 8)))
    record = {"reuse": {"patching": {"add|nocarry": {"mean_abs_diff": 0.2, "spearman": 0.5},
                                     "carry|add": {"mean_abs_diff": 0.4, "spearman": None},
                                     "nocarry|carry": {"mean_abs_diff": 9.0}}}}
    assert reuse_score(record, group, "patching", "mean_abs_diff") == pytest.approx(0.3)  # aux|aux left out
    assert reuse_score(record, group, "patching", "spearman") is None  # one pair undefined → undefined
    assert reuse_score(record, group, "attention", "mean_abs_diff") is None


def series(label, gg, score, group_name="g", kind="transfer"):
    group = TaskGroup(group_name, TaskSpec("copy", 4), (TaskSpec("reverse", 8),), kind)
    steps = list(range(0, 100 * len(gg), 100))
    return RunSeries(label, None, group, "rope", 0, steps, gg, [None] * len(gg),
                     {"ablation_mean": {name: list(score) for name in SCORES},
                      "patching": {name: list(reversed(score)) for name in SCORES}})


def test_statistics_on_known_series():
    settings = StatisticsSettings(permutations=10_000, resamples=200)
    gg = [0.9, 0.8, 0.6, 0.5, 0.3, 0.2]
    within = correlate_within(series("r", gg, [0.5, 0.45, 0.3, 0.28, 0.1, 0.05]), settings)
    assert within["ablation_mean"]["rho"] == pytest.approx(1.0) and within["ablation_mean"]["p"] == pytest.approx(2 / 720)
    assert within["patching"]["rho"] == pytest.approx(-1.0)
    runs = [series(f"r{i}", [0.1 * i], [0.05 * i + 0.01 * (i % 2)]) for i in range(7)]
    across = correlate_across(runs, ["ablation_mean", "patching"], settings)
    p = [across[method]["p"] for method in ("ablation_mean", "patching")]
    assert across["ablation_mean"]["rho"] == pytest.approx(scipy_stats.spearmanr(range(7), [
        0.05 * i + 0.01 * (i % 2) for i in range(7)]).statistic)
    assert [across[m]["p_fdr"] for m in ("ablation_mean", "patching")] == pytest.approx(
        list(scipy_stats.false_discovery_control(p)))
    assert across["ablation_mean"]["n"] == 7 and across["ablation_mean"]["caution"] is None


def test_checkpoint_caution_rule():
    assert "only 4 checkpoints" in checkpoint_caution([0.1, 0.2, 0.3, 0.4], [1, 2, 4, 3])[1]
    n_eff, caution = checkpoint_caution(list(range(12)), [v ** 1.5 for v in range(12)])  # two smooth trends
    assert n_eff < 4 and "effective sample size" in caution
    n_eff, caution = checkpoint_caution([1, 3, 1, 3, 2, 4, 2, 4], [1, 1, 2, 2, 1, 1, 2, 2])  # no trend
    assert n_eff == 8 and caution is None
    assert "constant" in checkpoint_caution([0, 0, 0, 0, 0], [1, 2, 3, 4, 5])[1]
    assert checkpoint_caution([None, 0.1, 0.2, 0.3, 0.4, 0.5], [1, 2, 3, 4, 5, None])[0] is not None


def test_parse_steps():
    assert parse_steps("all") is None and parse_steps("30,0,30") == [0, 30]
    for bad in ("x", ","):
        with pytest.raises(Exception, match="--steps"):
            parse_steps(bad)


def error_line(capsys, *argv):
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err


def test_bad_input_gives_one_line(analysed, tmp_path, capsys):
    assert "does not exist" in error_line(capsys, "--runs", str(tmp_path / "missing"))
    assert "--steps" in error_line(capsys, "--runs", str(analysed / "tiny_s0"), "--steps", "a,b")
    assert "no checkpoint at step 7" in error_line(capsys, "--runs", str(analysed / "tiny_s0"), "--steps", "7",
                                                   "--eval-count", str(EVAL_COUNT))
    baseline = tmp_path / "baseline"
    shutil.copytree(analysed / "tiny_s0", baseline)
    config = json.loads((baseline / "config.json").read_text())
    config["group"].update(aux=[], kind="baseline")
    write_json(baseline / "config.json", config)
    assert "no run has an auxiliary task" in error_line(capsys, "--runs", str(baseline), "--steps", "120",
                                                        "--eval-count", str(EVAL_COUNT), "--device", "cpu")
    assert checkpoint_steps(analysed / "tiny_s0") == STEPS  # nothing on disk was touched
