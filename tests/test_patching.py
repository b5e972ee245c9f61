import numpy as np
import pytest
import torch
from transformer_lens.patching import get_act_patch_attn_head_out_all_pos
from transformer_lens.utilities import get_act_name

from interp import load_run
from interp.ablation import answer_logprob, head_outputs
from interp.data import evaluation_set
from interp.errors import InterpError
from interp.model import ModelConfig, build_model
from interp.patching import (
    MIN_LOGPROB_GAP,
    PatchingResult,
    corrupted_examples,
    patch_heads,
    splice_prompts,
)
from interp.stats import spearman
from interp.tasks import TASKS, default_tokens, get_task, stable_rng


@pytest.fixture(scope="module")
def trained_model(trained_run):
    return load_run(trained_run).model


@pytest.fixture(scope="module")
def untrained_model():
    config = ModelConfig(n_layers=2, n_heads=3, d_model=48, d_head=16, d_mlp=64, n_ctx=256)
    return build_model(config, len(default_tokens()), seed=5).eval()


def transformer_lens_map(model, clean, corrupted):
    """The reference: TransformerLens's own head-output patching, all positions, same metric."""
    tokens, scored = torch.as_tensor(clean.tokens), torch.as_tensor(clean.scored)
    _, clean_cache = model.run_with_cache(tokens)
    metric = lambda logits: answer_logprob(logits, tokens, scored).mean()  # noqa: E731
    return get_act_patch_attn_head_out_all_pos(model, torch.as_tensor(corrupted.tokens), clean_cache, metric).numpy()


@pytest.mark.parametrize("model_name,task,length", [
    ("trained_model", "copy", 4), ("trained_model", "reverse", 3), ("untrained_model", "add", 3),
    ("untrained_model", "mul", 2), ("untrained_model", "path", 5),
])
def test_batched_patching_equals_transformer_lens_patching(request, model_name, task, length):
    model = request.getfixturevalue(model_name)
    clean = evaluation_set(task, length, 20)
    corrupted = corrupted_examples(clean, task, seed=7)
    fast = patch_heads(model, clean, corrupted, attribution=False, batch_size=8, max_rows=16)
    slow = patch_heads(model, clean, corrupted, attribution=False, batched=False)
    reference = transformer_lens_map(model, clean, corrupted)
    np.testing.assert_allclose(fast.patched_logprob.mean(-1), reference, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fast.patched_logprob, slow.patched_logprob, rtol=0, atol=1e-5)
    with torch.no_grad():
        corrupted_run = answer_logprob(model(torch.as_tensor(corrupted.tokens)), torch.as_tensor(clean.tokens),
                                       torch.as_tensor(clean.scored))
    np.testing.assert_allclose(fast.corrupted_logprob, corrupted_run.numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_corrupted_inputs_keep_the_layout_and_the_clean_answer(task):
    length = max(5, get_task(task).min_length)
    clean = evaluation_set(task, length, 32)
    corrupted = corrupted_examples(clean, task, seed=3)
    np.testing.assert_array_equal(corrupted.target_start, clean.target_start)
    np.testing.assert_array_equal(corrupted.scored, clean.scored)
    answer = np.arange(clean.tokens.shape[1]) >= clean.target_start[:, None]
    np.testing.assert_array_equal(corrupted.tokens[answer], clean.tokens[answer])
    prompt = ~answer
    differs = (corrupted.tokens != clean.tokens) & prompt
    assert differs.any(axis=1).mean() > 0.8, "most corrupted prompts must differ from their clean prompt"
    frame = [0, 1]  # <bos> and the task token open every prompt
    np.testing.assert_array_equal(corrupted.tokens[:, frame], clean.tokens[:, frame])


def test_prompts_of_another_layout_are_refused():
    clean = evaluation_set("add", 4, 8)
    longer = get_task("add").sample_test(stable_rng(1), 8, 5)
    with pytest.raises(InterpError, match="same length and layout"):
        splice_prompts(clean, longer, "add at length 4")


def test_normalised_recovery_and_its_undefined_case():
    clean, corrupted = np.array([-1.0, -1.0]), np.array([-5.0, -3.0])  # gap 3
    patched = np.array([[[-4.0, -2.0], [-1.0, -1.0]]])  # 1 layer, 2 heads
    result = PatchingResult(clean, corrupted, patched, attribution=patched - corrupted)
    np.testing.assert_allclose(result.recovery(), [[1 / 3, 1.0]])
    np.testing.assert_allclose(result.attribution_recovery(), result.recovery())
    np.testing.assert_allclose(result.recovery(np.array([0, 0])), [[0.25, 1.0]])
    same = PatchingResult(clean, clean + MIN_LOGPROB_GAP / 2, patched, None)
    assert np.isnan(same.recovery()).all()


def test_attribution_is_the_derivative_of_patching_along_the_clean_direction(trained_run):
    """Σ (z_clean − z_corr) · ∂logprob/∂z equals d/dε logprob(z_corr + ε (z_clean − z_corr)) at ε = 0."""
    model = load_run(trained_run).model.to(torch.float64)
    clean = evaluation_set("copy", 3, 12)
    corrupted = corrupted_examples(clean, "copy", seed=1)
    result = patch_heads(model, clean, corrupted, exact=False)
    tokens = torch.as_tensor(corrupted.tokens)
    answer, scored = torch.as_tensor(clean.tokens), torch.as_tensor(clean.scored)
    with torch.no_grad():
        _, clean_outputs = head_outputs(model, answer)
    step = 1e-5
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            def nudge(z, hook, epsilon, head=head, layer=layer):
                z = z.clone()
                z[:, :, head] += epsilon * (clean_outputs[layer][:, :, head] - z[:, :, head])
                return z

            values = []
            for epsilon in (step, -step):
                hook = (get_act_name("z", layer), lambda z, hook, e=epsilon, f=nudge: f(z, hook, e))
                with torch.no_grad(), model.hooks(fwd_hooks=[hook]):
                    values.append(answer_logprob(model(tokens), answer, scored).numpy())
            derivative = (values[0] - values[1]) / (2 * step)
            np.testing.assert_allclose(result.attribution[layer, head], derivative, rtol=1e-4, atol=1e-6)


def test_attribution_ranks_heads_like_exact_patching_on_a_trained_model(trained_model):
    clean = evaluation_set("copy", 3, 64)
    result = patch_heads(trained_model, clean, corrupted_examples(clean, "copy", seed=2))
    assert result.gap() > 1.0, "the corrupted prompt must hurt the clean answer"
    exact, estimate = result.recovery().ravel(), result.attribution_recovery().ravel()
    assert spearman(exact, estimate) > 0.5
    assert exact.max() > 0.3, "patching a head of a trained model must recover part of the answer"
