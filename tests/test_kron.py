"""The Kronecker primitive against the explicit `torch.kron`, values and gradients, every contraction order."""

from __future__ import annotations

import pytest
import torch

from kronbench.methods.kron import check_factor_shape, kron_flops, kron_matvec, kron_weight

SHAPES = [
    ((2, 3), (4, 5)),
    ((32, 24), (12, 16)),
    ((2, 384), (3, 2)),
    ((192, 4), (2, 96)),
    ((1, 1), (7, 9)),
    ((6, 8), (1, 1)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), SHAPES)
@pytest.mark.parametrize("lead", [(), (5,), (3, 7)])
def test_matvec_equals_explicit_kron(a_shape, b_shape, lead):
    torch.manual_seed(0)
    a = torch.randn(*a_shape, dtype=torch.float64)
    b = torch.randn(*b_shape, dtype=torch.float64)
    x = torch.randn(*lead, a_shape[1] * b_shape[1], dtype=torch.float64)
    expected = x @ torch.kron(a, b).T
    torch.testing.assert_close(kron_matvec(a, b, x), expected)


def test_both_contraction_orders_are_exercised():
    orders = {kron_flops(a, b)[0] <= kron_flops(a, b)[1] for a, b in SHAPES}
    assert orders == {True, False}


@pytest.mark.parametrize(("a_shape", "b_shape"), SHAPES[:4])
def test_gradients_match_explicit_kron(a_shape, b_shape):
    torch.manual_seed(1)
    a = torch.randn(*a_shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(*b_shape, dtype=torch.float64, requires_grad=True)
    x = torch.randn(4, 3, a_shape[1] * b_shape[1], dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(4, 3, a_shape[0] * b_shape[0], dtype=torch.float64)
    ours = torch.autograd.grad((kron_matvec(a, b, x) * grad_out).sum(), (a, b, x))
    ref = torch.autograd.grad(((x @ torch.kron(a, b).T) * grad_out).sum(), (a, b, x))
    for g_ours, g_ref in zip(ours, ref, strict=True):
        torch.testing.assert_close(g_ours, g_ref)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-4), (torch.bfloat16, 5e-2)])
def test_low_precision_dtypes(dtype, tol):
    torch.manual_seed(2)
    a, b = torch.randn(8, 6), torch.randn(4, 5)
    x = torch.randn(10, 30)
    expected = x @ torch.kron(a, b).T
    got = kron_matvec(a.to(dtype), b.to(dtype), x.to(dtype)).float()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol * expected.abs().max().item())


def test_kron_weight_is_torch_kron():
    a, b = torch.randn(3, 2), torch.randn(2, 5)
    torch.testing.assert_close(kron_weight(a, b), torch.kron(a, b))


def test_wrong_width_is_rejected():
    with pytest.raises(ValueError, match="input width 7"):
        kron_matvec(torch.randn(2, 2), torch.randn(3, 3), torch.randn(4, 7))


def test_non_dividing_factor_shape_names_layer_and_valid_shapes():
    with pytest.raises(ValueError) as err:
        check_factor_shape((5, 7), 384, 384, "bert.encoder.layer.0.attention.self.query")
    message = str(err.value)
    assert "bert.encoder.layer.0.attention.self.query" in message
    assert "(5, 7)" in message and "d_out=384" in message and "Valid shapes include" in message
    assert check_factor_shape((32, 24), 384, 384, "q") == (12, 16)


@pytest.mark.parametrize(("a_shape", "b_shape"), SHAPES)
def test_kernel_matches_traced_reference_and_partial_grads(a_shape, b_shape):
    """The kernel equals the earlier traced reshape/matmul version, also for non-contiguous input and when only
    some inputs need gradients (frozen factor, frozen input)."""
    from kronbench.methods.kron import kron_matvec_reference

    torch.manual_seed(3)
    a = torch.randn(*a_shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(*b_shape, dtype=torch.float64)
    x = torch.randn(a_shape[1] * b_shape[1], 6, dtype=torch.float64).t()  # non-contiguous (6, d_in)
    g = torch.randn(6, a_shape[0] * b_shape[0], dtype=torch.float64)
    ours = kron_matvec(a, b, x)
    torch.testing.assert_close(ours, kron_matvec_reference(a, b, x))
    (ga,) = torch.autograd.grad((ours * g).sum(), (a,))
    (ref,) = torch.autograd.grad(((x @ torch.kron(a, b).T) * g).sum(), (a,))
    torch.testing.assert_close(ga, ref)


@pytest.mark.parametrize(("a_shape", "b_shape"), SHAPES)
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_stacked_sum_with_base_equals_explicit_kron_values_and_grads(a_shape, b_shape, scale):
    """K stacked products, the frozen layer's output as `base` and a scale: values and every gradient."""
    torch.manual_seed(4)
    k = 3
    a = torch.randn(k, *a_shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(k, *b_shape, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 5, a_shape[1] * b_shape[1], dtype=torch.float64, requires_grad=True)
    base = torch.randn(2, 5, a_shape[0] * b_shape[0], dtype=torch.float64, requires_grad=True)
    weight = scale * sum(torch.kron(a[i], b[i]) for i in range(k))
    expected = base + x @ weight.T
    ours = kron_matvec(a, b, x, base=base, scale=scale)
    torch.testing.assert_close(ours, expected)
    g = torch.randn_like(expected)
    inputs = (a, b, x, base)
    for got, ref in zip(
        torch.autograd.grad((ours * g).sum(), inputs),
        torch.autograd.grad((expected * g).sum(), inputs),
        strict=True,
    ):
        torch.testing.assert_close(got, ref)


def test_between_applies_between_the_two_contractions():
    """`between` sees `A_k x` as (n, a1, K, b2): KronA^B's intermediate bias and non-linearity."""
    torch.manual_seed(5)
    k, (a1, a2), (b1, b2) = 2, (3, 4), (5, 6)
    a, b = torch.randn(k, a1, a2, dtype=torch.float64), torch.randn(k, b1, b2, dtype=torch.float64)
    bias = torch.randn(a1, k, b2, dtype=torch.float64)
    x = torch.randn(7, a2 * b2, dtype=torch.float64)
    got = kron_matvec(a, b, x, scale=0.5, between=lambda t: torch.tanh(t + bias))
    xs = x.view(7, a2, b2)
    expected = sum((torch.tanh(a[i] @ xs + bias[:, i]) @ b[i].T).reshape(7, a1 * b1) for i in range(k))
    torch.testing.assert_close(got, 0.5 * expected)


@pytest.mark.parametrize(("a_shape", "b_shape"), [((32, 24), (12, 16)), ((2, 384), (3, 2))])
def test_autocast_runs_matmuls_in_bf16_and_returns_input_dtype_grads(a_shape, b_shape):
    """Under autocast the product comes out in bf16 (as the frozen layer's output), gradients in fp32."""
    torch.manual_seed(6)
    a = torch.randn(*a_shape, requires_grad=True)
    b = torch.randn(*b_shape, requires_grad=True)
    x = torch.randn(9, a_shape[1] * b_shape[1], requires_grad=True)
    layer = torch.nn.Linear(x.shape[-1], a_shape[0] * b_shape[0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = kron_matvec(a, b, x, base=layer(x))
    assert y.dtype == torch.bfloat16
    expected = layer(x) + x @ torch.kron(a, b).T
    torch.testing.assert_close(y.float(), expected, rtol=5e-2, atol=5e-2 * expected.abs().max().item())
    y.float().sum().backward()
    assert a.grad.dtype == b.grad.dtype == x.grad.dtype == torch.float32


def test_mismatched_factor_stacks_are_rejected():
    with pytest.raises(ValueError, match="do not pair up"):
        kron_matvec(torch.randn(2, 2, 2), torch.randn(3, 3, 3), torch.randn(4, 6))


def test_krona_and_krona_b_trace_whole_under_torch_compile():
    """No graph break (fullgraph) in KronA's layer or KronA^B's adapter, training and dense-inference forms."""
    from torch import nn

    from kronbench.methods.krona import KronALinear
    from kronbench.methods.krona_block import KronABConfig, KronABlockAdapter

    torch.manual_seed(7)
    layer = KronALinear(nn.Linear(64, 64).requires_grad_(False), (8, 8), 2.0, "normal", 0.0, "x")
    adapter = KronABlockAdapter(64, 64, KronABConfig(factor_shape=[8, 8], residual="res", bias=2), False, "s")
    with torch.no_grad():
        for p in adapter.parameters():  # B starts at zero: make every term count
            p.normal_()
    x = torch.randn(4, 64, requires_grad=True)
    for module in (layer, adapter):
        compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(x), module(x))
        compiled(x).sum().backward()
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), module(x))
