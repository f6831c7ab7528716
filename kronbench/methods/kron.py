"""Kronecker primitives: `(A ⊗ B) x` without building `A ⊗ B`, the full product for merging, shape helpers.

Row-major identity (PyTorch layout): for `A ∈ R^{a1×a2}`, `B ∈ R^{b1×b2}`, `x ∈ R^{a2·b2}`,
`kron(A, B) @ x == (A @ x.view(a2, b2) @ B.T).reshape(a1*b1)`.

Building `kron(A, B)` costs a full `d_out×d_in` matrix and GEMM per layer per step (why HF PEFT's LoKr is slow),
so training never does it. Each of the two contractions is arranged as one large GEMM over all tokens (a
transpose brings the contracted axis last) instead of a batched matmul of thousands of tiny matrices, and the
cheaper of the two contraction orders is chosen from the factor shapes, so every shape in the KronA paper's
sweep — (2, 384) included — costs about the same.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


def kron_flops(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> tuple[int, int]:
    """Multiply-adds per token for (A first, B first) contraction orders."""
    (a1, a2), (b1, b2) = a_shape, b_shape
    a_first = a1 * a2 * b2 + a1 * b2 * b1
    b_first = a2 * b2 * b1 + a1 * a2 * b1
    return a_first, b_first


@functools.lru_cache(maxsize=256)
def _a_first(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> bool:
    a_first, b_first = kron_flops(a_shape, b_shape)
    return a_first <= b_first


def _t(t: Tensor, n: int, p: int, q: int) -> Tensor:
    """Rows of `t` viewed as `(n, p, q)`, transposed to `(n, q, p)`, as a contiguous `(n*q, p)` GEMM operand."""
    return t.reshape(n, p, q).transpose(1, 2).reshape(n * q, p)


class _KronMatvec(torch.autograd.Function):
    """`x @ kron(a, b).T` for 2-d `x`: two GEMMs and two transposing copies forward, four GEMMs and two copies
    backward, in one autograd node (the per-op autograd graph of the same arithmetic costs ~3× the launches).
    `a_first` picks the contraction order (A's contraction first or B's)."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, a: Tensor, b: Tensor, x: Tensor, a_first: bool) -> Tensor:  # noqa: D102
        (a1, a2), (b1, b2), n = a.shape, b.shape, x.shape[0]
        if a_first:
            xt = _t(x, n, a2, b2)  # (n*b2, a2)
            t = _t(xt @ a.t(), n, b2, a1)  # (n*a1, b2)
            y = (t @ b.t()).reshape(n, a1 * b1)
            ctx.save_for_backward(a, b, xt, t)
        else:
            xs = x.view(n * a2, b2)
            t = _t(xs @ b.t(), n, a2, b1)  # (n*b1, a2)
            y = _t(t @ a.t(), n, b1, a1).reshape(n, a1 * b1)
            ctx.save_for_backward(a, b, xs, t)
        ctx.a_first = a_first
        return y

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:  # noqa: D102
        a, b, xs, t = ctx.saved_tensors
        (a1, a2), (b1, b2), n = a.shape, b.shape, g.shape[0]
        need_a, need_b, need_x = ctx.needs_input_grad[:3]
        grad_a = grad_b = grad_x = None
        if ctx.a_first:  # y = t @ b.T, t = T(xt @ a.T)
            g2 = g.reshape(n * a1, b1)
            grad_b = g2.t() @ t if need_b else None
            gt = _t(g2 @ b, n, a1, b2)  # (n*b2, a1)
            grad_a = gt.t() @ xs if need_a else None
            grad_x = _t(gt @ a, n, b2, a2).reshape(n, a2 * b2) if need_x else None
        else:  # y = T(t @ a.T), t = T(xs @ b.T)
            gu = _t(g.contiguous(), n, a1, b1)  # (n*b1, a1)
            grad_a = gu.t() @ t if need_a else None
            gt = _t(gu @ a, n, b1, a2)  # (n*a2, b1)
            grad_b = gt.t() @ xs if need_b else None
            grad_x = (gt @ b).reshape(n, a2 * b2) if need_x else None
        return grad_a, grad_b, grad_x, None


def kron_matvec(a: Tensor, b: Tensor, x: Tensor) -> Tensor:
    """Return `x @ kron(a, b).T` for `x` of shape `(..., a2*b2)`, as two large GEMMs.

    Output shape `(..., a1*b1)`. Differentiable in `a`, `b` and `x` (first order).
    """
    a1, a2 = a.shape
    b1, b2 = b.shape
    lead = x.shape[:-1]
    if x.shape[-1] != a2 * b2:
        raise ValueError(
            f"input width {x.shape[-1]} != a2*b2 = {a2}*{b2} for factors {tuple(a.shape)}⊗{tuple(b.shape)}"
        )
    x2 = x.reshape(-1, a2 * b2)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    y = _KronMatvec.apply(a, b, x2, _a_first((a1, a2), (b1, b2)))
    return y.reshape(*lead, a1 * b1)


def kron_matvec_reference(a: Tensor, b: Tensor, x: Tensor) -> Tensor:
    """The same product through autograd-traced reshapes and matmuls (the previous implementation; tests)."""
    a1, a2 = a.shape
    b1, b2 = b.shape
    n = x.numel() // (a2 * b2)
    xs = x.reshape(n, a2, b2)
    if _a_first((a1, a2), (b1, b2)):
        t = xs.transpose(1, 2).reshape(n * b2, a2) @ a.t()
        y = t.view(n, b2, a1).transpose(1, 2).reshape(n * a1, b2) @ b.t()
    else:
        t = xs.reshape(n * a2, b2) @ b.t()
        t = t.view(n, a2, b1).transpose(1, 2).reshape(n * b1, a2) @ a.t()
        y = t.view(n, b1, a1).transpose(1, 2)
    return y.reshape(*x.shape[:-1], a1 * b1)


def kron_weight(a: Tensor, b: Tensor) -> Tensor:
    """The full `kron(a, b)` (`(a1*b1) × (a2*b2)`): for merging into a weight and for tests only."""
    return torch.kron(a, b)


def divisor_pairs(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def valid_factor_shapes(d_out: int, d_in: int, limit: int = 12) -> list[tuple[int, int]]:
    """A sample of valid `A` shapes `(a1, a2)` for a `d_out×d_in` layer (a1 | d_out, a2 | d_in), near-square first."""
    shapes = [(a1, a2) for a1 in divisor_pairs(d_out) for a2 in divisor_pairs(d_in)]
    # prefer shapes whose A and B have similar sizes (the KronA paper's sweep lives there)
    shapes.sort(key=lambda s: abs(s[0] * s[1] - (d_out // s[0]) * (d_in // s[1])))
    return shapes[:limit]


def check_factor_shape(a_shape: tuple[int, int], d_out: int, d_in: int, layer: str) -> tuple[int, int]:
    """Return B's shape for A's `a_shape` on a `d_out×d_in` layer, or raise naming the layer and valid shapes."""
    a1, a2 = a_shape
    if a1 <= 0 or a2 <= 0 or d_out % a1 or d_in % a2:
        raise ValueError(
            f"factor shape A={tuple(a_shape)} does not divide layer {layer!r} of shape "
            f"(d_out={d_out}, d_in={d_in}): need a1 | {d_out} and a2 | {d_in}. "
            f"Valid shapes include {valid_factor_shapes(d_out, d_in)}"
        )
    return d_out // a1, d_in // a2
