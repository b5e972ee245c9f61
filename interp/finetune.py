"""Finetune pretrained language models on task groups, one checkpoint or a series of them (Fig. 9).

    python -m interp.finetune --pretrained NAME_OR_PATH [--revision R] --group PRESET --out runs/NAME --seed S
        [--recipe default] [--steps N] [--batch-size B] [--lr LR] [--eval-every N] [--checkpoint-every N]
        [--data-seed S] [--cache-dir DIR] [--allow-merges] [--device auto|cpu|cuda] [--resume] [--quiet]
    python -m interp.finetune --pretrained NAME --revisions R1 R2 ... --group add_only --out runs/NAME
        --seed S [same options] [--eval-count N]

Cai et al. (arXiv 2506.09251) find that natural-language pretraining acts like an auxiliary task: later
pretraining checkpoints of SmolLM-360M, finetuned on reverse addition (or shortest path) at short lengths,
extrapolate further (their Fig. 9), and multitask transfer replicates on them. This module runs those
experiments on any causal LM that TransformerLens can convert (``interp.model.load_pretrained``: a local
directory, or a Hugging Face name and revision from the local cache).

Vocabulary. A finetuned run keeps the suite's token ids everywhere, so data, evaluation and every analysis
work on it unchanged: the pretrained model is re-indexed (``interp.model.reindex_vocabulary``) so that the
suite's token i gets a row of its own (embedding, unembedding and output bias), starting as

- digits and letters: the pretrained token of that character. Each MUST be one pretrained token, or an
  error names the characters that are not;
- symbols: likewise; when the tokenizer has no single token for one, the mean of its pieces (noted);
- ``<bos>``, ``<eos>``, ``<pad>``: the tokenizer's bos, eos and pad tokens (eos where it has no bos or pad);
- task markers (``<add>`` …) and maze nodes (``[1]`` … ``[64]``): new rows, the mean of the rows of the
  pretrained tokenization of their text (``<``, ``add``, ``>``). The mean keeps a new row at the scale and
  in the span of rows the model knows, and carries a hint of its text; a random row would not.

Format check. Before training, examples of every task of the group are drawn and the character runs in
them (the text between specials, task markers and node tokens, e.g. ``9385+2749=``) are tokenized by the
pretrained tokenizer: digits and letters must come out one token each *in context* too, so the model sees
its numbers and strings the way it saw them in pretraining. A tokenizer that merges them (GPT-2 reads
``1234`` as ``12`` ``34``) is refused with the offending strings, unless ``--allow-merges`` (the run then
feeds one token per character anyway, off the pretrained distribution). Merged symbols (e.g. ``;?``) are
only noted. Notes are printed and kept in ``config.json``.

Training is :mod:`interp.train`'s, unchanged: the same answer-only loss, warmup–stable–decay schedule,
checkpoints, run directory, ``--resume``, signals and quick evaluations; the forward pass is the fast path
where :func:`interp.model.supports_fast_path` holds (Llama family), the hooked one otherwise. Only the
recipe differs: ``models/finetune/default.toml`` (AdamW at lr 1e-4, 5000 steps at batch 256), or
``--recipe NAME_OR_TOML``, with the usual flags on top. The starting weights are the pretrained ones and
the new rows are deterministic, so seeds can only vary the data: ``--data-seed`` defaults to ``--seed``.

``config.json`` holds ``model`` (the pretrained shape, for display) and ``pretrained``: ``name``,
``revision``, ``commit`` (of the cache snapshot), ``architecture`` (the re-indexed HookedTransformerConfig,
which ``interp.run`` builds and loads checkpoints into without touching Hugging Face again),
``token_sources`` (each suite token's pretrained ids), ``allow_merges`` and ``notes``.

Revisions (Fig. 9). ``--revisions R1 R2 …`` finetunes one run per pretraining checkpoint, in
``OUT/<revision>``, all with the same group, recipe, seeds and data (the same budget), evaluates each at
its last checkpoint (``interp.evaluate``, ``--eval-count`` examples per length) and writes
``OUT/revisions_<group>.html`` (main-task exact match vs length, one line per revision in the given order,
Wilson intervals, training lengths marked) and ``OUT/revisions.json``. ``--resume`` continues it.

Pitfalls: greedy decoding and every argmax run over the suite's vocabulary, not the pretrained one (the
model cannot answer with a token outside it); TransformerLens unties tied embeddings and gives Llama
layers (zero) biases, which finetuning then trains; a checkpoint keeps float32 weights and AdamW state,
12 bytes per parameter, and every checkpoint is kept (the README says how large that is for SmolLM-360M).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.colors import sample_colorscale
from transformer_lens import HookedTransformer

from interp.cli import pick_device
from interp.config import RunConfig, TrainConfig
from interp.data import DEFAULT_TEST_COUNT
from interp.errors import InterpError, cli_main
from interp.evaluate import Evaluation, evaluate_run, read_evaluation
from interp.groups import TaskGroup, load_group
from interp.model import Pretrained, architecture, load_pretrained, model_shape, reindex_vocabulary
from interp.plots import SEQUENTIAL_SCALE, TASK_COLOURS, mark_training_lengths, write_html
from interp.presets import load_preset
from interp.run import CONFIG_FILE, checkpoint_steps, read_config
from interp.storage import write_json
from interp.tasks import default_tokens, get_task, stable_rng
from interp.train import (
    add_training_arguments,
    check_new_run_directory,
    check_resume_request,
    train_run,
    training_overrides,
)
from interp.vocab import DIGITS, LETTERS, SPECIALS, Tokenizer

DEFAULT_RECIPE = "default"
"""Recipes live in ``models/finetune/NAME.toml``."""
FORMAT_CHECK_EXAMPLES = 32
"""Examples per task whose character runs the format check tokenizes."""
SPECIAL_SOURCES = {"<pad>": ("pad_token_id", "eos_token_id"), "<bos>": ("bos_token_id", "eos_token_id"),
                   "<eos>": ("eos_token_id",)}
"""The tokenizer attributes each special starts from, in order of preference."""
WORD_CHARACTERS = set(DIGITS + LETTERS)


@dataclass(frozen=True)
class Source:
    """Where pretrained weights come from: a local directory, or a Hub name and revision."""

    name: str
    revision: str | None = None
    cache_dir: Path | None = None
    local_files_only: bool = False

    def load(self) -> Pretrained:
        return load_pretrained(self.name, self.revision, self.cache_dir, self.local_files_only)


def load_recipe(name_or_path: str | Path) -> TrainConfig:
    """A finetuning recipe: ``models/finetune/NAME.toml`` or a TOML file, its ``[training]`` table."""
    name, table = load_preset("finetuning recipe", name_or_path)
    return TrainConfig.from_dict(table.get("training", {}), f"recipe {name!r} [training]")


# ---- vocabulary ---------------------------------------------------------------------------------------

def piece_text(tokenizer: Any, token_id: int) -> str:
    """A pretrained token's text, without the whitespace a tokenizer may prefix (SentencePiece's ▁)."""
    return tokenizer.decode([token_id]).strip()


def content_ids(tokenizer: Any, text: str) -> list[int]:
    """The pretrained tokenization of ``text``, without specials or whitespace-only pieces."""
    return [token_id for token_id in tokenizer.encode(text, add_special_tokens=False) if piece_text(tokenizer, token_id)]


def single_token(tokenizer: Any, vocabulary: dict[str, int], character: str) -> int | None:
    """The pretrained token that is exactly ``character`` (its in-context form), or None."""
    if character in vocabulary:
        return vocabulary[character]
    ids = content_ids(tokenizer, character)
    return ids[0] if len(ids) == 1 and piece_text(tokenizer, ids[0]) == character else None


def map_vocabulary(tokenizer: Any, tokens: tuple[str, ...], name: str) -> tuple[list[list[int]], list[str]]:
    """Per suite token, the pretrained ids its row starts from (one: a copy; several: their mean); and notes."""
    vocabulary = tokenizer.get_vocab()
    sources, missing, notes = [], [], []
    for token in tokens:
        ids: list[int] = []
        if token in SPECIALS:
            found = (getattr(tokenizer, attribute, None) for attribute in SPECIAL_SOURCES[token])
            ids = [token_id for token_id in found if token_id is not None][:1]
        elif len(token) == 1:
            single = single_token(tokenizer, vocabulary, token)
            if single is None and token in WORD_CHARACTERS:
                missing.append(token)
                continue
            if single is None:
                notes.append(f"symbol {token!r} is not one pretrained token; its row starts as the mean of its pieces")
            ids = [] if single is None else [single]
        ids = ids or content_ids(tokenizer, token)  # task markers, nodes, and what has no single token
        if not ids:
            raise InterpError(f"the tokenizer of {name} gives no token at all for {token!r}")
        sources.append(ids)
    if missing:
        raise InterpError(f"the tokenizer of {name} has no single token for {', '.join(map(repr, missing))}: "
                          "every digit and letter must be one pretrained token")
    return sources, notes


def character_runs(row: np.ndarray, characters: set[int]) -> list[np.ndarray]:
    """The maximal runs of ``row`` made of ``characters`` (cut at specials, task markers and nodes)."""
    inside = np.isin(row, list(characters))
    edges = np.flatnonzero(np.diff(np.concatenate([[False], inside, [False]]).astype(int)))
    return [row[start:stop] for start, stop in zip(edges[::2], edges[1::2])]


def merged_pieces(tokenizer: Any, text: str) -> list[str]:
    """The pieces of the pretrained tokenization of ``text`` that are not its single characters."""
    pieces = [piece_text(tokenizer, token_id) for token_id in content_ids(tokenizer, text)]
    if pieces == list(text):
        return []
    return [piece for piece in pieces if len(piece) != 1] or ["".join(pieces)]


def check_formats(tokenizer: Any, group: TaskGroup, sources: list[list[int]], name: str,
                  allow_merges: bool = False) -> list[str]:
    """Refuse a tokenizer that merges digits or letters in the group's formats; return notes.

    Each task's examples are cut into character runs; each run's pretrained tokenization must be one
    token per character where digits and letters are concerned.
    """
    vocab = Tokenizer(default_tokens())
    characters = {index for index, token in enumerate(vocab.tokens) if len(token) == 1 and len(sources[index]) == 1}
    problems: dict[str, dict[str, str]] = {}  # task → merged piece → a text it occurs in
    for spec in group.specs:
        examples = get_task(spec.task).sample_train(stable_rng("finetune format check", spec.task),
                                                    FORMAT_CHECK_EXAMPLES, spec.max_length)
        for row, end in zip(examples.tokens, examples.end):
            for run in character_runs(row[:end], characters):
                text = vocab.decode(run)
                for piece in merged_pieces(tokenizer, text):
                    problems.setdefault(spec.task, {}).setdefault(piece, text)
    notes, refused = [], []
    for task, pieces in problems.items():
        shown = ", ".join(f"{piece!r} (in {text!r})" for piece, text in list(pieces.items())[:4])
        words = any(WORD_CHARACTERS & set(piece) for piece in pieces)
        if words and not allow_merges:
            refused.append(f"{task}: {shown}")
        else:
            notes.append(f"in {task}, the tokenizer merges {shown}; the run feeds one token per character")
    if refused:
        raise InterpError(f"the tokenizer of {name} merges characters that the formats need as one token each — "
                          f"{'; '.join(refused)}. Digits and letters must tokenize one by one in context; pass "
                          "--allow-merges to finetune anyway, one token per character")
    return notes


# ---- runs -------------------------------------------------------------------------------------------

def finetune_config(
    pretrained: Pretrained, group: TaskGroup, training: TrainConfig, seed: int, data_seed: int,
    allow_merges: bool = False,
) -> tuple[HookedTransformer, RunConfig]:
    """The re-indexed model a finetuned run starts from, and the run's config."""
    name = pretrained.source["name"]
    tokens = default_tokens()
    sources, notes = map_vocabulary(pretrained.tokenizer, tokens, name)
    notes += check_formats(pretrained.tokenizer, group, sources, name, allow_merges)
    model = reindex_vocabulary(pretrained.model, sources)
    info = {**pretrained.source, "architecture": architecture(model), "token_sources": dict(zip(tokens, sources)),
            "allow_merges": allow_merges, "notes": notes}
    revision = pretrained.source["revision"]
    label = name + (f"@{revision}" if revision else "")
    config = RunConfig(label, model_shape(model), group, training, seed, data_seed, tokens, info)
    return model, config


def start(out: Path, source: Source, group: TaskGroup, training: TrainConfig, seed: int, data_seed: int,
          device: torch.device, allow_merges: bool = False, progress: bool = True) -> int:
    """Finetune ``source`` on ``group`` into the new run directory ``out``; returns the exit status."""
    if seed < 0 or data_seed < 0:
        raise InterpError("seeds must be non-negative integers")
    check_new_run_directory(out)
    model, config = finetune_config(source.load(), group, training, seed, data_seed, allow_merges)
    for note in config.pretrained["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return train_run(out, config, device, progress, initial_model=model)


def resume(out: Path, device: torch.device, progress: bool = True, cache_dir: Path | None = None,
           local_files_only: bool = False) -> int:
    """Continue the finetuned run in ``out`` (reloading the pretrained weights if it has no checkpoint yet)."""
    config = read_config(out)
    if config.pretrained is None:
        raise InterpError(f"{out} was trained from scratch; continue it with python -m interp.train --out {out} "
                          "--resume")
    if checkpoint_steps(out):
        return train_run(out, None, device, progress)
    saved = config.pretrained
    source = Source(saved["name"], saved["revision"], cache_dir, local_files_only)
    model, again = finetune_config(source.load(), config.group, config.training, config.seed, config.data_seed,
                                   saved.get("allow_merges", False))
    fresh = json.loads(json.dumps(again.pretrained))
    if any(fresh[key] != saved.get(key) for key in ("architecture", "token_sources", "commit")):
        raise InterpError(f"the pretrained model {source.name} is not the one {out} started from (its files "
                          "changed); start a new run")
    return train_run(out, None, device, progress, initial_model=model)


def revision_directory(revision: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", revision)


def finetune_revisions(
    out: Path, source: Source, revisions: list[str], group: TaskGroup, training: TrainConfig, seed: int,
    data_seed: int, device: torch.device, eval_count: int = DEFAULT_TEST_COUNT, resume_runs: bool = False,
    allow_merges: bool = False, progress: bool = True,
) -> int:
    """One run per revision with the same budget, each evaluated, and the comparison figure (Fig. 9)."""
    if Path(source.name).expanduser().is_dir():
        raise InterpError(f"--revisions select checkpoints of a Hugging Face repository; {source.name} is a local "
                          "directory")
    folders = [revision_directory(revision) for revision in revisions]
    if len(set(folders)) != len(folders):
        raise InterpError(f"--revisions must differ (as directory names: {', '.join(folders)})")
    runs = [out / folder for folder in folders]
    wanted = (group, training, seed, data_seed)
    for run, revision in zip(runs, revisions):
        if not resume_runs:
            check_new_run_directory(run)
        elif (run / CONFIG_FILE).is_file():
            saved = read_config(run)
            if (saved.group, saved.training, saved.seed, saved.data_seed) != wanted or saved.pretrained is None or (
                    saved.pretrained["name"], saved.pretrained["revision"]) != (source.name, revision):
                raise InterpError(f"cannot resume: {run} was made with other settings; every revision must get "
                                  "the same group, recipe and seeds")
    results = []
    for run, revision in zip(runs, revisions):
        if (run / CONFIG_FILE).is_file():
            status = resume(run, device, progress, source.cache_dir, source.local_files_only)
        else:
            status = start(run, replace(source, revision=revision), group, training, seed, data_seed, device,
                           allow_merges, progress)
        if status:
            return status
        step = checkpoint_steps(run)[-1]
        summary = read_evaluation(run, step, group, eval_count) or evaluate_run(run, [step], eval_count, None, device, quiet=not progress)[-1]
        results.append((revision, run, summary))
    figure_path = out / f"revisions_{group.name}.html"
    write_html(figure_path, [revisions_figure([(revision, summary) for revision, _, summary in results], group,
                                              source.name)], f"{source.name}: finetuning pretraining checkpoints")
    write_json(out / "revisions.json", {
        "pretrained": source.name, "group": group.name, "main": group.main.task, "steps": training.steps,
        "revisions": [{"revision": revision, "run": run.name, "commit": read_config(run).pretrained["commit"],
                       "step": summary.step, "gg": summary.gg, "learned": summary.learned,
                       "transfer_window_accuracy": summary.transfer_window_accuracy,
                       "accuracy": summary.tasks[group.main.task].accuracy}
                      for revision, run, summary in results]})
    print(f"figure comparing the revisions: {figure_path}")
    return 0


def revisions_figure(results: list[tuple[str, Evaluation]], group: TaskGroup, name: str) -> go.Figure:
    """Main-task exact match vs length, one line per pretraining revision (dark = first given)."""
    main = group.main.task
    positions = np.linspace(0, 1, len(results)) if len(results) > 1 else [0.0]
    figure = go.Figure()
    for (revision, summary), colour in zip(results, sample_colorscale(SEQUENTIAL_SCALE, list(positions))):
        record = summary.tasks[main]
        lengths = sorted(record.accuracy)
        accuracy = np.array([record.accuracy[length] for length in lengths])
        lo, hi = (np.array([record.ci[length][side] for length in lengths]) for side in (0, 1))
        figure.add_trace(go.Scatter(
            x=lengths, y=accuracy, mode="lines+markers", name=revision, line={"color": colour, "width": 2},
            error_y={"type": "data", "symmetric": False, "array": hi - accuracy, "arrayminus": accuracy - lo,
                     "thickness": 1, "width": 2},
            hovertemplate=f"{revision}<br>length %{{x}}: %{{y:.1%}}<extra></extra>"))
    colours = {spec.task: TASK_COLOURS[index % len(TASK_COLOURS)] for index, spec in enumerate(group.specs)}
    mark_training_lengths(figure, {spec.task: spec.max_length for spec in group.specs}, colours)
    figure.update_layout(
        title=f"{name} finetuned on {group.name} from each pretraining checkpoint: {main} exact match vs length",
        xaxis_title="length", yaxis_title=f"{main} exact match", legend_title="revision",
        yaxis={"range": [-0.02, 1.02], "tickformat": ".0%"}, template="plotly_white")
    return figure


# ---- command line -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interp.finetune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", help="a local model directory or a Hugging Face name (from the cache)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--revision", help="the Hub revision (branch, tag or commit) to finetune")
    which.add_argument("--revisions", nargs="+", help="finetune each of these revisions and compare them")
    parser.add_argument("--group", help="group preset name in models/groups/ or a .toml path")
    parser.add_argument("--out", type=Path, required=True, help="run directory (with --revisions: their parent)")
    parser.add_argument("--seed", type=int, help="seed (it varies the data: the weights are pretrained)")
    parser.add_argument("--data-seed", type=int, help="data seed (default: --seed)")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, help="recipe in models/finetune/ or a .toml path")
    parser.add_argument("--eval-count", type=int, default=DEFAULT_TEST_COUNT,
                        help="with --revisions: test examples per task and length")
    parser.add_argument("--cache-dir", type=Path, help="Hugging Face cache directory (default: HF's own)")
    parser.add_argument("--allow-merges", action="store_true",
                        help="finetune even if the tokenizer merges digits or letters in context")
    add_training_arguments(parser)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    progress = not args.quiet
    if args.resume and not args.revisions:
        check_resume_request(args.out, args)
        raise SystemExit(resume(args.out, device, progress, args.cache_dir))
    if args.pretrained is None or args.group is None or args.seed is None:
        raise InterpError("a new finetuning run needs --pretrained, --group and --seed")
    if args.eval_count < 1:
        raise InterpError("--eval-count must be at least 1")
    training = load_recipe(args.recipe).replace(**training_overrides(args))
    group = load_group(args.group)
    data_seed = args.seed if args.data_seed is None else args.data_seed
    source = Source(args.pretrained, args.revision, args.cache_dir)
    if args.revisions:
        status = finetune_revisions(args.out, source, args.revisions, group, training, args.seed, data_seed, device,
                                    args.eval_count, args.resume, args.allow_merges, progress)
    else:
        status = start(args.out, source, group, training, args.seed, data_seed, device, args.allow_merges, progress)
    raise SystemExit(status)


if __name__ == "__main__":
    main()
