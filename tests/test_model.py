import pytest
import torch

from interp.config import load_size_preset
from interp.errors import InterpError
from interp.model import ModelConfig, build_model, fast_logits, load_weights, save_weights

MICRO = ModelConfig(n_layers=2, n_heads=3, d_model=24, d_head=8, d_mlp=40, n_ctx=64)


def test_paper_preset_is_the_spec_shape():
    name, model, training = load_size_preset("paper")
    assert (model.n_layers, model.n_heads, model.d_model, model.d_head, model.d_mlp) == (6, 6, 384, 64, 1536)
    assert model.positional == "rope" and model.rotary_base == 1e5
    assert (training.steps, training.batch_size, training.lr, training.beta1, training.beta2) == (
        20_000, 1024, 1e-3, 0.9, 0.98)
    assert (training.weight_decay, training.warmup_fraction, training.decay_fraction) == (0.01, 0.1, 0.4)
    for preset in ("small", "micro"):
        assert load_size_preset(preset)[1].positional in ("rope", "nope")


def test_paper_model_is_rmsnorm_gated_silu_rotary():
    model = build_model(load_size_preset("paper")[1], d_vocab=152, seed=0)
    cfg = model.cfg
    assert cfg.normalization_type == "RMS" and cfg.gated_mlp and cfg.act_fn == "silu"
    assert cfg.positional_embedding_type == "rotary" and cfg.rotary_base == 1e5 and cfg.rotary_dim == 64


@pytest.mark.parametrize("positional", ["rope", "nope"])
def test_fast_path_equals_hooked_forward(positional):
    config = ModelConfig(**{**MICRO.to_dict(), "positional": positional})
    model = build_model(config, d_vocab=50, seed=3)
    with torch.no_grad():  # non-trivial biases and gains, so every parameter is exercised
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    tokens = torch.randint(0, 50, (3, 37))
    fast, hooked = fast_logits(model, tokens), model(tokens)
    torch.testing.assert_close(fast, hooked, rtol=1e-5, atol=1e-5)
    parameters = [p for p in model.parameters() if p.requires_grad]
    direction = torch.randn_like(hooked)  # gradients too (the embedding's is a product, not a scatter)
    for fast_grad, hooked_grad in zip(*(torch.autograd.grad((logits * direction).sum(), parameters)
                                        for logits in (fast, hooked)), strict=True):
        torch.testing.assert_close(fast_grad, hooked_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("positional", ["rope", "nope", "learned"])
def test_packed_rows_give_every_example_its_own_logits(positional):
    """Several examples to a row (interp.data.pack): each gets the hooked model's logits for it alone, and
    so the gradients of any loss over them are the same too."""
    from interp.data import Batch, pack

    model = build_model(ModelConfig(**{**MICRO.to_dict(), "positional": positional}), d_vocab=50, seed=4)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    lengths = torch.tensor([9, 30, 3, 17, 12, 25, 6, 31])
    tokens = torch.randint(1, 50, (8, 32)) * (torch.arange(32) < lengths[:, None])  # right-padded with id 0
    batch = Batch(tokens, tokens > 0, torch.zeros(8, dtype=torch.int64), lengths, int(lengths.sum()))
    packed = pack(batch)
    assert len(packed.tokens) < len(tokens)
    fast = fast_logits(model, *packed.model_inputs())
    alone = [model(tokens[[example], :length])[0] for example, length in enumerate(lengths.tolist())]
    for example, expected in enumerate(alone):
        torch.testing.assert_close(fast[packed.segments == example], expected, rtol=1e-5, atol=1e-5)
    parameters = [p for p in model.parameters() if p.requires_grad]
    directions = [torch.randn_like(expected) for expected in alone]
    packed_loss = sum((fast[packed.segments == example] * d).sum() for example, d in enumerate(directions))
    alone_loss = sum((expected * d).sum() for expected, d in zip(alone, directions))
    for packed_grad, alone_grad in zip(torch.autograd.grad(packed_loss, parameters),
                                       torch.autograd.grad(alone_loss, parameters), strict=True):
        torch.testing.assert_close(packed_grad, alone_grad, rtol=1e-4, atol=1e-5)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_model(MICRO, 50, seed) for seed in (1, 1, 2))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.embed.W_E, c.embed.W_E)


def test_initialisation_scales_output_projections():
    model = build_model(ModelConfig(n_layers=4, n_heads=4, d_model=128, d_head=32, d_mlp=512), 50, 0)
    assert model.blocks[0].attn.W_Q.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.blocks[0].attn.W_O.std().item() == pytest.approx(0.02 / 8**0.5, rel=0.05)
    assert model.blocks[0].mlp.W_out.std().item() == pytest.approx(0.02 / 8**0.5, rel=0.05)
    assert torch.equal(model.blocks[0].ln1.w, torch.ones(128))


def test_nope_has_no_trainable_positional_parameters():
    model = build_model(ModelConfig(**{**MICRO.to_dict(), "positional": "nope"}), 50, 0)
    assert model.cfg.positional_embedding_type == "standard"
    assert not model.pos_embed.W_pos.requires_grad and torch.count_nonzero(model.pos_embed.W_pos) == 0
    rope = build_model(MICRO, 50, 0)
    assert not hasattr(rope, "pos_embed") or all("pos" not in n for n, _ in rope.named_parameters())


def test_weights_round_trip_and_mismatch_is_refused(tmp_path):
    model = build_model(MICRO, 50, 0)
    save_weights(model, tmp_path / "w.safetensors")
    other = build_model(MICRO, 50, 1)
    load_weights(other, tmp_path / "w.safetensors")
    assert all(torch.equal(x, y) for x, y in zip(model.parameters(), other.parameters()))
    bigger = build_model(ModelConfig(**{**MICRO.to_dict(), "d_mlp": 48}), 50, 0)
    with pytest.raises(InterpError, match="has shape"):
        load_weights(bigger, tmp_path / "w.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InterpError, match="cannot read weights"):
        load_weights(model, tmp_path / "bad.safetensors")


@pytest.mark.parametrize("table, message", [
    ({"n_layers": 2, "n_heads": 2, "d_model": 8, "d_head": 4}, "missing d_mlp"),
    ({"n_layers": 0, "n_heads": 2, "d_model": 8, "d_head": 4, "d_mlp": 8}, "n_layers must be a positive integer"),
    ({"n_layers": 1, "n_heads": 2, "d_model": 8, "d_head": 4, "d_mlp": 8, "positional": "alibi"}, "not one of rope, nope"),
    ({"n_layers": 1, "n_heads": 2, "d_model": 8, "d_head": 3, "d_mlp": 8}, "d_head must be even"),
    ({"n_layers": 1, "n_heads": 2, "d_model": 8, "d_head": 4, "d_mlp": 8, "width": 3}, "unknown key(s) width"),
])
def test_bad_model_tables(table, message):
    with pytest.raises(InterpError) as error:
        ModelConfig.from_dict(table)
    assert message in str(error.value)
