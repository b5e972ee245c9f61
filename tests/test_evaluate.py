import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from interp import evaluate as evaluate_module
from interp import load_run, runs, seeds
from interp.cli import format_lengths, parse_lengths
from interp.data import evaluation_set
from interp.errors import InterpError
from interp.evaluate import (
    LEARNED_THRESHOLD,
    Evaluation,
    EvaluationSource,
    TaskAccuracy,
    coverage_tag,
    covers,
    evaluate_run,
    exact_match,
    fullest_evaluation,
    generalization_gap,
    main_window_accuracy,
    read_evaluation,
    summarize,
    transfer_window_accuracy,
)
from interp.groups import TaskGroup, TaskSpec
from interp.stats import wilson_interval


def greedy_exact_match(model, examples) -> np.ndarray:
    """The slow reference: decode greedily token by token from the prompt (mqar keys forced)."""
    results = []
    for row in range(len(examples)):
        start, end = int(examples.target_start[row]), int(examples.end[row])
        tokens = torch.tensor(examples.tokens[row, :start]).unsqueeze(0)
        ok = True
        for position in range(start, end):
            with torch.no_grad():
                predicted = model(tokens)[0, -1].argmax().item()
            expected = int(examples.tokens[row, position])
            if examples.scored[row, position] and predicted != expected:
                ok = False
                break
            tokens = torch.cat([tokens, torch.tensor([[expected]])], dim=1)  # == predicted when scored
        results.append(ok)
    return np.array(results)


def test_teacher_forced_exact_match_equals_greedy_generation(trained_run):
    run = load_run(trained_run)
    for task, length in [("copy", 2), ("copy", 4), ("reverse", 3), ("reverse", 5), ("copy", 6)]:
        examples = evaluation_set(task, length, count=24)
        fast = exact_match(run.model, examples)
        np.testing.assert_array_equal(fast, greedy_exact_match(run.model, examples))
    everything = np.concatenate([exact_match(run.model, evaluation_set(t, n, 24)) for t in ("copy", "reverse")
                                 for n in (2, 3, 4, 5, 6)])
    assert everything.any() and not everything.all(), "the check must see right and wrong examples"


def test_load_run_api(trained_run):
    run = load_run(trained_run)
    assert run.steps == [0, 100, 200, 300] and run.step == 300 and not run.model.training
    assert run.tokenizer.decode(run.tokenizer.encode("<copy>ab=<copy>")) == "<copy>ab=<copy>"
    assert (run.tokenizer.bos_id, run.tokenizer.eos_id, run.tokenizer.pad_id) == (1, 2, 0)
    earlier = load_run(trained_run, step=100)
    assert not torch.equal(earlier.model.embed.W_E, run.model.embed.W_E)
    with pytest.raises(InterpError, match="no checkpoint at step 150"):
        load_run(trained_run, step=150)
    with pytest.raises(InterpError, match="does not exist"):
        load_run(trained_run / "missing")


GROUP = TaskGroup("g", TaskSpec("add", 4), (TaskSpec("nocarry", 8), TaskSpec("carry", 8)))


def test_generalization_gap_and_transfer_window_by_hand():
    accuracy = {
        "add": {1: 1.0, 4: 1.0, 6: 0.5, 8: 0.0, 10: 0.0},
        "nocarry": {1: 1.0, 4: 1.0, 6: 1.0, 8: 1.0, 10: 0.0},
        "carry": {1: 1.0, 4: 0.8, 6: 1.0, 8: 0.6, 10: 0.0},
    }
    # lengths ≤ 8: |1−1|, |0.9−1|, |1−0.5|, |0.8−0| → mean 0.35; window (4, 8]: 0.5 and 0
    assert generalization_gap(GROUP, accuracy) == pytest.approx((0 + 0.1 + 0.5 + 0.8) / 4)
    assert transfer_window_accuracy(GROUP, accuracy) == pytest.approx(0.25)
    alone = TaskGroup("only", TaskSpec("add", 4))
    assert generalization_gap(alone, accuracy) is None and transfer_window_accuracy(alone, accuracy) is None


def test_a_baseline_is_measured_over_its_related_groups_window_only_where_it_was_evaluated_there():
    alone = TaskGroup("only", TaskSpec("add", 4))
    full = {"add": {1: 1.0, 4: 1.0, 5: 0.6, 6: 0.2, 7: 0.0, 8: 0.0}}
    assert main_window_accuracy(alone, full, 4, 8) == pytest.approx((0.6 + 0.2 + 0 + 0) / 4)
    assert main_window_accuracy(GROUP, {"add": full["add"]}, 4, 8) == pytest.approx(0.2)  # any group: its main task
    short = {"add": {1: 1.0, 4: 1.0, 5: 0.6, 6: 0.2}}  # a baseline's own lengths stop inside the window
    assert main_window_accuracy(alone, short, 4, 8) is None


def step_curve(reach: int, top: int = 40) -> dict[int, float]:
    """Exact match 1 up to ``reach``, 0 after it, at lengths 1 … ``top``."""
    return {length: float(length <= reach) for length in range(1, top + 1)}


def measured(group: TaskGroup, accuracy: dict[str, dict[int, float]], threshold: float = LEARNED_THRESHOLD) -> Evaluation:
    """An evaluation with these accuracies (one example a length) and its transfer metrics."""
    tasks = {task: TaskAccuracy(group.role(task), group.spec(task).max_length, by_length,
                                {length: (value, value) for length, value in by_length.items()},
                                dict.fromkeys(by_length, 1)) for task, by_length in accuracy.items()}
    return Evaluation.measured(group, 0, tasks, threshold)


@pytest.mark.parametrize("main, aux, main_reach, aux_reach, gg, window", [
    (16, 32, 16, 32, 16 / 32, 0.0),   # no transfer, aux longer: the main task fails on (16, 32]
    (16, 32, 32, 32, 0.0, 1.0),       # full transfer
    (16, 4, 16, 4, 12 / 16, 0.0),     # aux shorter, no transfer: 0 if GG stopped at L_aux (the paper: 0.60)
    (32, 8, 32, 32, 0.0, 1.0),        # aux shorter and it extrapolates to the main length
    (8, 8, 8, 8, 0.0, None),          # equal lengths: no window
])
def test_generalization_gap_both_ways(main, aux, main_reach, aux_reach, gg, window):
    group = TaskGroup("g", TaskSpec("add", main), (TaskSpec("nocarry", aux), TaskSpec("carry", aux)))
    accuracy = {"add": step_curve(main_reach), "nocarry": step_curve(aux_reach), "carry": step_curve(aux_reach)}
    assert generalization_gap(group, accuracy) == pytest.approx(gg)
    if window is None:
        assert transfer_window_accuracy(group, accuracy) is None and measured(group, accuracy).transfer_window is None
    else:
        assert transfer_window_accuracy(group, accuracy) == pytest.approx(window)
        side = "main" if main < aux else "aux"
        saved = measured(group, accuracy).to_json()["transfer_window"]
        assert saved == {"side": side, "lengths": sorted([main, aux])}
    assert measured(group, accuracy).learned is True


def test_unlearned_checkpoint_has_gg_zero_but_is_not_learned():
    group = TaskGroup("g", TaskSpec("add", 8), (TaskSpec("nocarry", 16),))
    nothing = {"add": step_curve(0), "nocarry": step_curve(0)}
    metrics = measured(group, nothing)
    assert metrics.gg == 0 and metrics.learned is False
    assert metrics.training_accuracy == {"add": 0.0, "nocarry": 0.0}
    half = {"add": step_curve(8), "nocarry": step_curve(12)}  # nocarry right on 12 of its 16 training lengths
    assert measured(group, half).learned is False
    assert measured(group, half, threshold=0.7).learned is True
    untrained_lengths = {"add": {20: 0.0}, "nocarry": {20: 0.0}}  # no training length evaluated: unknown
    assert measured(group, untrained_lengths).learned is None
    baseline = TaskGroup("only", TaskSpec("add", 8))
    assert measured(baseline, {"add": step_curve(8)}).learned is True


def test_saved_records_are_read_with_the_current_definitions():
    group = TaskGroup("g", TaskSpec("add", 16), (TaskSpec("nocarry", 4),))
    counts = {"add": {n: (int(n <= 16), 1) for n in range(1, 21)}, "nocarry": {n: (int(n <= 4), 1) for n in range(1, 21)}}
    summary = summarize(group, counts, step=3)
    old = {**summary.to_json(), "gg": 0.0}
    del old["learned"]
    assert Evaluation.from_json(old, group) == summary


def test_summary_record():
    counts = {"add": {1: (10, 10), 5: (3, 10)}, "nocarry": {1: (10, 10), 5: (9, 10)}, "carry": {1: (10, 10), 5: (7, 10)}}
    summary = summarize(GROUP, counts, step=7)
    assert summary.step == 7 and summary.gg == pytest.approx((0 + 0.5) / 2)
    assert summary.transfer_window_accuracy == pytest.approx(0.3)
    add = summary.to_json()["tasks"]["add"]  # as saved
    assert add["role"] == "main" and add["train_max_length"] == 4 and add["n"] == {"1": 10, "5": 10}
    assert add["ci"]["5"] == pytest.approx(list(wilson_interval(3, 10)))
    assert summary.tasks["carry"].role == "aux"
    assert Evaluation.from_json(summary.to_json(), GROUP) == summary


def test_wilson_interval_textbook_values():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # Newcombe (1998)
    assert wilson_interval(0, 10)[0] == 0 and wilson_interval(10, 10)[1] == pytest.approx(1)
    lo, hi = wilson_interval(np.array([0, 5]), np.array([20, 20]))
    assert lo[1] < 0.25 < hi[1] and hi[0] == pytest.approx(0.1611, abs=1e-4)


def test_parse_lengths():
    assert parse_lengths(["1-3", "8"]) == [1, 2, 3, 8]
    assert parse_lengths(None) is None
    with pytest.raises(InterpError):
        parse_lengths(["x"])
    with pytest.raises(InterpError, match="9-3 is an empty range"):
        parse_lengths(["9-3"])
    with pytest.raises(InterpError, match="at most 4096"):  # not a set of a hundred million lengths
        parse_lengths(["1-100000000"])


def evaluate(*args):
    return subprocess.run([sys.executable, "-m", "interp.evaluate", *args], capture_output=True, text=True)


def test_evaluate_command_writes_json_and_offline_figure(trained_run, tmp_path):
    result = evaluate("--run", str(trained_run), "--count", "32", "--lengths", "1-6", "10")
    assert result.returncode == 0, result.stderr
    record = json.loads((trained_run / "eval" / "step_000300.json").read_text())
    assert set(record) == {"step", "gg", "transfer_window_accuracy", "transfer_window", "learned", "learned_threshold",
                           "training_accuracy", "tasks"} and record["step"] == 300
    assert set(record["tasks"]["copy"]["accuracy"]) == {"1", "2", "3", "4", "5", "6", "10"}
    assert record["tasks"]["reverse"]["n"]["3"] == 32
    assert "GG =" in result.stdout and "copy" in result.stdout
    html = (trained_run / "eval" / "accuracy_step_000300.html").read_text()
    assert "plotly" in html and "<script src=\"http" not in html  # plotly.js embedded: works offline
    assert "copy \\u2264 4" in html and "reverse \\u2264 8" in html  # training lengths marked


def test_evaluate_several_seeds_draws_one_figure(trained_run, tmp_path):
    figure = tmp_path / "seeds.html"
    result = evaluate("--run", str(trained_run), str(trained_run), "--count", "8", "--lengths", "2", "--step", "100",
                      "--figure", str(figure))
    assert result.returncode == 0, result.stderr
    assert "best (tiny) in bold" in figure.read_text()


@pytest.mark.parametrize("args, message", [
    (["--run", "/nonexistent/run"], "does not exist"),
    (["--run", "{run}", "--step", "7"], "no checkpoint at step 7"),
    (["--run", "{run}", "--lengths", "300"], "which takes 605 tokens, but the model's n_ctx is 512"),
    (["--run", "{run}", "--count", "0"], "--count must be at least 1"),
    (["--run", "{tmp}"], "is not an interp run directory"),
])
def test_evaluate_bad_input(trained_run, tmp_path, args, message):
    result = evaluate(*[a.format(run=trained_run, tmp=tmp_path) for a in args])
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def record_of(cells: dict) -> dict:
    """An evaluation record covering task → {length: examples}."""
    return {"step": 0, "tasks": {task: {"n": {str(n): count for n, count in by_length.items()},
                                        "accuracy": {str(n): 0.5 for n in by_length}} for task, by_length in cells.items()}}


def test_covers_and_the_names_of_evaluations_kept_beside():
    full = record_of({"copy": dict.fromkeys(range(1, 11), 8), "reverse": dict.fromkeys(range(1, 11), 8)})
    narrow = record_of({"copy": {3: 2}, "reverse": {3: 2}})
    more_examples = record_of({"copy": {3: 16}, "reverse": {3: 16}})
    assert covers(full, narrow) and not covers(narrow, full) and covers(full, full)
    assert not covers(full, more_examples) and not covers(more_examples, full)  # neither: kept beside each other
    assert not covers(record_of({"copy": dict.fromkeys(range(1, 11), 8)}), narrow)  # a task missing
    assert coverage_tag(narrow) == "n2.l3" and coverage_tag(full) == "n8.l1-10"
    assert coverage_tag(record_of({"copy": {1: 2, 2: 4, 3: 2, 7: 2}})) == "n2-4.l1-3_7"
    assert format_lengths([1, 2, 3, 5, 7, 8], " ") == "1-3 5 7-8" and parse_lengths(["1-3", "5", "7-8"]) == [1, 2, 3, 5,
                                                                                                         7, 8]


def test_a_narrow_evaluation_never_replaces_a_full_one_and_readers_use_the_fullest(trained_run, tmp_path, capsys):
    """The issue's case: evaluate (every length), then evaluate --count 2 --lengths 3; seeds must not report GG from
    the narrow one, and says which file it uses when only a narrow one is there."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("eval", "analysis"))
    main_file, beside = run / "eval" / "step_000300.json", run / "eval" / "step_000300.n2.l3.json"
    evaluate_module.main(["--run", str(run), "--count", "4", "--device", "cpu"])
    full = json.loads(main_file.read_text())
    evaluate_module.main(["--run", str(run), "--count", "2", "--lengths", "3", "--device", "cpu"])
    assert json.loads(main_file.read_text()) == full  # kept
    assert json.loads(beside.read_text())["tasks"]["copy"]["n"] == {"3": 2}
    assert (run / "eval" / "accuracy_step_000300.n2.l3.html").is_file()
    assert "kept beside the fuller eval/step_000300.json" in capsys.readouterr().out
    group = load_run(run).config.group
    assert read_evaluation(run, 300, group).source == EvaluationSource(str(main_file), {})
    assert read_evaluation(run, 300, group).gg == full["gg"]
    [used] = runs.evaluations(run, [300]).values()
    assert used.source.file == str(main_file) and used.gg == full["gg"]
    assert runs.evaluations(run, [300], count=2, lengths=[3])[300].source.file == str(beside)  # as asked
    seeds.main(["--runs", str(run), "--device", "cpu"])
    assert "fewer lengths" not in capsys.readouterr().out
    main_file.unlink()  # only the narrow one left: used, and said
    seeds.main(["--runs", str(run), "--device", "cpu"])
    assert (f"evaluated at fewer lengths than SPEC §6, so its GG covers only those: run ({beside} lacks copy 1-2 4-10; "
            "reverse 1-2 4-10)") in capsys.readouterr().out


def test_a_fuller_or_fresher_evaluation_replaces_the_saved_one(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("eval", "analysis"))
    main_file = run / "eval" / "step_000300.json"
    evaluate_run(run, [300], 2, [3], torch.device("cpu"), quiet=True)
    evaluate_run(run, [300], 4, [2, 3], torch.device("cpu"), quiet=True)  # covers it: replaces it
    assert sorted(path.name for path in (run / "eval").glob("*.json")) == ["step_000300.json"]
    assert json.loads(main_file.read_text())["tasks"]["reverse"]["n"] == {"2": 4, "3": 4}
    evaluate_run(run, [300], 8, [3], torch.device("cpu"), quiet=True)  # more examples, fewer lengths: beside
    assert fullest_evaluation(run, 300)[0] == main_file
    weights = run / "checkpoints" / "step_000300.safetensors"
    later = main_file.stat().st_mtime_ns + 10**9
    os.utime(weights, ns=(later, later))  # the checkpoint was written again: every saved evaluation is stale
    assert fullest_evaluation(run, 300) is None
    evaluate_run(run, [300], 2, [5], torch.device("cpu"), quiet=True)  # so even a narrow one replaces it
    assert json.loads(main_file.read_text())["tasks"]["copy"]["n"] == {"5": 2}
