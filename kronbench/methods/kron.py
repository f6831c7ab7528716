"""Kronecker primitives: `Σ_k (A_k ⊗ B_k) x` without building any `A_k ⊗ B_k`, the full product for merging,
shape helpers.

Row-major identity (PyTorch layout): for `A ∈ R^{a1×a2}`, `B ∈ R^{b1×b2}`, `x ∈ R^{a2·b2}`,
`kron(A, B) @ x == (A @ x.view(a2, b2) @ B.T).reshape(a1*b1)`.

Building `kron(A, B)` costs a full `d_out×d_in` matrix and GEMM per layer per step (why HF PEFT's LoKr is slow),
so training never does it. Each of the two contractions is one large GEMM over all tokens (a transposing copy
brings the contracted axis last) instead of a batched matmul of thousands of tiny matrices, and the cheaper of
the two contraction orders is chosen from the factor shapes, so every shape in the KronA paper's sweep — (2, 384)
included — costs about the same. A sum of `K` products (KronA^B's modules, CDKA's components) costs the same two
GEMMs: the `K` first factors are stacked along the first GEMM's output and the `K` second factors along the
second GEMM's contraction.

Eager training on a GPU is bound by kernel launches and Python calls, so :func:`kron_matvec` launches as few
kernels as the arithmetic allows — forward: a transposing copy that also casts to the compute dtype, a GEMM, a
transposing copy, and a GEMM that adds its result onto the frozen layer's output (`addmm`) — as plain ops whose
backward runs in autograd's C++ nodes (a hand-written Python `autograd.Function` measured slower on the host).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def kron_flops(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> tuple[int, int]:
    """Multiply-adds per token for (A first, B first) contraction orders."""
    (a1, a2), (b1, b2) = a_shape, b_shape
    a_first = a1 * a2 * b2 + a1 * b2 * b1
    b_first = a2 * b2 * b1 + a1 * a2 * b1
    return a_first, b_first


def _a_first(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> bool:
    a_first, b_first = kron_flops(a_shape, b_shape)
    return a_first <= b_first


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype matmuls on `x` run in: autocast's when it is on for `x`'s device, else `x`'s own."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def _swap(t: Tensor, n: int, p: int, k: int, q: int) -> Tensor:
    """Rows of `t` viewed as `(n, p, k, q)` as a contiguous `(n*q, k*p)` matrix `[n, q, k, p]` (one copy)."""
    return t.view(n, p, k, q).permute(0, 3, 2, 1).reshape(n * q, k * p)


def kron_matvec(
    a: Tensor,
    b: Tensor,
    x: Tensor,
    base: Tensor | None = None,
    scale: float = 1.0,
    between: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Return `base + scale · Σ_k x @ kron(a_k, b_k).T` (`base` optional), without building any product.

    `a`: `(a1, a2)` or `(K, a1, a2)`; `b`: `(b1, b2)` or `(K, b1, b2)`; `x`: `(..., a2*b2)`; `base`:
    `(..., a1*b1)`, e.g. the frozen layer's output, added by the last GEMM. Output `(..., a1*b1)` in the compute
    dtype (autocast's, else `x`'s). Plain differentiable ops, so autograd's C++ nodes do the backward (four GEMMs,
    two transposing copies) and `torch.compile` traces it whole. `scale` multiplies `b` (a tiny tensor), never the
    activations. `between` (KronA^B's intermediate bias / non-linearity) is applied to the intermediate
    `A_k x` viewed as `(n, a1, K, b2)`; it forces the A-first order.
    """
    stacked = a.dim() == 3  # K products summed; 2-d factors are K = 1
    (k, a1, a2), (kb, b1, b2) = (a.shape, b.shape) if stacked else ((1, *a.shape), (1, *b.shape))
    if k != kb or b.dim() != a.dim():
        raise ValueError(f"factors {tuple(a.shape)} and {tuple(b.shape)} do not pair up")
    if x.shape[-1] != a2 * b2:
        raise ValueError(
            f"input width {x.shape[-1]} != a2*b2 = {a2}*{b2} for factors {tuple(a.shape)}⊗{tuple(b.shape)}"
        )
    lead = x.shape[:-1]
    dtype = compute_dtype(x)
    if base is not None and base.dtype != dtype and not torch.is_autocast_enabled(x.device.type):
        return base + kron_matvec(a, b, x, None, scale, between).to(base.dtype)
    x2 = x.reshape(-1, a2 * b2)
    n = x2.shape[0]
    if scale != 1.0:
        b = b * scale
    if between is not None or _a_first((a1, a2), (b1, b2)):
        # x as [n, j2, j1] in the compute dtype: one copy that transposes and casts
        xt = x2.reshape(n, a2, b2).transpose(1, 2).to(dtype, memory_format=torch.contiguous_format)
        u = xt.reshape(n * b2, a2) @ (a.reshape(k * a1, a2) if stacked else a).t()  # [n, j2, (k, i1)]
        t = _swap(u, n, b2, k, a1)  # [n, i1, (k, j2)]
        if between is not None:
            t = between(t.view(n, a1, k, b2)).reshape(n * a1, k * b2)
        second = b.transpose(1, 2).reshape(k * b2, b1) if stacked else b.t()  # [(k, j2), i2]
        y = t @ second if base is None else torch.addmm(base.reshape(n * a1, b1), t, second)
        return y.view(*lead, a1 * b1)
    u = x2.reshape(n * a2, b2) @ (b.reshape(k * b1, b2) if stacked else b).t()  # [n, j1, (k, i2)]
    t = _swap(u, n, a2, k, b1)  # [n, i2, (k, j1)]
    second = a.transpose(1, 2).reshape(k * a2, a1) if stacked else a.t()  # [(k, j1), i1]
    w = (t @ second).view(n, b1, a1).transpose(1, 2)  # [n, i1, i2]
    y = w.reshape(n, a1 * b1) if base is None else base.reshape(n, a1, b1) + w
    return y.reshape(*lead, a1 * b1)


def kron_sum_weight(a: Tensor, b: Tensor, scale: float = 1.0) -> Tensor:
    """The dense `scale · Σ_k kron(a_k, b_k)` for 2-d or stacked 3-d factors: merging and tests only."""
    if a.dim() == 2:
        return scale * kron_weight(a, b)
    return scale * sum(kron_weight(a[i], b[i]) for i in range(a.shape[0]))


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
