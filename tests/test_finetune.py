"""Finetuning pretrained models (interp.finetune), offline, on a tiny Llama saved locally with its tokenizer.

The tiny model (2 layers, 4 query heads sharing 2 key/value heads, tied embeddings, like SmolLM) and a
character-level tokenizer are written with ``save_pretrained`` and loaded through the path a user's
checkpoint takes: a local directory, or a Hugging Face cache (with revisions) built on disk. Nothing
reaches the network: loads pass ``local_files_only`` and subprocesses run with HF_HUB_OFFLINE=1.
"""

import hashlib
import json
import os
import shutil
import signal
import string
import subprocess
import sys

import pytest
import torch
from conftest import TINY_GROUP
from safetensors.torch import load_file
from tokenizers import Regex, models, pre_tokenizers
from tokenizers import Tokenizer as RawTokenizer
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from interp import finetune
from interp.config import RunConfig, TrainConfig
from interp.errors import InterpError
from interp.groups import load_group
from interp.model import (
    ModelConfig,
    architecture,
    build_from_architecture,
    build_model,
    fast_logits,
    hooked_logits,
    load_pretrained,
    model_shape,
    supports_fast_path,
)
from interp.run import checkpoint_steps, load_run, read_config
from interp.tasks import default_tokens
from interp.train import Trainer, train_run
from interp.vocab import Tokenizer

CHARACTERS = string.ascii_letters + string.digits + "+-*=|:;?>,<[]"
TRAINING = TrainConfig(steps=24, batch_size=16, lr=1e-3, log_every=4, eval_every=12, eval_count=4,
                       checkpoint_every=12, compile=False)
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
CPU = torch.device("cpu")


def char_tokenizer(pattern: str = "the|.", words: tuple[str, ...] = ("the",), drop: str = "") -> PreTrainedTokenizerFast:
    """A word-level tokenizer over single characters (and ``words``), splitting text by ``pattern``."""
    tokens = ["<unk>", "<s>", "</s>", *(c for c in CHARACTERS if c not in drop), *words]
    raw = RawTokenizer(models.WordLevel({token: i for i, token in enumerate(tokens)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def digit_merging_tokenizer() -> PreTrainedTokenizerFast:
    """Reads "1234" as "12", "34" (as GPT-2's tokenizer does with numbers)."""
    return char_tokenizer(r"\d\d|.", tuple(f"{a}{b}" for a in string.digits for b in string.digits))


def save_tiny_llama(folder, seed: int = 0, tokenizer: PreTrainedTokenizerFast | None = None):
    tokenizer = tokenizer or char_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def hub_cache(root, repo: str, snapshots: dict):
    """A Hugging Face cache holding ``repo`` at each revision (a branch pointing at its own commit)."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    for revision, folder in snapshots.items():
        commit = hashlib.sha1(revision.encode()).hexdigest()
        shutil.copytree(folder, repo_dir / "snapshots" / commit)
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / revision).write_text(commit)
    return root


def weights(run, step):
    return load_file(str(run / "checkpoints" / f"step_{step:06d}.safetensors"))


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("pretrained") / "tiny-model")


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, pretrained_dir):
    """The tiny model finetuned on copy ≤ 4 + reverse ≤ 8 for 24 steps; its source deleted afterwards."""
    base = tmp_path_factory.mktemp("finetuned")
    source = shutil.copytree(pretrained_dir, base / "deleted-after-finetuning")
    run = base / "run"
    status = finetune.start(run, finetune.Source(str(source), local_files_only=True), load_group(TINY_GROUP),
                            TRAINING, seed=0, data_seed=0, device=CPU, progress=False)
    assert status == 0
    shutil.rmtree(source)
    return run


def test_the_converted_model_computes_the_hugging_face_function(pretrained_dir):
    pretrained = load_pretrained(str(pretrained_dir), local_files_only=True)
    reference = AutoModelForCausalLM.from_pretrained(pretrained_dir, local_files_only=True)
    tokens = torch.randint(0, len(pretrained.tokenizer), (3, 21))
    with torch.no_grad():
        torch.testing.assert_close(pretrained.model(tokens), reference(tokens).logits, rtol=1e-4, atol=1e-5)
    assert pretrained.model.cfg.n_key_value_heads == 2 and pretrained.model.cfg.original_architecture == "LlamaForCausalLM"
    assert pretrained.source == {"name": str(pretrained_dir.resolve()), "revision": None, "commit": None}


def test_reindexed_rows_copy_or_average_the_pretrained_rows(pretrained_dir):
    pretrained = load_pretrained(str(pretrained_dir), local_files_only=True)
    model, config = finetune.finetune_config(pretrained, load_group("add_only"), TRAINING, 0, 0)
    tokenizer, old, new = pretrained.tokenizer, pretrained.model, model
    ids = tokenizer.get_vocab()
    ours = Tokenizer(default_tokens()).token_to_id
    for token, source in {"7": ["7"], "Q": ["Q"], ";": [";"], "<bos>": ["<s>"], "<eos>": ["</s>"], "<pad>": ["</s>"],
                          "<add>": ["<", "a", "d", "d", ">"], "[12]": ["[", "1", "2", "]"]}.items():
        rows = [ids[piece] for piece in source]
        assert config.pretrained["token_sources"][token] == rows
        torch.testing.assert_close(new.embed.W_E[ours[token]], old.embed.W_E[rows].mean(0))
        torch.testing.assert_close(new.unembed.W_U[:, ours[token]], old.unembed.W_U[:, rows].mean(1))
    # On tokens that are copies, the re-indexed model computes the pretrained logits at the mapped ids.
    sources = list(config.pretrained["token_sources"].values())
    copied = torch.tensor([i for i, rows in enumerate(sources) if len(rows) == 1])
    mapped = torch.tensor([sources[i][0] for i in copied])
    to_pretrained = torch.zeros(len(sources), dtype=torch.long)
    to_pretrained[copied] = mapped
    tokens = copied[torch.randint(0, len(copied), (2, 15))]
    pretrained_tokens = to_pretrained[tokens]
    with torch.no_grad():
        torch.testing.assert_close(new(tokens)[..., copied], old(pretrained_tokens)[..., mapped], rtol=1e-4, atol=1e-5)
    assert config.model.n_layers == 2 and config.model.n_heads == 4 and config.model.positional == "rope"
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config  # config.json round-trips


def test_whichever_forward_the_trainer_uses_equals_the_hooked_forward(pretrained_dir, tmp_path):
    pretrained = load_pretrained(str(pretrained_dir), local_files_only=True)
    model, config = finetune.finetune_config(pretrained, load_group(TINY_GROUP), TRAINING, 0, 0)
    with torch.no_grad():  # non-zero biases too, so every parameter the fast path reads is exercised
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    tokens = torch.randint(0, model.cfg.d_vocab, (3, 29))
    trainer = Trainer(tmp_path, config, CPU, progress=False, model=model)
    assert supports_fast_path(model) and trainer.forward is fast_logits
    torch.testing.assert_close(trainer.forward(model, tokens), model(tokens), rtol=1e-5, atol=1e-5)
    other = build_from_architecture({**architecture(model), "act_fn": "gelu"})  # not the suite's architecture
    other.load_state_dict(model.state_dict())
    trainer = Trainer(tmp_path, config, CPU, progress=False, model=other)
    assert not supports_fast_path(other) and trainer.forward is hooked_logits


def test_the_suite_models_keep_the_fast_path_and_learned_positions_are_summarised(pretrained_dir):
    for positional in ("rope", "nope", "learned"):
        model = build_model(ModelConfig(2, 2, 32, 16, 64, 64, positional=positional), 50, 0)
        assert supports_fast_path(model)
        assert model.cfg.positional_embedding_type == "rotary" or model.pos_embed.W_pos.requires_grad == (
            positional == "learned")
    llama = load_pretrained(str(pretrained_dir), local_files_only=True).model
    gpt2_like = build_from_architecture({**architecture(llama), "positional_embedding_type": "standard",
                                         "normalization_type": "LN", "act_fn": "gelu", "gated_mlp": False})
    shape = model_shape(gpt2_like)
    assert shape.positional == "learned" and ModelConfig.from_dict(shape.to_dict()) == shape
    assert not supports_fast_path(gpt2_like)


def test_a_finetuned_run_is_an_ordinary_run_that_loads_without_hugging_face(finetuned, pretrained_dir):
    assert not (finetuned.parent / "deleted-after-finetuning").exists()
    saved = json.loads((finetuned / "config.json").read_text())
    assert saved["pretrained"]["architecture"]["d_vocab"] == len(default_tokens())
    assert saved["pretrained"]["architecture"]["original_architecture"] == "LlamaForCausalLM"
    assert saved["model_preset"].endswith("deleted-after-finetuning") and saved["data_seed"] == 0
    assert checkpoint_steps(finetuned) == [0, 12, 24]
    start, _ = finetune.finetune_config(load_pretrained(str(pretrained_dir), local_files_only=True),
                                        load_group(TINY_GROUP), TRAINING, 0, 0)
    assert same_weights(weights(finetuned, 0), {name: p.detach() for name, p in start.named_parameters()})
    run = load_run(finetuned)
    assert run.step == 24 and run.model.cfg.n_key_value_heads == 2 and not run.model.training
    assert not torch.equal(run.model.embed.W_E, start.embed.W_E)  # it trained
    records = [json.loads(line) for line in (finetuned / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [12, 24]
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(4, 25, 4))


def test_a_stopped_finetuning_resumes_bit_identically(tmp_path, pretrained_dir, finetuned, monkeypatch):
    run = tmp_path / "stopped"
    original = Trainer.train_step

    def stop_after_step_15(self, parts, step):
        if step == 14:
            self.stop_signal = signal.SIGTERM
        return original(self, parts, step)

    monkeypatch.setattr(Trainer, "train_step", stop_after_step_15)
    source = finetune.Source(str(pretrained_dir), local_files_only=True)
    status = finetune.start(run, source, load_group(TINY_GROUP), TRAINING, 0, 0, CPU, progress=False)
    assert status == 128 + signal.SIGTERM and checkpoint_steps(run) == [0, 12, 15]
    monkeypatch.setattr(Trainer, "train_step", original)
    assert finetune.resume(run, CPU, progress=False, local_files_only=True) == 0
    assert same_weights(weights(run, 24), weights(finetuned, 24))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (finetuned / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [4, 8, 12, 15, 16, 20, 24]  # 15: the stop
    assert [r for r in records if r["kind"] == "eval"] == [r for r in reference if r["kind"] == "eval"]


def test_a_run_without_any_checkpoint_resumes_from_the_pretrained_weights(tmp_path, pretrained_dir, finetuned):
    run = tmp_path / "crashed"
    _, config = finetune.finetune_config(load_pretrained(str(pretrained_dir), local_files_only=True),
                                         load_group(TINY_GROUP), TRAINING, 0, 0)
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config.to_dict()))  # as if killed before checkpoint 0
    with pytest.raises(InterpError, match="finetuned run without a checkpoint yet.*interp.finetune"):
        train_run(run, None, CPU, progress=False)  # python -m interp.train --resume cannot continue it
    assert finetune.resume(run, CPU, progress=False, local_files_only=True) == 0
    assert same_weights(weights(run, 24), weights(finetuned, 24))


def test_evaluate_runs_on_a_finetuned_run_in_a_fresh_process(finetuned):
    result = subprocess.run([sys.executable, "-m", "interp.evaluate", "--run", str(finetuned), "--count", "8",
                             "--lengths", "2", "6", "--device", "cpu"], capture_output=True, text=True, env=OFFLINE)
    assert result.returncode == 0, result.stderr
    summary = json.loads((finetuned / "eval" / "step_000024.json").read_text())
    assert set(summary["tasks"]) == {"copy", "reverse"} and summary["tasks"]["copy"]["n"] == {"2": 8, "6": 8}


def test_head_overlap_and_correlate_run_on_a_finetuned_run(finetuned, tmp_path):
    from interp import correlate, head_overlap

    # a few steps of finetuning learn nothing: competence 0 lets every analysed length count (plumbing only)
    record = head_overlap.analyze(finetuned, methods=["ablation_mean", "attention"], count=4, lengths=[3],
                                  device="cpu", progress=False, threshold=0.0)
    assert record.shape == (2, 4)
    for method in ("ablation_mean", "attention_focus"):
        assert set(record.maps[method]) == {"copy", "reverse"}
        assert torch.tensor(record.maps[method]["copy"]).shape == (2, 4)
    assert torch.tensor(record.reuse["attention"]["copy|reverse"]["per_head"]).shape == (2, 4)
    correlate.main(["--runs", str(finetuned), "--methods", "ablation_mean", "--count", "4", "--lengths", "3",
                    "--eval-count", "4", "--eval-lengths", "1-6", "--device", "cpu", "--quiet", "--competence", "0",
                    "--learned-threshold", "0", "--permutations", "50", "--resamples", "50", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "correlation.json").read_text())
    assert result["runs"]["run"]["steps"] == [0, 12, 24] and result["runs"]["run"]["positional"] == "rope"


def test_a_tokenizer_that_merges_digits_is_refused_before_anything_is_written(tmp_path, capsys):
    model_dir = save_tiny_llama(tmp_path / "merging", tokenizer=digit_merging_tokenizer())
    with pytest.raises(SystemExit) as failed:
        finetune.main(["--pretrained", str(model_dir), "--group", "add_only", "--seed", "0",
                       "--out", str(tmp_path / "run"), "--device", "cpu"])
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' loading bars
    assert failed.value.code == 2 and error.startswith("error: ")
    assert "merges characters" in error and "add:" in error and "--allow-merges" in error
    assert any(f"'{a}{b}'" in error for a in string.digits for b in string.digits)  # names a merged number
    assert not (tmp_path / "run" / "config.json").exists()


def test_merges_are_allowed_on_request_and_symbol_merges_only_noted():
    group = load_group("add_only")
    merging = digit_merging_tokenizer()
    sources, _ = finetune.map_vocabulary(merging, default_tokens(), "merging")
    notes = finetune.check_formats(merging, group, sources, "merging", allow_merges=True)
    assert len(notes) == 1 and "merges" in notes[0] and "one token per character" in notes[0]
    symbols = char_tokenizer(r"\+=|.", ("+=",))  # merges "+=" only, a pair the add format never holds
    sources, _ = finetune.map_vocabulary(symbols, default_tokens(), "symbols")
    assert finetune.check_formats(symbols, group, sources, "symbols") == []
    arrows = char_tokenizer(r";\?|.", (";?",))  # the maze format holds ";?"
    sources, _ = finetune.map_vocabulary(arrows, default_tokens(), "arrows")
    notes = finetune.check_formats(arrows, load_group("path_only"), sources, "arrows")
    assert len(notes) == 1 and "';?'" in notes[0]


def test_a_letter_without_its_own_token_is_refused():
    with pytest.raises(InterpError, match=r"no single token for '7', 'Q'.*every digit and letter"):
        finetune.map_vocabulary(char_tokenizer(drop="Q7"), default_tokens(), "gappy")


def test_revisions_are_finetuned_alike_and_compared_in_one_figure(tmp_path, capsys):
    cache = hub_cache(tmp_path / "hf-cache", "tiny-org/tiny-llama", {
        "step-100": save_tiny_llama(tmp_path / "early", seed=1), "step-200": save_tiny_llama(tmp_path / "late", seed=2)})
    out = tmp_path / "revisions"
    args = ["--pretrained", "tiny-org/tiny-llama", "--revisions", "step-100", "step-200", "--group", str(TINY_GROUP),
            "--seed", "0", "--out", str(out), "--cache-dir", str(cache), "--steps", "4", "--batch-size", "8",
            "--checkpoint-every", "4", "--eval-every", "4", "--eval-count", "4", "--device", "cpu", "--quiet"]
    with pytest.raises(SystemExit) as done:
        finetune.main(args)
    assert done.value.code == 0
    html = (out / "revisions_tiny.html").read_text()
    assert "step-100" in html and "step-200" in html and "copy \\u2264 4" in html and "plotly" in html
    summary = json.loads((out / "revisions.json").read_text())
    assert [entry["revision"] for entry in summary["revisions"]] == ["step-100", "step-200"]
    assert summary["revisions"][0]["commit"] == hashlib.sha1(b"step-100").hexdigest()
    early, late = (read_config(out / name) for name in ("step-100", "step-200"))
    assert (early.training, early.group, early.data_seed) == (late.training, late.group, late.data_seed)
    assert (early.pretrained["revision"], late.pretrained["revision"]) == ("step-100", "step-200")
    assert not torch.equal(weights(out / "step-100", 0)["embed.W_E"], weights(out / "step-200", 0)["embed.W_E"])
    finished = {name: (out / name / "checkpoints" / "step_000004.safetensors").stat().st_mtime_ns
                for name in ("step-100", "step-200")}
    with pytest.raises(SystemExit) as again:
        finetune.main([*args, "--resume"])  # everything done: nothing is trained or evaluated again
    assert again.value.code == 0
    assert finished == {name: (out / name / "checkpoints" / "step_000004.safetensors").stat().st_mtime_ns
                        for name in finished}


@pytest.mark.parametrize("args, message", [
    (["--revision", "main"], "--revision selects a checkpoint of a Hugging Face repository"),
    (["--recipe", "nonesuch"], "unknown finetuning recipe preset 'nonesuch'"),
    (["--steps", "0"], "steps must be a positive integer"),
])
def test_bad_finetuning_input(tmp_path, pretrained_dir, capsys, args, message):
    with pytest.raises(SystemExit) as failed:
        finetune.main(["--pretrained", str(pretrained_dir), "--group", "add_only", "--seed", "0",
                       "--out", str(tmp_path / "run"), "--device", "cpu", *args])
    assert failed.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_model_missing_from_the_cache_is_one_clear_error(tmp_path):
    with pytest.raises(InterpError, match="cannot load pretrained model tiny-org/absent .revision r1.: not a model"):
        load_pretrained("tiny-org/absent", "r1", cache_dir=tmp_path, local_files_only=True)
