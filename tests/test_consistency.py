"""The consistency loss against explicit formulas: stop-gradient, GPT-2 label alignment, weights, regression head."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from kronbench.consistency import (
    PAPER_WEIGHT,
    RELEASED_NLG_WEIGHT,
    consistency_loss,
    position_mask,
    protocol_weight,
    run_consistency,
)
from tests.test_kronecker_family import make_method


def explicit_sym_kl(za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """Σ_v p_a (log p_a − log p_b) + p_b (log p_b − log p_a) per row, in float64 from softmax by hand."""
    za, zb = za.double(), zb.double()
    pa = torch.exp(za - za.max(-1, keepdim=True).values)
    pa = pa / pa.sum(-1, keepdim=True)
    pb = torch.exp(zb - zb.max(-1, keepdim=True).values)
    pb = pb / pb.sum(-1, keepdim=True)
    return ((pa - pb) * (pa.log() - pb.log())).sum(-1)


def seeded(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)


def test_value_is_the_symmetric_kl_under_both_readings():
    za, zb = seeded(6, 5, seed=0), seeded(6, 5, seed=1)
    expected = explicit_sym_kl(za.detach(), zb.detach()).mean()
    for sg in (True, False):
        got = consistency_loss(za, zb, None, stop_gradient=sg)
        assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_stop_gradient_flows_only_through_the_log_prob_side():
    """Released form: ∂/∂z_a [KL(sg p_b‖p_a) + KL(sg p_a‖p_b)] = (p_a − p_b)/N (the second term is constant in z_a)."""
    za, zb = seeded(4, 7, seed=2), seeded(4, 7, seed=3)
    consistency_loss(za, zb, None, stop_gradient=True).backward()
    pa, pb = za.detach().double().softmax(-1), zb.detach().double().softmax(-1)
    torch.testing.assert_close(za.grad.double(), (pa - pb) / 4, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(zb.grad.double(), (pb - pa) / 4, atol=1e-6, rtol=1e-5)


def test_paper_reading_takes_gradients_through_both_distributions():
    za, zb = seeded(4, 7, seed=4), seeded(4, 7, seed=5)
    consistency_loss(za, zb, None, stop_gradient=False).backward()
    ra, rb = za.detach().double().requires_grad_(True), zb.detach().double().requires_grad_(True)
    explicit_sym_kl(ra, rb).mean().backward()
    torch.testing.assert_close(za.grad.double(), ra.grad, atol=1e-6, rtol=1e-5)
    # and it is not the stop-gradient gradient
    pa, pb = ra.detach().softmax(-1), rb.detach().softmax(-1)
    assert not torch.allclose(ra.grad, (pa - pb) / 4, atol=1e-4)


def test_causal_lm_mask_weights_position_t_by_the_label_of_t_plus_1():
    """The positions the consistency term averages over are exactly those HF's shifted GPT-2 LM loss scores."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=50, n_positions=32)).eval()
    ids = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(7))
    labels = ids.clone()
    labels[0, :3] = -100  # a prompt: source tokens are not scored
    labels[1, 4:] = -100  # padding at the end
    out = model(input_ids=ids, labels=labels)
    mask = position_mask(labels, causal_lm=True)
    assert mask[0].tolist() == [0, 0, 1, 1, 1, 0] and mask[1].tolist() == [1, 1, 1, 0, 0, 0]
    target = torch.cat([labels[:, 1:], torch.zeros_like(labels[:, :1])], dim=1).clamp(min=0)
    ce = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), target, reduction="none")
    torch.testing.assert_close((ce * mask).sum() / mask.sum(), out.loss)
    # the loss averages the per-position symmetric KL over exactly those positions
    other = out.logits + torch.randn(out.logits.shape, generator=torch.Generator().manual_seed(8))
    per_pos = explicit_sym_kl(out.logits, other).float()
    expected = (per_pos * mask).sum() / mask.sum()
    got = consistency_loss(out.logits, other, labels, causal_lm=True)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    unshifted = (per_pos * position_mask(labels, causal_lm=False)).sum() / (labels != -100).sum()
    assert got.item() != pytest.approx(unshifted.item(), rel=1e-3)  # the old alignment differs


def test_encoder_decoder_labels_are_aligned_with_their_logits():
    labels = torch.tensor([[5, 6, -100]])
    assert position_mask(labels, causal_lm=False).tolist() == [[1.0, 1.0, 0.0]]


def test_regression_head_is_the_gaussian_symmetric_kl():
    """Unit-variance Gaussians at the two predictions: value (a−b)²; gradient (a−b)/N with stop-gradient, 2(a−b)/N without."""
    a0 = torch.tensor([[0.5], [2.0], [-1.0]])
    b0 = torch.tensor([[1.5], [1.0], [-1.0]])
    for sg, factor in ((True, 1.0), (False, 2.0)):
        a, b = a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        loss = consistency_loss(a, b, None, stop_gradient=sg)
        assert loss.item() == pytest.approx(((a0 - b0) ** 2).mean().item())
        loss.backward()
        torch.testing.assert_close(a.grad, factor * (a0 - b0) / 3)


def test_protocol_weights():
    assert protocol_weight(None, generation=True) == RELEASED_NLG_WEIGHT == 100.0 * 0.5
    assert protocol_weight(None, generation=False) == PAPER_WEIGHT == 0.5
    assert protocol_weight(3.0, generation=True) == 3.0 and protocol_weight(0.0, generation=False) == 0.0


def test_method_settings_resolve_per_run():
    """The YAML default resolves per task type (so the record states it): 50 on an NLG task, ½ on an NLU task."""
    nlg_method = make_method("madakron_partial", "tiny-gpt2", "task=e2e_nlg")
    nlu_method = make_method("madakron_partial")
    assert (nlg_method.consistency_weight, nlu_method.consistency_weight) == (50.0, 0.5)
    assert nlg_method.config.tag().endswith("cw50") and "cw0.5" in nlu_method.config.tag()
    nlg = run_consistency(nlg_method, generation=True, causal_lm=True)
    assert (nlg.weight, nlg.stop_gradient, nlg.causal_lm) == (50.0, True, True)
    paper = make_method(
        "madakron_partial", "tiny-gpt2", "task=e2e_nlg", "method.consistency_weight=0.5",
        "method.consistency_stop_gradient=false",
    )  # fmt: skip
    text = run_consistency(paper, generation=True, causal_lm=True)
    assert (text.weight, text.stop_gradient) == (0.5, False)
    za, zb = seeded(3, 4, seed=9), seeded(3, 4, seed=10)
    assert nlg(za, zb, None).item() == pytest.approx(50.0 * consistency_loss(za, zb, None).item(), rel=1e-6)
