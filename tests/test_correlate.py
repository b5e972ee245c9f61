"""interp.correlate: which checkpoints enter, the statistics it reports, caching, the command's files, bad input."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import micro_runs
import numpy as np
import pytest
from micro_runs import ANALYSIS_OPTIONS, EVAL_COUNT, METHODS, REQUEST, RUNS, UNLEARNED_OK, write_fake_analysis
from scipy import stats as scipy_stats

import interp.correlate as correlate_module
from interp.correlate import (
    SCORES,
    AnalysisRequest,
    RunSeries,
    StatisticsSettings,
    analysis_path,
    collect_series,
    correlate,
    correlate_across,
    correlate_within,
    included_checkpoints,
    main,
    parse_steps,
    primary_score,
    reuse_score,
    seed_level,
    versus_control,
)
from interp.groups import TaskGroup, TaskSpec
from interp.reuse import Protocol
from interp.reuse.record import AnalysisSettings, HeadReuseRecord
from interp.run import checkpoint_steps
from interp.stats import seed_level_test, within_group_permutation_test, within_run_test
from interp.storage import write_json

PERMUTATIONS, RESAMPLES = 999, 100
SETTINGS = StatisticsSettings(PERMUTATIONS, RESAMPLES)
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


def test_command_writes_the_json_and_an_offline_page(command):
    result, stdout, out, _ = command
    assert set(result["within_run"]) == set(RUNS) and set(result["across_runs"]) == {"ablation_mean", "attention"}
    assert result["primary_scores"] == {"ablation_mean": "mean_abs_diff", "attention": "difference"}
    assert result["scores"]["mean_abs_diff"]["supports_reuse"] == "rho > 0"
    assert result["scores"]["spearman"]["supports_reuse"] == "rho < 0"
    assert result["settings"]["protocol"] == "competent" and result["caution"] is None
    for label, methods in result["within_run"].items():
        assert result["runs"][label]["steps"] == STEPS
        for record in methods.values():
            assert {"rho", "p", "n", "excluded", "steps", "caution", "by_score"} <= set(record)
    assert set(result["seed_level"]) == {"tiny (rope, micro)", "tiny (nope, micro)", "tiny_control (rope, micro)"}
    for record in result["across_runs"].values():
        assert {"rho", "p", "p_fdr", "n", "n_groups"} <= set(record)
        assert (record["n"], record["n_groups"]) == (4, 2)  # the NoPE group has one run: nothing to permute within
    assert {run["kind"] for run in result["runs"].values()} == {"transfer", "control"}
    html = (out / "correlation.html").read_text()
    assert "<script src=\"http" not in html and "plotly" in html and "ρ" in html
    assert "across runs" in stdout and "per group, the primary test" in stdout and "reuse predicts rho > 0" in stdout


def test_within_run_statistics_are_the_autocorrelation_valid_test_on_the_included_checkpoints(command):
    result = command[0]
    for label, methods in result["within_run"].items():
        series = result["runs"][label]
        for method, record in methods.items():
            assert set(series["reuse"][method]) == {primary_score(method), *record["by_score"]}
            for score, values in series["reuse"][method].items():
                tested = record if score == primary_score(method) else record["by_score"][score]
                kept = [index for index, step in enumerate(series["steps"]) if step in tested["steps"]]
                assert all(values[index] is not None for index in kept)
                expected = within_run_test([series["gg"][i] for i in kept], [values[i] for i in kept], PERMUTATIONS)
                assert {key: tested[key] for key in expected} == expected


def test_seed_level_and_across_runs_statistics(command):
    result = command[0]
    family = []
    for condition, methods in result["seed_level"].items():
        for method, test in methods.items():
            assert test["rhos"] == [result["within_run"][label][method]["rho"] for label in test["runs"]]
            expected = seed_level_test(test["rhos"])
            assert {key: test[key] for key in expected} == expected
            assert all(result["runs"][label]["condition"] == condition for label in test["runs"])
            family.append(test)
    p = [test["p"] for test in family]
    if all(value is not None for value in p):
        assert [test["p_fdr"] for test in family] == pytest.approx(list(scipy_stats.false_discovery_control(p)))
    runs = result["runs"]
    for method, record in result["across_runs"].items():
        score = primary_score(method)
        labels = record["runs"]
        expected = within_group_permutation_test([runs[label]["gg"][-1] for label in labels],
                                                 [runs[label]["reuse"][method][score][-1] for label in labels],
                                                 [runs[label]["condition"] for label in labels], PERMUTATIONS)
        assert {key: record[key] for key in expected} == expected


def test_cached_analyses_were_reused_not_recomputed(command):
    caches = command[3]
    assert caches and all(path.stat().st_mtime_ns == mtime for path, mtime in caches.items())


def test_with_the_defaults_no_micro_checkpoint_enters_and_nothing_crashes(analysed, tmp_path, capsys):
    """Issue 17, finding 10: on unlearned checkpoints (step 0 among them) every method, patching included, gave
    NaN maps that crashed the analysis. With the defaults (every method, competence and learned at 0.9) every
    checkpoint of a micro run is left out with its reason, and the command says so."""
    run = tmp_path / "tiny_s0"
    shutil.copytree(analysed / "tiny_s0", run)
    main(["--runs", str(run), "--steps", "0,120", "--count", "8", "--lengths", "3", "--eval-count", str(EVAL_COUNT),
          "--permutations", "99", "--device", "cpu", "--quiet"])
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "correlation.json").read_text())
    assert result["settings"]["methods"] == list(correlate_module.METHODS)
    for method, record in result["within_run"]["tiny_s0"].items():
        assert record["n"] == 0 and record["rho"] is None and record["excluded"]["not learned"] == 2, method
    assert "2 not learned" in out and "ρ n/a" in out


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
    for changed in (AnalysisRequest(METHODS, count=16, competence=UNLEARNED_OK),
                    AnalysisRequest((*METHODS, "patching"), competence=UNLEARNED_OK),
                    AnalysisRequest(lengths=[3], competence=UNLEARNED_OK),
                    AnalysisRequest(METHODS, competence=0.5),  # another competence threshold
                    AnalysisRequest(METHODS, protocol="paper", competence=UNLEARNED_OK)):
        computed.clear()
        collect_series(run, "run", None, changed)
        assert computed == STEPS, changed
    computed.clear()
    collect_series(run, "run", None, AnalysisRequest(competence=UNLEARNED_OK))  # nothing else set: accept the cache
    assert computed == []


def test_hand_written_analyses_give_their_scores(analysed, tmp_path):
    runs = []
    for name in ("tiny_s0", "control_s1"):
        shutil.copytree(analysed / name, tmp_path / name)
        runs.append(tmp_path / name)
    written = {(run.name, step): write_fake_analysis(run, step, seed=7) for run in runs for step in STEPS}
    result = correlate(runs, [30, 60, 120], AnalysisRequest(progress=False, competence=UNLEARNED_OK), EVAL_COUNT,
                       settings=SETTINGS, learned_threshold=UNLEARNED_OK)
    assert result["runs"]["control_s1"]["steps"] == [30, 60, 120]
    pairs = {"tiny_s0": "copy|reverse", "control_s1": "reverse|copy"}  # main|aux
    for run in runs:
        for method in METHODS:
            score = primary_score(method)
            expected = [written[run.name, step].reuse[method][pairs[run.name]][score] for step in (30, 60, 120)]
            assert result["runs"][run.name]["reuse"][method][score] == pytest.approx(expected)
    across = result["across_runs"]["attention"]
    assert across["runs"] == ["tiny_s0", "control_s1"] and across["n_groups"] == 0  # one run per group: no test
    assert across["rho"] is None and across["p"] is None


def test_reuse_score_is_the_mean_over_main_aux_pairs_in_either_order():
    group = TaskGroup("g", TaskSpec("add", 4), (TaskSpec("nocarry", 8), TaskSpec("carry", 8)))
    reuse = {"patching": {"add|nocarry": {"mean_abs_diff": 0.2, "spearman": 0.5},
                          "carry|add": {"mean_abs_diff": 0.4, "spearman": None},
                          "nocarry|carry": {"mean_abs_diff": 9.0}}}
    settings = AnalysisSettings(["patching"], 4, {}, 0, None, Protocol.COMPETENT, 0.9, 2, 10)
    record = HeadReuseRecord(0, 1, 1, "g", "add", [], settings, {}, {}, {}, {}, {}, {}, reuse, None, {}, [], None)
    assert reuse_score(record, group, "patching", "mean_abs_diff") == pytest.approx(0.3)  # aux|aux left out
    assert reuse_score(record, group, "patching", "spearman") is None  # one pair undefined → undefined
    assert reuse_score(record, group, "attention", "mean_abs_diff") is None


def series(label, gg, score, learned=None, group_name="g", kind="transfer", main="copy", seed=0):
    group = TaskGroup(group_name, TaskSpec(main, 4), (TaskSpec("reverse", 8),), kind)
    steps = list(range(0, 100 * len(gg), 100))
    return RunSeries(label, None, group, "rope", seed, "micro", steps, list(gg), [None] * len(gg),
                     [True] * len(gg) if learned is None else list(learned),
                     {"ablation_mean": {name: list(score) for name in ("mean_abs_diff", "spearman", "jaccard_top_k")},
                      "attention": {"difference": list(reversed(score))}})


def test_unlearned_and_unscored_checkpoints_are_left_out_and_counted():
    """Issue 17, finding 3: step 0 (GG 0, all-zero maps) entered every correlation as a (0, 0) point."""
    gg = [0.0, 0.9, 0.8, 0.6, 0.5, 0.3, 0.2]
    score = [0.0, 0.5, None, 0.3, 0.28, 0.1, 0.05]
    learned = [False, True, True, True, True, True, True]
    run = series("r", gg, score, learned)
    included, excluded = included_checkpoints(run, score)
    assert included == [1, 3, 4, 5, 6] and excluded == {"not learned": 1, "no score (pair not competent)": 1}
    within = correlate_within(run, SETTINGS)["ablation_mean"]
    assert within["steps"] == [100, 300, 400, 500, 600] and within["n"] == 5 and within["caution"] is None
    expected = within_run_test([gg[i] for i in included], [score[i] for i in included], PERMUTATIONS)
    assert within["rho"] == pytest.approx(1.0) and within["p"] == expected["p"]
    assert "only 3 included checkpoints" in correlate_within(series("s", gg[:5], score[:5], learned[:5]),
                                                             SETTINGS)["ablation_mean"]["caution"]


def test_seed_level_test_and_the_control_comparison_on_known_series():
    rng = np.random.default_rng(3)
    runs, within = [], {}
    for index in range(4):
        gg = np.sort(rng.random(8))[::-1]
        related = series(f"t{index}", gg, gg + rng.normal(0, 0.05, 8), seed=index)  # reuse tracks GG
        control = series(f"c{index}", gg, rng.random(8), group_name="g_control", kind="control", seed=index)
        other = series(f"o{index}", gg, rng.random(8), group_name="other", kind="control", main="reverse",
                       seed=index)  # another main task: not this group's control
        runs += [related, control, other]
    within = {run.label: correlate_within(run, SETTINGS) for run in runs}
    seeds = seed_level(runs, within, ["ablation_mean"])
    related = seeds["g (rope, micro)"]["ablation_mean"]
    assert related["n"] == 4 and related["rho"] > 0.8 and related["p"] < 0.05
    assert related == {**seed_level_test([within[f"t{i}"]["ablation_mean"]["rho"] for i in range(4)]),
                       "runs": ["t0", "t1", "t2", "t3"], "rhos": related["rhos"], "score": "mean_abs_diff",
                       "p_fdr": related["p_fdr"]}
    assert related["p_fdr"] == pytest.approx(scipy_stats.false_discovery_control(
        [seeds[condition]["ablation_mean"]["p"] for condition in seeds])[0])
    comparison = versus_control(runs, seeds)
    assert list(comparison) == ["g (rope, micro)"]  # controls are not compared with controls
    assert list(comparison["g (rope, micro)"]["ablation_mean"]) == ["g_control (rope, micro)"]  # same main task only
    test = comparison["g (rope, micro)"]["ablation_mean"]["g_control (rope, micro)"]
    assert test["n_related"] == test["n_control"] == 4 and test["difference_z"] > 0 and test["p"] < 0.05


def test_across_runs_permutes_within_groups_and_leaves_out_unlearned_finals():
    runs = [series(f"a{i}", [0.5, 0.1 * i], [0.2, 0.05 * i], seed=i) for i in range(4)]
    runs += [series(f"b{i}", [0.5, 0.6 + 0.05 * i], [0.2, 0.5 + 0.02 * i], group_name="b", seed=i) for i in range(3)]
    runs.append(series("late", [0.5, 0.0], [0.2, 0.0], learned=[True, False], seed=9))
    across = correlate_across(runs, ["ablation_mean", "attention"], SETTINGS)
    record = across["ablation_mean"]
    assert record["excluded"] == ["late"] and record["n"] == 7 and record["n_groups"] == 2
    labels = record["runs"]
    expected = within_group_permutation_test([run.gg[-1] for run in runs if run.label in labels],
                                             [run.reuse["ablation_mean"]["mean_abs_diff"][-1] for run in runs
                                              if run.label in labels],
                                             [run.condition for run in runs if run.label in labels], PERMUTATIONS)
    assert {key: record[key] for key in expected} == expected
    assert record["p_fdr"] == pytest.approx(record["p"])  # its family (mean_abs_diff over methods) holds it alone


def test_runs_of_several_models_are_never_pooled_and_the_report_says_so():
    runs = [series(f"a{i}", [0.5, 0.1 * i + 0.1], [0.2, 0.05 * i], seed=i) for i in range(3)]
    runs += [dataclasses.replace(run, label=f"big_{run.label}", model="small") for run in runs]
    within = {run.label: correlate_within(run, SETTINGS) for run in runs}
    seeds = seed_level(runs, within, ["ablation_mean"])
    assert set(seeds) == {"g (rope, micro)", "g (rope, small)"}
    across = correlate_across(runs, ["ablation_mean"], SETTINGS)
    assert across["ablation_mean"]["n_groups"] == 2  # permuted within each model's condition
    result = {"primary_scores": {"ablation_mean": "mean_abs_diff"}, "caution": None,
              "families": {"seed_level": "2 seed-level tests"}, "seed_level": seeds, "versus_control": {},
              "within_run": within, "across_runs": across, "skipped": {},
              "runs": {run.label: run.to_dict() for run in runs}}
    assert "runs of 2 models (micro, small)" in correlate_module.format_report(result)


def test_parse_steps():
    assert parse_steps("all") is None and parse_steps("30,0,30") == [0, 30]
    for bad in ("x", ","):
        with pytest.raises(Exception, match="--steps"):
            parse_steps(bad)


def test_every_score_has_a_sign():
    assert set(SCORES) == {"mean_abs_diff", "spearman", "jaccard_top_k", "difference"}


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
    assert "--count must be at least 2" in error_line(capsys, "--runs", str(analysed / "tiny_s0"), "--count", "1")
    assert "--competence" in error_line(capsys, "--runs", str(analysed / "tiny_s0"), "--competence", "2")
    baseline = tmp_path / "baseline"
    shutil.copytree(analysed / "tiny_s0", baseline)
    config = json.loads((baseline / "config.json").read_text())
    config["group"].update(aux=[], kind="baseline")
    write_json(baseline / "config.json", config)
    assert "no run has an auxiliary task" in error_line(capsys, "--runs", str(baseline), "--steps", "120",
                                                        "--eval-count", str(EVAL_COUNT), "--device", "cpu")
    assert checkpoint_steps(analysed / "tiny_s0") == STEPS  # nothing on disk was touched
