"""Every model this suite builds, saves or loads: TransformerLens ``HookedTransformer`` (3.x) in one file.

Shapes (SPEC §5): the ``paper`` preset is 6 layers × 6 heads, d_model 384, d_head 64, d_mlp 1536, RMSNorm,
gated SiLU MLP and rotary embeddings with base 1e5. ``positional = "nope"`` removes all positional
information: TransformerLens's standard positional embedding is kept (so hook names and parameters are
the usual ones) but held at exactly zero and frozen (``requires_grad = False``, hence outside the
optimiser and its weight decay); a test proves it stays zero through training.

Initialisation follows a plain Llama-style recipe (the issue's reference): every weight matrix normal with
std 0.02, the output projections (``W_O``, ``W_out``) scaled by 1/√(2·n_layers), biases zero, norm gains
one. It draws from a ``torch.Generator`` seeded by the model seed on the CPU, so a seed gives the same
initial weights on every device.

Fast path. ``HookedTransformer.forward`` materialises every attention pattern so hooks can see it; for
training and evaluation with no hook attached, :func:`fast_logits` computes the same function from the
same parameters with ``F.scaled_dot_product_attention`` (flash/memory-efficient kernels) and compiles
well. Tests hold it equal to ``model(tokens)``; anything that needs hooks uses the model itself. Its
embedding lookup takes its gradient as one matrix product (:class:`EmbeddingLookup`): the usual
scatter-add is, in the deterministic mode that bit-identical resume needs on CUDA, a kernel that
serialises repeated token ids, and with a vocabulary of 152 ids every id repeats hundreds of times a batch.

Weights are saved as safetensors (parameters only; buffers such as the rotary tables are rebuilt from
the config), loading never unpickles. A later move from ``HookedTransformer`` (TransformerLens 4 removed
it) touches this file only.

Pretrained models (``interp.finetune``; Cai et al., arXiv 2506.09251, §pretrained LMs and Fig. 9).
:func:`load_pretrained` loads a Hugging Face causal LM (a local directory, or a Hub name with a revision
from the local cache) with ``transformers`` and converts it with TransformerLens's own converters
(``get_pretrained_model_config`` / ``get_pretrained_state_dict``) without any of the weight processing
(no LayerNorm folding, no centring), so every parameter stays a trainable parameter of the original
function: the HookedTransformer's logits equal the Hugging Face model's. (TransformerLens picks the
converter from the model's ``config.json``, which it is shown through a neutral temporary directory:
``HookedTransformer.from_pretrained`` accepts only the names on its own list, and its name-based shortcuts
misroute any path that contains "llama" or "gemma".) :func:`reindex_vocabulary` then gives the model the
suite's vocabulary: row i of the new ``W_E`` (column i of ``W_U``, entry i of ``b_U``) is the mean of the
pretrained rows that ``sources[i]`` lists (a plain copy for a single row), so all downstream code keeps
the suite's token ids. Pitfalls: TransformerLens gives every layer biases (zero for Llama, which has
none) and unties tied embeddings, so finetuning trains both; greedy decoding and every argmax run over
the suite's vocabulary, not the pretrained one. The re-indexed architecture is stored as a JSON-able
``HookedTransformerConfig`` (:func:`architecture`) and rebuilt by :func:`build_from_architecture`, so a
finetuned run loads from its own directory without touching Hugging Face again.

:func:`fast_logits` implements only the suite's own architecture family (RMSNorm, gated SiLU MLP, full
NeoX-style rotary or a learned absolute embedding, causal attention with the usual 1/√d_head scale;
grouped-query attention included). :func:`supports_fast_path` says whether a model is one of them;
:func:`logits` and the trainer use the hooked forward for any other.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, no_type_check

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor
from transformer_lens import HookedTransformer, HookedTransformerConfig

from interp.errors import InterpError
from interp.presets import check_keys, check_number, typed_fields

POSITIONAL = ("rope", "nope", "learned")
"""Rotary; none at all (a zero, frozen absolute embedding); a trained absolute embedding (GPT-2 style)."""
INIT_STD = 0.02


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model (a ``[model]`` table of a size preset)."""

    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    n_ctx: int = 512
    positional: str = "rope"
    rotary_base: float = 1e5
    norm_eps: float = 1e-5

    @classmethod
    def from_dict(cls, table: dict[str, Any], where: str = "model") -> ModelConfig:
        names = {field.name for field in fields(cls)}
        check_keys(table, names, where)
        missing = [name for name in ("n_layers", "n_heads", "d_model", "d_head", "d_mlp") if name not in table]
        if missing:
            raise InterpError(f"{where}: missing {', '.join(missing)}")
        config = cls(**typed_fields(cls, table, where))
        for name in ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "n_ctx"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InterpError(f"{where}: {name} must be a positive integer, got {value!r}")
        for name in ("rotary_base", "norm_eps"):
            check_number(getattr(config, name), name, where)
            if getattr(config, name) <= 0:
                raise InterpError(f"{where}: {name} must be positive, got {getattr(config, name)!r}")
        if config.positional not in POSITIONAL:
            raise InterpError(f"{where}: positional {config.positional!r} is not one of {', '.join(POSITIONAL)}")
        if config.positional == "rope" and config.d_head % 2:
            raise InterpError(f"{where}: d_head must be even for rotary embeddings, got {config.d_head}")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hooked_config(config: ModelConfig, d_vocab: int) -> HookedTransformerConfig:
    rope = config.positional == "rope"
    return HookedTransformerConfig(
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        d_model=config.d_model,
        d_head=config.d_head,
        d_mlp=config.d_mlp,
        n_ctx=config.n_ctx,
        d_vocab=d_vocab,
        act_fn="silu",
        gated_mlp=True,
        normalization_type="RMS",
        eps=config.norm_eps,
        positional_embedding_type="rotary" if rope else "standard",
        rotary_base=config.rotary_base,
        rotary_dim=config.d_head if rope else None,
        default_prepend_bos=False,
        init_weights=False,
        device="cpu",
    )


def build_model(config: ModelConfig, d_vocab: int, seed: int, device: torch.device | str = "cpu") -> HookedTransformer:
    """A freshly initialised model (the same weights for a seed on every device)."""
    model = HookedTransformer(hooked_config(config, d_vocab), move_to_device=False)
    initialise(model, seed)
    if config.positional == "nope":
        model.pos_embed.W_pos.requires_grad_(False)
    return model.to(device, print_details=False)


@torch.no_grad()
def initialise(model: HookedTransformer, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    output_std = INIT_STD / math.sqrt(2 * model.cfg.n_layers)
    for name, parameter in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf.startswith("b_") or name.endswith("W_pos"):
            parameter.zero_()
        elif leaf == "w":  # RMSNorm gains
            parameter.fill_(1.0)
        else:
            std = output_std if leaf in ("W_O", "W_out") else INIT_STD
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


@no_type_check  # traced by torch.compile, which cannot trace a run-time type check
def rms_norm(x: Float[Tensor, "... d"], weight: Float[Tensor, " d"], eps: float) -> Float[Tensor, "... d"]:
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * weight


@no_type_check  # traced by torch.compile, which cannot trace a run-time type check
def rotate(x: Float[Tensor, "... d"], cos: Tensor, sin: Tensor) -> Float[Tensor, "... d"]:
    """Rotary embedding exactly as TransformerLens applies it (GPT-NeoX halves)."""
    half = x.shape[-1] // 2
    flipped = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + flipped * sin


class EmbeddingLookup(torch.autograd.Function):
    """``W_E[tokens]``, whose gradient for ``W_E`` is the product ``one_hot(tokens)ᵀ · grad`` in fp32.

    The forward is ``F.embedding``. Its own backward is an accumulating scatter; on CUDA in deterministic
    mode (which the trainer sets for bit-identical resume) that becomes a sort-based kernel that adds the
    rows of one repeated id one after another, and took most of a compiled training step on a GPU
    (benchmarks/RESULTS.md). A matrix product is deterministic too and costs vocabulary × tokens × d_model
    multiply-adds. The one-hot factor is exact
    in any precision; with TF32 on, the incoming gradient is rounded to TF32 as every other product's is.
    """

    @staticmethod
    @no_type_check  # traced by torch.compile
    def forward(ctx, tokens: Int[Tensor, "batch pos"], W_E: Float[Tensor, "d_vocab d_model"]) -> Tensor:
        ctx.save_for_backward(tokens)
        ctx.d_vocab, ctx.dtype = W_E.shape[0], W_E.dtype
        return F.embedding(tokens, W_E)

    @staticmethod
    @no_type_check  # traced by torch.compile
    def backward(ctx, grad: Float[Tensor, "batch pos d_model"]) -> tuple[None, Tensor]:
        (tokens,) = ctx.saved_tensors
        with torch.autocast(grad.device.type, enabled=False):
            # a comparison, not F.one_hot, which checks the ids' range with a device sync on CUDA
            one_hot = (tokens.flatten()[:, None] == torch.arange(ctx.d_vocab, device=tokens.device)).float()
            return None, (one_hot.T @ grad.flatten(0, -2).float()).to(ctx.dtype)


@no_type_check  # traced by torch.compile, which cannot trace a run-time type check
def fast_logits(model: HookedTransformer, tokens: Int[Tensor, "batch pos"],
                positions: Int[Tensor, "batch pos"] | None = None,
                segments: Int[Tensor, "batch pos"] | None = None) -> Float[Tensor, "batch pos d_vocab"]:
    """``model(tokens)`` without hooks, with fused attention: the same function of the same parameters.

    Packed rows (``interp.data.pack``) give each token its position within its own example (``positions``)
    and its example's id (``segments``): attention then stays within an example, and every example gets the
    logits it would get alone in a row. That attention is written out (scores, mask, softmax): a fused
    kernel with an arbitrary mask is not deterministic on CUDA in every PyTorch version, and at these
    widths attention is a few percent of the step.
    """
    cfg = model.cfg
    width = tokens.shape[1]
    if positions is None:
        positions = torch.arange(width, device=tokens.device)
    x = EmbeddingLookup.apply(tokens, model.embed.W_E)
    rope = cfg.positional_embedding_type == "rotary"
    if not rope:
        x = x + model.pos_embed.W_pos[positions]
    mask = None
    if segments is not None:
        causal = torch.ones(width, width, dtype=torch.bool, device=tokens.device).tril()
        mask = ((segments[:, :, None] == segments[:, None, :]) & causal)[:, None]  # (batch, 1, query, key)
    for block in model.blocks:
        attn = block.attn
        h = rms_norm(x, block.ln1.w, cfg.eps)
        # Q, K and V of every head as one (d_model × 3·heads·d_head) product: a batched product per head is
        # narrow (d_head columns) and ran slower on the CPU.
        weights = torch.stack([attn.W_Q, attn.W_K, attn.W_V])  # (3, head, d_model, d_head)
        qkv = (h @ weights.permute(2, 0, 1, 3).flatten(1)).unflatten(-1, weights.shape[:2] + weights.shape[-1:])
        q, k, v = (qkv[:, :, i].transpose(1, 2) + bias[None, :, None]
                   for i, bias in enumerate((attn.b_Q, attn.b_K, attn.b_V)))
        if rope:
            cos, sin = attn.rotary_cos[positions], attn.rotary_sin[positions]
            if cos.ndim == 3:  # per-row positions: broadcast over heads
                cos, sin = cos[:, None], sin[:, None]
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        q, k = q.to(v.dtype), k.to(v.dtype)
        if mask is None:
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)).masked_fill(~mask, float("-inf"))
            z = scores.softmax(-1).to(v.dtype) @ v
        x = x + z.transpose(1, 2).flatten(2) @ attn.W_O.flatten(0, 1) + attn.b_O
        h = rms_norm(x, block.ln2.w, cfg.eps)
        mlp = block.mlp
        hidden = F.silu(h @ mlp.W_gate) * (h @ mlp.W_in) + mlp.b_in
        x = x + hidden @ mlp.W_out + mlp.b_out
    x = rms_norm(x, model.ln_final.w, cfg.eps)
    return x @ model.unembed.W_U + model.unembed.b_U


FAST_PATH_ARCHITECTURES = (None, "LlamaForCausalLM")
"""Where :func:`fast_logits` is proven equal to the hooked forward: the suite's own models (no original
architecture) and Llama-family checkpoints (tests/test_model.py, tests/test_finetune.py)."""
FAST_PATH_SETTINGS = {
    "normalization_type": "RMS", "act_fn": "silu", "gated_mlp": True, "attn_only": False,
    "parallel_attn_mlp": False, "num_experts": None, "attention_dir": "causal", "use_attn_scale": True,
    "rotary_adjacent_pairs": False, "use_dynamic_ntk_rope": False, "use_yarn_rope": False, "use_qk_norm": False,
    "use_local_attn": False, "use_logn_attn": False, "clip_qkv": None, "use_attention_sinks": False,
    "scale_attn_by_inverse_layer_idx": False, "use_normalization_before_and_after": False,
    "post_embedding_ln": False, "attn_scores_soft_cap": -1.0, "output_logits_soft_cap": -1.0,
}
"""The ``HookedTransformerConfig`` values that :func:`fast_logits` assumes."""


def supports_fast_path(model: HookedTransformer) -> bool:
    """Whether :func:`fast_logits` computes ``model``'s function (else use the hooked forward)."""
    cfg = model.cfg
    rotary = cfg.positional_embedding_type == "rotary"
    return (
        cfg.original_architecture in FAST_PATH_ARCHITECTURES
        and all(getattr(cfg, name, value) == value for name, value in FAST_PATH_SETTINGS.items())
        and cfg.positional_embedding_type in ("rotary", "standard")
        and (not rotary or cfg.rotary_dim == cfg.d_head)
        and math.isclose(cfg.attn_scale, math.sqrt(cfg.d_head))
        and cfg.d_vocab_out == cfg.d_vocab
    )


def hooked_logits(model: HookedTransformer, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_vocab"]:
    """The hooked forward (every architecture TransformerLens supports; hooks fire)."""
    return model(tokens)


def has_hooks(model: HookedTransformer) -> bool:
    return any(hook.fwd_hooks or hook.bwd_hooks for hook in model.hook_dict.values())


def logits(model: HookedTransformer, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_vocab"]:
    """The fast path when it applies and no hook is attached, else the hooked forward (so hooks always fire)."""
    if has_hooks(model) or not supports_fast_path(model):
        return hooked_logits(model, tokens)
    return fast_logits(model, tokens)


def save_weights(model: HookedTransformer, path: Path) -> None:
    """The parameters as safetensors at ``path`` (written by the caller's atomic rename)."""
    save_file({name: p.detach().contiguous().cpu() for name, p in model.named_parameters()}, str(path))


def load_weights(model: HookedTransformer, path: Path) -> None:
    """Load parameters saved by :func:`save_weights`; refuses a file of another shape or set of names."""
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise InterpError(f"cannot read weights {path}: {error}") from None
    expected = dict(model.named_parameters())
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise InterpError(f"weights {path} do not fit the model (missing {missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for name, parameter in expected.items():
            if state[name].shape != parameter.shape:
                raise InterpError(f"weights {path}: {name} has shape {tuple(state[name].shape)}, "
                                  f"the model expects {tuple(parameter.shape)}")
            parameter.copy_(state[name].to(parameter.device))


# ---- pretrained models (interp.finetune) -------------------------------------------------------

POSITIONAL_OF = {"rotary": "rope", "standard": "learned"}
"""TransformerLens positional embedding types a finetuned run can have, and their suite names."""


@dataclass
class Pretrained:
    """A pretrained checkpoint as a HookedTransformer (its own vocabulary), its tokenizer and its origin."""

    model: HookedTransformer
    tokenizer: Any
    """The Hugging Face tokenizer (``PreTrainedTokenizerBase``)."""
    source: dict[str, Any]
    """``name`` (as given), ``revision`` and ``commit`` (the cache snapshot's, when known)."""


def load_pretrained(
    name_or_path: str, revision: str | None = None, cache_dir: str | Path | None = None,
    local_files_only: bool = False,
) -> Pretrained:
    """Load a causal LM from a local directory or a Hub name (with ``revision``) as a HookedTransformer.

    ``transformers`` reads the files (the Hugging Face cache for a name; it downloads only where it is
    allowed to and ``local_files_only`` is False); TransformerLens converts the weights without folding
    or centring anything, in float32 on the CPU.
    """
    from transformer_lens import loading_from_pretrained as loading
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(name_or_path).expanduser()
    if local.exists() and not local.is_dir():
        raise InterpError(f"--pretrained {name_or_path}: a model is a directory (with config.json), not a file")
    if local.is_dir() and revision is not None:
        raise InterpError(f"--revision selects a checkpoint of a Hugging Face repository; {name_or_path} is a "
                          "local directory")
    where = str(local) if local.is_dir() else name_or_path
    options = {"revision": revision, "cache_dir": None if cache_dir is None else str(cache_dir),
               "local_files_only": local_files_only}
    label = name_or_path + (f" (revision {revision})" if revision else "")
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **options)
        hf_model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **options)
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InterpError(f"cannot load pretrained model {label}: not a model directory, and not in the Hugging "
                          f"Face cache or not downloadable ({first})") from None
    hf_model.eval()
    architecture_name = (hf_model.config.architectures or [type(hf_model).__name__])[0]
    try:
        with tempfile.TemporaryDirectory(prefix="interp-") as folder:
            neutral = Path(folder) / "model"  # TransformerLens dispatches on config.json found here
            hf_model.config.save_pretrained(neutral)
            cfg = loading.get_pretrained_model_config(
                str(neutral), hf_cfg=hf_model.config.to_dict(), fold_ln=False, device="cpu",
                default_prepend_bos=False, dtype=torch.float32)
            state = loading.get_pretrained_state_dict(str(neutral), cfg, hf_model, dtype=torch.float32)
    except (ValueError, NotImplementedError, AssertionError, AttributeError, KeyError, OSError) as error:
        raise InterpError(f"TransformerLens cannot convert {label} ({architecture_name}): {error}") from None
    cfg.model_name = Path(name_or_path).name
    cfg.tokenizer_name = None  # the HookedTransformer never loads a tokenizer (no network access)
    model = HookedTransformer(cfg, move_to_device=False)
    model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False, center_unembed=False,
                                      fold_value_biases=False, refactor_factored_attn_matrices=False)
    source = {"name": str(local.resolve()) if local.is_dir() else name_or_path, "revision": revision,
              "commit": None if local.is_dir() else cached_commit(name_or_path, revision, cache_dir)}
    return Pretrained(model.eval(), tokenizer, source)


def cached_commit(repo_id: str, revision: str | None, cache_dir: str | Path | None) -> str | None:
    """The commit of the cache snapshot a Hub name and revision resolve to (None if unknown)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir, revision=revision)
    return Path(found).parent.name if isinstance(found, str) else None


def reindex_vocabulary(model: HookedTransformer, sources: list[list[int]]) -> HookedTransformer:
    """``model`` with the vocabulary ``range(len(sources))``: row i starts as the mean of pretrained rows ``sources[i]``.

    That holds for the embedding ``W_E[i]``, the unembedding ``W_U[:, i]`` and the output bias ``b_U[i]``;
    everything else is copied.
    """
    d_vocab = model.cfg.d_vocab
    if any(not ids or min(ids) < 0 or max(ids) >= d_vocab for ids in sources):
        raise InterpError(f"every new token needs at least one source row in [0, {d_vocab})")
    layout = {**architecture(model), "d_vocab": len(sources), "d_vocab_out": len(sources)}
    reindexed = build_from_architecture(layout)
    state = model.state_dict()
    with torch.no_grad():
        W_E, W_U, b_U = state["embed.W_E"], state["unembed.W_U"], state["unembed.b_U"]
        state["embed.W_E"] = torch.stack([W_E[ids].mean(0) for ids in sources])
        state["unembed.W_U"] = torch.stack([W_U[:, ids].mean(1) for ids in sources], dim=1)
        state["unembed.b_U"] = torch.stack([b_U[ids].mean() for ids in sources])
    reindexed.load_state_dict(state)
    return reindexed.eval()


def architecture(model: HookedTransformer) -> dict[str, Any]:
    """The model's ``HookedTransformerConfig`` as JSON-able values (no device; the dtype by name)."""
    values = {}
    for field in fields(model.cfg):
        value = getattr(model.cfg, field.name)
        if field.name in ("device", "seed"):
            continue
        if isinstance(value, torch.dtype):
            value = str(value).removeprefix("torch.")
        elif isinstance(value, np.generic):
            value = value.item()
        values[field.name] = value
    return values


def build_from_architecture(layout: dict[str, Any], device: torch.device | str = "cpu") -> HookedTransformer:
    """An (uninitialised) HookedTransformer of the architecture :func:`architecture` saved; load weights next."""
    known = {field.name for field in fields(HookedTransformerConfig)}
    unknown = sorted(set(layout) - known)
    if unknown:
        raise InterpError(f"the saved architecture has fields this TransformerLens does not know: {unknown[:5]}")
    dtype = getattr(torch, str(layout.get("dtype", "float32")), None)
    if not isinstance(dtype, torch.dtype):
        raise InterpError(f"the saved architecture has an unknown dtype {layout.get('dtype')!r}")
    values = {**layout, "dtype": dtype, "device": "cpu", "init_weights": False, "tokenizer_name": None}
    try:
        cfg = HookedTransformerConfig(**values)
    except (TypeError, ValueError, AssertionError) as error:
        raise InterpError(f"the saved architecture is not a valid HookedTransformerConfig: {error}") from None
    return HookedTransformer(cfg, move_to_device=False).to(device, print_details=False)


def model_shape(model: HookedTransformer) -> ModelConfig:
    """A pretrained model's shape in the suite's terms (``RunConfig.model`` of a finetuned run)."""
    cfg = model.cfg
    positional = POSITIONAL_OF.get(cfg.positional_embedding_type)
    if positional is None:
        raise InterpError(f"{cfg.model_name} uses {cfg.positional_embedding_type!r} positions; finetuning supports "
                          f"{' and '.join(POSITIONAL_OF)} ones")
    return ModelConfig(n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_model=cfg.d_model, d_head=cfg.d_head,
                       d_mlp=int(cfg.d_mlp), n_ctx=cfg.n_ctx, positional=positional,
                       rotary_base=float(cfg.rotary_base), norm_eps=float(cfg.eps))
