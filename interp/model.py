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
well. Tests hold it equal to ``model(tokens)``; anything that needs hooks uses the model itself.

Weights are saved as safetensors (parameters only; buffers such as the rotary tables are rebuilt from
the config), loading never unpickles. A later move from ``HookedTransformer`` (TransformerLens 4 removed
it) touches this file only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor
from transformer_lens import HookedTransformer, HookedTransformerConfig

from interp.errors import InterpError
from interp.presets import check_keys

POSITIONAL = ("rope", "nope")
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
        config = cls(**table)
        for name in ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "n_ctx"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InterpError(f"{where}: {name} must be a positive integer, got {value!r}")
        if config.positional not in POSITIONAL:
            raise InterpError(f"{where}: positional {config.positional!r} is not one of {', '.join(POSITIONAL)}")
        if config.d_head % 2:
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


def rms_norm(x: Float[Tensor, "... d"], weight: Float[Tensor, " d"], eps: float) -> Float[Tensor, "... d"]:
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * weight


def rotate(x: Float[Tensor, "... d"], cos: Tensor, sin: Tensor) -> Float[Tensor, "... d"]:
    """Rotary embedding exactly as TransformerLens applies it (GPT-NeoX halves)."""
    half = x.shape[-1] // 2
    flipped = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + flipped * sin


def fast_logits(model: HookedTransformer, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_vocab"]:
    """``model(tokens)`` without hooks, with fused attention: the same function of the same parameters."""
    cfg = model.cfg
    positions = tokens.shape[1]
    x = F.embedding(tokens, model.embed.W_E)
    rope = cfg.positional_embedding_type == "rotary"
    if not rope:
        x = x + model.pos_embed.W_pos[:positions]
    for block in model.blocks:
        attn = block.attn
        h = rms_norm(x, block.ln1.w, cfg.eps)
        q = torch.einsum("bpm,hmd->bhpd", h, attn.W_Q) + attn.b_Q[None, :, None]
        k = torch.einsum("bpm,hmd->bhpd", h, attn.W_K) + attn.b_K[None, :, None]
        v = torch.einsum("bpm,hmd->bhpd", h, attn.W_V) + attn.b_V[None, :, None]
        if rope:
            cos, sin = attn.rotary_cos[:positions], attn.rotary_sin[:positions]
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        z = F.scaled_dot_product_attention(q.to(v.dtype), k.to(v.dtype), v, is_causal=True)
        x = x + torch.einsum("bhpd,hdm->bpm", z, attn.W_O) + attn.b_O
        h = rms_norm(x, block.ln2.w, cfg.eps)
        mlp = block.mlp
        hidden = F.silu(h @ mlp.W_gate) * (h @ mlp.W_in) + mlp.b_in
        x = x + hidden @ mlp.W_out + mlp.b_out
    x = rms_norm(x, model.ln_final.w, cfg.eps)
    return x @ model.unembed.W_U + model.unembed.b_U


def has_hooks(model: HookedTransformer) -> bool:
    return any(hook.fwd_hooks or hook.bwd_hooks for hook in model.hook_dict.values())


def logits(model: HookedTransformer, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_vocab"]:
    """The fast path when no hook is attached, else the hooked forward (so hooks always fire)."""
    return model(tokens) if has_hooks(model) else fast_logits(model, tokens)


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
