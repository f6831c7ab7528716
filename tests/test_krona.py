"""KronA layers: forward/grad equal the explicit merged weight, merge/unmerge, Conv1D, and PEFT LoKr agreement."""

from __future__ import annotations

import pytest
import torch
from peft import LoKrConfig, inject_adapter_in_model
from torch import nn
from transformers.pytorch_utils import Conv1D

from kronbench.methods.krona import KronALinear


def randomise(layer: KronALinear, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.kron_a.copy_(torch.randn(layer.kron_a.shape, generator=gen))
        layer.kron_b.copy_(torch.randn(layer.kron_b.shape, generator=gen))


@pytest.mark.parametrize(
    ("d_out", "d_in", "a_shape"),
    [(384, 384, (32, 24)), (384, 384, (2, 384)), (96, 48, (12, 4)), (64, 32, (64, 1))],
)
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_forward_and_grad_equal_explicit_weight(d_out, d_in, a_shape, scale):
    torch.manual_seed(0)
    base = nn.Linear(d_in, d_out).double()
    layer = KronALinear(base, a_shape, scale, "ku_zero", 0.0, "layer").double()
    randomise(layer)
    x = torch.randn(2, 5, d_in, dtype=torch.float64)
    weight = base.weight + scale * torch.kron(layer.kron_a, layer.kron_b)
    expected = x @ weight.T + base.bias
    out = layer(x)
    torch.testing.assert_close(out, expected)
    g_ours = torch.autograd.grad(out.sum(), (layer.kron_a, layer.kron_b))
    g_ref = torch.autograd.grad(expected.sum(), (layer.kron_a, layer.kron_b))
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b)


def test_zero_init_leaves_output_unchanged_and_merge_round_trips():
    torch.manual_seed(0)
    base = nn.Linear(48, 24)
    x = torch.randn(3, 48)
    before = base(x)
    layer = KronALinear(base, (6, 8), 1.0, "ku_zero", 0.0, "layer")
    assert torch.count_nonzero(layer.kron_b) == 0 and torch.count_nonzero(layer.kron_a) > 0
    torch.testing.assert_close(layer(x), before)
    randomise(layer)
    unmerged = layer(x)
    weight_before = base.weight.detach().clone()
    layer.merge()
    torch.testing.assert_close(layer(x), unmerged, rtol=1e-5, atol=1e-5)
    layer.unmerge()
    torch.testing.assert_close(base.weight, weight_before, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(layer(x), unmerged)


def test_normal_init_draws_both_factors():
    layer = KronALinear(nn.Linear(64, 64), (8, 8), 1.0, "normal", 0.0, "layer")
    assert torch.count_nonzero(layer.kron_a) > 0 and torch.count_nonzero(layer.kron_b) > 0
    assert layer.kron_b.std().item() == pytest.approx(1 / 8, rel=0.3)


def test_gpt2_conv1d_layer():
    torch.manual_seed(0)
    base = Conv1D(nf=96, nx=32)  # GPT-2 layout: weight (d_in, d_out), y = x @ W + b
    nn.init.normal_(base.weight)
    layer = KronALinear(base, (8, 4), 2.0, "ku_zero", 0.0, "h.0.attn.c_attn")
    randomise(layer)
    x = torch.randn(4, 32)
    expected = x @ (base.weight + 2.0 * torch.kron(layer.kron_a, layer.kron_b).T) + base.bias
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)
    layer.merge()
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)


def test_delta_equals_peft_lokr_with_same_factors():
    """An independent implementation: PEFT's LoKr, given our two factors, yields the same ΔW and outputs."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 48))
    lokr_model = inject_adapter_in_model(
        LoKrConfig(r=64, alpha=64, target_modules=["0"], decompose_factor=8), model
    )
    lokr = lokr_model[0]
    w1, w2 = lokr.lokr_w1["default"], lokr.lokr_w2["default"]
    with torch.no_grad():
        w1.copy_(torch.randn(w1.shape))
        w2.copy_(torch.randn(w2.shape))
    base = nn.Linear(64, 48)
    base.load_state_dict(lokr.get_base_layer().state_dict())
    ours = KronALinear(base, tuple(w1.shape), 1.0, "ku_zero", 0.0, "0")
    with torch.no_grad():
        ours.kron_a.copy_(w1)
        ours.kron_b.copy_(w2)
    torch.testing.assert_close(ours.delta_weight(), lokr.get_delta_weight("default"))
    x = torch.randn(5, 64)
    torch.testing.assert_close(ours(x), lokr(x), rtol=1e-5, atol=1e-5)


def test_bad_factor_shape_names_the_layer():
    with pytest.raises(ValueError, match=r"bert\.encoder\.layer\.0\.attention\.self\.query.*Valid shapes"):
        KronALinear(
            nn.Linear(384, 384), (5, 7), 1.0, "ku_zero", 0.0, "bert.encoder.layer.0.attention.self.query"
        )
