import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_GROUP, train_micro
from safetensors.torch import load_file

from interp import compute
from interp.compute import autocast_for, computed_precision, cpu_has_amx
from interp.config import TrainConfig, make_run_config
from interp.data import MixtureSampler
from interp.errors import InterpError
from interp.groups import load_group
from interp.run import checkpoint_steps, read_config
from interp.storage import RunLock
from interp.train import (
    Trainer,
    answer_loss,
    cpu_compiler_available,
    learning_rate,
    train_run,
    training_seconds,
)

TRAIN = [sys.executable, "-m", "interp.train", "--model", "micro", "--group", str(TINY_GROUP), "--seed", "3",
         "--steps", "60", "--checkpoint-every", "10", "--quiet"]


def weights(run, step):
    return load_file(str(run / "checkpoints" / f"step_{step:06d}.safetensors"))


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def wait_for(path, process, timeout=120):
    start = time.time()
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.time() - start < timeout
        time.sleep(0.02)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("train") / "straight"
    subprocess.run([*TRAIN, "--out", str(run)], check=True, capture_output=True)
    return run


def test_schedule_is_warmup_stable_decay():
    config = TrainConfig(steps=1000, lr=1e-3, warmup_fraction=0.1, decay_fraction=0.4)
    rates = [learning_rate(config, step) for step in range(1000)]
    assert rates[0] == pytest.approx(1e-5) and rates[99] == pytest.approx(1e-3)
    assert all(rate == 1e-3 for rate in rates[100:600])
    assert all(a >= b for a, b in zip(rates[600:], rates[601:])) and rates[-1] < 1e-7
    assert rates[800] == pytest.approx(5e-4)


def test_loss_is_answer_only():
    sampler = MixtureSampler(load_group(TINY_GROUP), 0)
    batch = sampler.batch(0, 16)
    logits = torch.randn(*batch.tokens.shape, 160)
    loss, task_loss, task_tokens = answer_loss(logits, batch, 2)
    changed = logits.clone()
    predicts_unscored = ~batch.scored[:, 1:]
    changed[:, :-1][predicts_unscored] += 5 * torch.randn(int(predicts_unscored.sum()), 160)
    assert torch.equal(answer_loss(changed, batch, 2)[0], loss)
    assert task_tokens.sum() == batch.scored.sum()
    assert torch.isclose(task_loss.sum(), loss)
    by_hand = torch.nn.functional.cross_entropy(logits[:, :-1][batch.scored[:, 1:]], batch.tokens[:, 1:][batch.scored[:, 1:]],
                                                reduction="sum")
    assert torch.isclose(loss, by_hand)


def test_the_fast_path_trains_on_packed_rows_and_the_hooked_forward_on_width_parts(tmp_path):
    from interp.data import WIDTH_PARTS, PackPlan
    from interp.train import training_plan

    sampler = MixtureSampler(load_group("add_carry"), 0)
    # the paper batches of add_carry need 404-449 rows of 128 (only steps 416 and 11,314 more than 448)
    assert training_plan(True, True, sampler, 1024) == PackPlan(row_multiple=64, min_width=64, max_rows=448)
    assert training_plan(True, False, sampler, 1024) == PackPlan(row_multiple=1, min_width=64)
    assert training_plan(False, False, sampler, 1024) == WIDTH_PARTS
    trainer = Trainer(tmp_path, make_run_config("micro", "add_carry", 0, steps=10), torch.device("cpu"), progress=False)
    assert isinstance(trainer.part_plan, PackPlan)


@pytest.mark.parametrize("layout", ["width parts", "packed rows", "packed rows over the cap"])
def test_a_step_on_a_laid_out_batch_equals_a_step_on_the_whole_batch(tmp_path, layout):
    from interp.data import PackPlan, pack, split_by_width

    config = make_run_config("micro", "add_carry", 0, steps=10)
    batch = MixtureSampler(config.group, 0).batch(0, 256)
    pieces = {"width parts": lambda: split_by_width(batch), "packed rows": lambda: [pack(batch, row_multiple=8)],
              "packed rows over the cap": lambda: PackPlan(row_multiple=8, max_rows=48).cut(batch)}[layout]()
    assert len(pieces) > 1 or len(pieces[0].tokens) < len(batch.tokens)
    steps = []
    for given in ([batch], pieces):
        trainer = Trainer(tmp_path, config, torch.device("cpu"), progress=False)
        trainer.optimizer.step = lambda: None  # keep the weights; compare gradients
        task_loss, task_tokens = trainer.train_step(given, step=5)
        steps.append(([p.grad.clone() for p in trainer.model.parameters() if p.grad is not None], task_loss, task_tokens))
    (whole_grads, whole_loss, whole_tokens), (grads, loss, tokens) = steps
    assert len(grads) == len(whole_grads)
    for a, b in zip(whole_grads, grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(whole_loss, loss, rtol=1e-5, atol=1e-5)
    assert torch.equal(whole_tokens, tokens)


def test_run_directory_contents(uninterrupted):
    config = json.loads((uninterrupted / "config.json").read_text())
    assert set(config) >= {"model", "group", "training", "seed", "data_seed", "vocab", "model_preset"}
    assert config["model"]["n_layers"] == 2 and config["group"]["main"] == {"task": "copy", "max_length": 4}
    assert config["training"]["steps"] == 60 and config["seed"] == 3 and len(config["vocab"]) == 152
    assert checkpoint_steps(uninterrupted) == [0, 10, 20, 30, 40, 50, 60]
    for step in checkpoint_steps(uninterrupted):
        state = json.loads((uninterrupted / "checkpoints" / f"step_{step:06d}.json").read_text())
        assert state["step"] == step
    records = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(5, 61, 5))
    assert set(train[0]["loss_by_task"]) == {"copy", "reverse"} and train[0]["lr"] > 0
    assert train[-1]["loss"] < train[0]["loss"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [20, 40, 60] and set(evals[0]["accuracy"]) == {"copy", "reverse"}
    assert not list(uninterrupted.glob("**/*.tmp"))


def test_training_time_is_summed_from_the_logged_windows(uninterrupted, tmp_path):
    records = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    windows = [record["window_s"] for record in records if record["kind"] == "train"]
    assert all(window > 0 for window in windows)
    assert training_seconds(uninterrupted) == pytest.approx(sum(windows))
    old = tmp_path / "old"  # a run logged before window_s, and a torn last line
    old.mkdir()
    lines = [json.dumps({key: value for key, value in record.items() if key != "window_s"}) for record in records]
    (old / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 6')
    assert training_seconds(old) is None and training_seconds(tmp_path / "none") is None


def test_kill_9_then_resume_is_bit_identical(tmp_path, uninterrupted):
    run = tmp_path / "killed"
    process = subprocess.Popen([*TRAIN, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(run / "checkpoints" / "step_000030.json", process)
    process.kill()
    process.wait()
    assert checkpoint_steps(run)[-1] < 60
    (run / "checkpoints" / ".step_000040.safetensors.k9k9k9.tmp").write_bytes(b"half a write")  # as kill -9 leaves
    subprocess.run([sys.executable, "-m", "interp.train", "--out", str(run), "--resume", "--quiet"], check=True,
                   capture_output=True)
    assert same_weights(weights(run, 60), weights(uninterrupted, 60))
    assert not list(run.glob("**/.*.tmp")), "resume removes what interrupted writes left"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len((uninterrupted / "metrics.jsonl").read_text().splitlines())


def test_sigterm_saves_a_checkpoint_and_resume_finishes_identically(tmp_path, uninterrupted):
    run = tmp_path / "stopped"
    process = subprocess.Popen([*TRAIN, "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(run / "checkpoints" / "step_000010.json", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr
    assert "checkpoint saved" in stderr
    stopped_at = checkpoint_steps(run)[-1]
    assert stopped_at % 10 != 0 or stopped_at < 60  # saved where it stopped
    subprocess.run([sys.executable, "-m", "interp.train", "--out", str(run), "--resume", "--quiet"], check=True,
                   capture_output=True)
    assert same_weights(weights(run, 60), weights(uninterrupted, 60))


def test_a_locked_run_is_refused(tmp_path, uninterrupted):
    with RunLock(uninterrupted):
        result = subprocess.run([sys.executable, "-m", "interp.train", "--out", str(uninterrupted), "--resume"],
                                capture_output=True, text=True)
    assert result.returncode == 2 and "is being written by process" in result.stderr


@pytest.mark.parametrize("extra, message", [
    ([], "already holds a run; add --resume"),
    (["--resume", "--steps", "80"], "cannot resume with a different steps"),
])
def test_existing_runs_are_protected(uninterrupted, extra, message):
    before = (uninterrupted / "config.json").read_bytes()
    args = [*TRAIN, "--out", str(uninterrupted)] if "--resume" not in extra else [
        sys.executable, "-m", "interp.train", "--out", str(uninterrupted)]
    result = subprocess.run([*args, *extra], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (uninterrupted / "config.json").read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (["--model", "micro", "--group", "nope_group", "--seed", "0"], "unknown group preset 'nope_group'"),
    (["--model", "huge", "--group", "add_only", "--seed", "0"], "unknown model preset 'huge'"),
    (["--resume"], "cannot resume"),
    (["--model", "micro", "--group", "add_only"], "needs --model, --group and --seed"),
    (["--model", "micro", "--group", "add_only", "--seed", "0", "--steps", "0"], "steps must be a positive integer"),
])
def test_bad_training_input(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "interp.train", "--out", str(tmp_path / "r"), *args],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_preset_switch_that_is_not_a_boolean_is_a_clear_error(tmp_path):
    micro = (Path(__file__).parents[1] / "models" / "sizes" / "micro.toml").read_text()
    preset = tmp_path / "graphs.toml"
    preset.write_text(micro.replace("[training]", '[training]\ncuda_graphs = "yes"'))
    result = subprocess.run([*TRAIN, "--model", str(preset), "--out", str(tmp_path / "r")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "cuda_graphs must be true or false, got 'yes'" in result.stderr
    assert not (tmp_path / "r").exists()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = Trainer.train_step

    def poisoned(self, parts, step):
        task_loss, task_tokens = original(self, parts, step)
        return (task_loss * float("nan") if step >= 23 else task_loss), task_tokens

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    with pytest.raises(InterpError, match=r"loss became nan by step 25.*last good checkpoint is step 20"):
        train_micro(tmp_path / "nan", steps=60, checkpoint_every=10, log_every=5)
    assert checkpoint_steps(tmp_path / "nan")[-1] == 20


def test_a_second_signal_while_a_checkpoint_is_written_leaves_no_weights_without_their_json(tmp_path, monkeypatch,
                                                                                             capsys):
    """The second Ctrl-C aborts at once (KeyboardInterrupt, here while the step-20 optimizer state is written): the
    step's weights are removed again, the run exits 130 with one line, and step 0 is its last checkpoint."""
    original, calls = Trainer.optimizer_tensors, []

    def interrupted(self):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "optimizer_tensors", interrupted)
    config = make_run_config("micro", TINY_GROUP, 0, steps=40, batch_size=32, checkpoint_every=20, eval_every=40)
    assert train_run(tmp_path / "run", config, torch.device("cpu"), progress=False) == 130
    assert sorted(path.name for path in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step_000000.json", "step_000000.optimizer.safetensors", "step_000000.safetensors"]
    assert "aborted by a second signal; the last complete checkpoint is step 0" in capsys.readouterr().err


def test_nope_positional_embedding_stays_exactly_zero(tmp_path):
    run = train_micro(tmp_path / "nope", positional="nope", steps=30, checkpoint_every=30, eval_every=30)
    saved = weights(run, 30)
    assert torch.count_nonzero(saved["pos_embed.W_pos"]) == 0
    assert not torch.equal(saved["embed.W_E"], weights(run, 0)["embed.W_E"])  # the rest did train
    assert read_config(run).model.positional == "nope"


def test_device_cuda_without_cuda_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = subprocess.run([*TRAIN, "--out", str(tmp_path / "r"), "--device", "cuda"], capture_output=True, text=True,
                            env={**os.environ})
    assert result.returncode == 2 and "no CUDA device" in result.stderr


@pytest.mark.skipif(not cpu_compiler_available(), reason="torch.compile needs a C++ compiler on the CPU")
def test_compiled_cpu_training_resumes_bit_identically(tmp_path, monkeypatch):
    """The CPU compiles with dynamic shapes over packed rows, in bf16 where the CPU has AMX (as the quickstart
    trains); a resumed run must still end bit-identical."""
    cpu = torch.device("cpu")
    config = make_run_config("micro", TINY_GROUP, 3, steps=20, checkpoint_every=10, compile=True, precision="bf16")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # one thread runs eager (cpu_compile_is_safe)
    assert Trainer(tmp_path / "probe", config, cpu, progress=False).compiled
    straight = tmp_path / "straight"
    assert train_run(straight, config, cpu, progress=False) == 0
    crashed = tmp_path / "crashed"  # as if killed after the step-10 checkpoint
    shutil.copytree(straight, crashed)
    for path in (crashed / "checkpoints").glob("step_000020*"):
        path.unlink()
    assert train_run(crashed, None, cpu, progress=False) == 0
    assert same_weights(weights(crashed, 20), weights(straight, 20))
    state = json.loads((straight / "checkpoints" / "step_000020.json").read_text())
    assert state["device"] == "cpu" and state["precision"] == ("bf16" if cpu_has_amx() else "fp32")


def test_bf16_is_computed_only_where_the_device_has_it(monkeypatch):
    cpu = torch.device("cpu")
    assert computed_precision(cpu, "fp32") == "fp32"
    for amx, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr("interp.compute.cpu_has_amx", lambda amx=amx: amx)
        assert computed_precision(cpu, "bf16") == expected
        with autocast_for(cpu, computed_precision(cpu, "bf16")):
            product = torch.ones(2, 2) @ torch.ones(2, 2)
        assert product.dtype == (torch.bfloat16 if amx else torch.float32)


def test_cpu_threads_honour_the_environment_then_the_saved_count_then_take_every_core(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert compute.cpu_threads(saved=2) == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert compute.cpu_threads(saved=2) == 2  # a resumed run computes with the threads it began with
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 5})
    assert compute.cpu_threads(saved=None) == 3


def test_building_a_trainer_changes_no_process_wide_setting(tmp_path):
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), dict(os.environ))
    Trainer(tmp_path, make_run_config("micro", TINY_GROUP, 0, steps=10), torch.device("cpu"), progress=False)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), dict(os.environ)) == before


def test_amx_counts_only_where_the_kernels_may_use_it(monkeypatch):
    compute.cpu_has_amx.cache_clear()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # the emulation of a CPU without AVX-512 or AMX
    try:
        assert compute.cpu_has_amx() is False
    finally:
        compute.cpu_has_amx.cache_clear()


def test_a_checkpoint_records_the_threads_it_was_computed_with(uninterrupted):
    record = json.loads(next((uninterrupted / "checkpoints").glob("step_*.json")).read_text())
    assert record["threads"] == 1  # OMP_NUM_THREADS=1 in conftest


def test_capped_kernels_get_a_compiled_kernel_cache_of_their_own():
    """Kernels compiled natively and reused with ATEN_CPU_CAPABILITY=avx2 crashed the step (a segfault on an AMD
    EPYC): the package gives capped processes a cache of their own, and leaves others' as torch chooses."""
    probe = "import os, interp; print(os.environ.get('TORCHINDUCTOR_CACHE_DIR'))"
    clean = {name: value for name, value in os.environ.items()
             if name not in ("TORCHINDUCTOR_CACHE_DIR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}

    def cache_dir(**variables: str) -> str:
        return subprocess.run([sys.executable, "-c", probe], env={**clean, **variables}, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert cache_dir() == "None"
    capped = cache_dir(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2")
    assert Path(capped).name == "torchinductor_capped_avx2_avx2"
    assert cache_dir(ATEN_CPU_CAPABILITY="avx2", TORCHINDUCTOR_CACHE_DIR="/elsewhere") == "/elsewhere"
