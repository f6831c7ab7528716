"""KronA^B and KronA^B_res (Edalati et al., 2022, §3.3 and App. B.2-B.3): Kronecker adapters at the block level.

`Y = FFN(X) + s·Σ_k (A_k ⊗ B_k) X [+ s_res·X]` (Eq. 5/6), `A_k ∈ R^{a1×a2}`, `B_k ∈ R^{(d_out/a1)×(d_in/a2)}`,
X = the block input (the FFN's input by default). `residual`: `none` (KronA^B), `res` (learnable `s_res`, init 1:
KronA^B_res), `sigres` (`sigmoid(s_res)`, the Table 7 ablation). Not mergeable (the FFN is non-linear).

Table 5's step-by-step switches are config values: `mode` sequential/parallel, `scale` (1.0 = "without scale"),
`placement` ffn/attention/both, `modules_per_block` (App. B.2: "adding two modules to each FFN instead of adding to
both the FFN and the attention blocks" — our reading: two summed modules per FFN, the final recipe, hence the
default 2), `activation` between the two factor multiplications (Table 6: silu, relu, gelu, gelu_new, mish; none
by default, as the paper removed it), and `bias` = the hyperparameter tables' "module bias" (0/1/2). Our reading of
the bias count: 1 = one output bias (d_out) per module; 2 = also the bias of the first multiplication: `A_k` maps
each column of X (viewed a2×b2) from a2 to a1 values, so its bias is a1 values per module, shared by the b2
columns, added before the optional non-linearity (an adapter's down- and up-projection biases). The counts pin it:
on T5-base with the layer norms, bias 1 gives exactly KronA's/LoRA's 158,208 (0.07%) and bias 2 adds 1,536 (0.0717%:
Table 1's "0.07*, slightly different with one or two biases"); a full a1×b2 intermediate bias would add 49,152
(0.09%). Biases start at zero.

The forward never builds `A ⊗ B`: with no intermediate bias/activation it uses `kron.kron_matvec` (cheapest order);
otherwise A is contracted first (X viewed as (a2, d_in/a2)), then the bias/activation, then B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from kronbench.config import MethodConfig
from kronbench.methods.base import Method
from kronbench.methods.kron import check_factor_shape, compute_dtype, kron_matvec
from kronbench.methods.krona import KRONA_INITS, init_kron_factors
from kronbench.methods.mixture import get_activation
from kronbench.methods.sites import (
    PLACEMENTS,
    attach_parallel,
    attach_sequential,
    placement_kinds,
    resolve_sites,
    site_dims,
)
from kronbench.registry import register_method

KRONA_B_ACTIVATIONS = ("none", "silu", "relu", "gelu", "gelu_new", "mish")
RESIDUALS = ("none", "res", "sigres")
MODES = ("parallel", "sequential")
INFERENCE_FORMS = ("dense", "factored")


@dataclass
class KronABConfig(MethodConfig):
    name: str = "krona_b"
    factor_shape: list[int] = field(default_factory=lambda: [32, 24])  # shape of A (a1, a2); B is derived
    scale: float = 16.0  # s (KronA paper Table 17: 16 for small tasks, 4 for large); 1.0 = "without scale"
    init: str = "ku_zero"  # "ku_zero" (A Kaiming-uniform, B zero: starts at the pretrained model) or "normal"
    placement: str = "ffn"  # "ffn" (default), "attention" or "both" (site kinds from conf/model/family)
    modules_per_block: int = 2  # independent KronA^B modules summed at each site (see module docstring)
    mode: str = (
        "parallel"  # "parallel": Y = block(X) + adapter(X); "sequential": Y = h + adapter(h), h = block(X)
    )
    activation: str = "none"  # non-linearity between the two factor multiplications (Table 6)
    bias: int = 1  # "module bias": 0, 1 (output bias) or 2 (+ intermediate bias)
    residual: str = "none"  # "none" (KronA^B), "res" (KronA^B_res), "sigres" (sigmoid residual scale)
    dropout: float = 0.0  # dropout on the adapter's input
    # inference (no grad): "dense" collapses a linear adapter into one cached matrix (one GEMM per site);
    # "factored" keeps the two-GEMM Kronecker form (what training runs)
    inference: str = "dense"

    def __post_init__(self) -> None:
        if len(self.factor_shape) != 2 or min(self.factor_shape) < 1:
            raise ValueError(
                f"method.factor_shape={list(self.factor_shape)} must be two positive ints (a1, a2)"
            )
        checks = [
            (self.inference, INFERENCE_FORMS, "inference"),
            (self.init, KRONA_INITS, "init"),
            (self.placement, tuple(PLACEMENTS), "placement"),
            (self.mode, MODES, "mode"),
            (self.activation, KRONA_B_ACTIVATIONS, "activation"),
            (self.residual, RESIDUALS, "residual"),
        ]
        for value, valid, what in checks:
            if value not in valid:
                raise ValueError(f"method.{what}={value!r} is not valid; choose one of {list(valid)}")
        if self.bias not in (0, 1, 2):
            raise ValueError(f"method.bias={self.bias} is not valid; choose 0, 1 or 2")
        if self.modules_per_block < 1:
            raise ValueError(f"method.modules_per_block={self.modules_per_block} must be >= 1")

    def tag(self) -> str:
        a1, a2 = self.factor_shape
        parts = [
            f"A{a1}x{a2}",
            f"s{self.scale:g}",
            self.placement,
            f"m{self.modules_per_block}",
            self.mode[:3],
        ]
        parts += [f"b{self.bias}", self.init]
        if self.activation != "none":
            parts.append(self.activation)
        if self.residual != "none":
            parts.append(self.residual)
        return "_".join(parts)


class KronABlockAdapter(nn.Module):
    """`s·Σ_k (A_k⊗B_k) x + s_res·x` (parallel), or `x + that` (sequential, returning the full output).

    The `K` modules' factors are stacked (`kron_a`: `(K, a1, a2)`, `kron_b`: `(K, b1, b2)`, biases `(K, ...)`),
    so the whole sum costs two GEMMs (:func:`kron_matvec`), whatever `K` is. Under `torch.no_grad` /
    `inference_mode`, an affine adapter (no activation) with `inference="dense"` collapses into one cached
    `d_out×d_in` matrix (the `K` products, the scale, the residual) and one bias: one GEMM per site.
    The cache is rebuilt whenever a parameter changes (its version counter moves).
    """

    def __init__(self, d_in: int, d_out: int, cfg: KronABConfig, sequential: bool, name: str) -> None:
        super().__init__()
        a_shape = (cfg.factor_shape[0], cfg.factor_shape[1])
        b_shape = check_factor_shape(a_shape, d_out, d_in, name)
        k = cfg.modules_per_block
        self.kron_a = nn.Parameter(torch.empty(k, *a_shape))
        self.kron_b = nn.Parameter(torch.empty(k, *b_shape))
        for i in range(k):  # each module initialised as one KronA module (fans of the 2-d factors)
            init_kron_factors(self.kron_a[i], self.kron_b[i], cfg.init, d_in)
        self.act = None if cfg.activation == "none" else get_activation(cfg.activation)
        # bias of the A_k multiplication: a1 values per module, broadcast over the b2 columns of the intermediate
        # (kron_matvec's layout (a1, K, b2))
        self.mid_bias = nn.Parameter(torch.zeros(a_shape[0], k, 1)) if cfg.bias >= 2 else None
        self.out_bias = nn.Parameter(torch.zeros(k, d_out)) if cfg.bias >= 1 else None
        self.scale = cfg.scale
        self.sequential = sequential
        self.residual = cfg.residual
        if cfg.residual != "none" and d_in != d_out:
            raise ValueError(
                f"residual={cfg.residual!r} needs d_in == d_out at {name!r}, got {d_in} -> {d_out}"
            )
        self.s_res = nn.Parameter(torch.ones(())) if cfg.residual != "none" else None
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None
        self.dense_inference = cfg.inference == "dense" and self.act is None  # affine: collapses
        self._dense_key: tuple | None = None
        self._dense: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def residual_scale(self) -> torch.Tensor | None:
        if self.s_res is None:
            return None
        return torch.sigmoid(self.s_res) if self.residual == "sigres" else self.s_res

    def _between(self, t: torch.Tensor) -> torch.Tensor:
        """Intermediate bias and non-linearity on `A_k x` (`(n, a1, K, b2)`)."""
        if self.mid_bias is not None:
            t = t + self.mid_bias.to(t.dtype)
        return self.act(t) if self.act is not None else t

    def dense(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(W, c)` with `adapter(x) = x @ W.T + c` (affine adapters only), in the compute dtype `dtype`: the
        inference form, cached (no per-forward cast of W under autocast) until a parameter changes."""
        if torch.compiler.is_compiling():  # traced graphs recompute it (fused, cheap): no cache
            return self.dense_form(dtype)
        key = (dtype, tuple((p.data_ptr(), p._version, p.dtype) for p in self.parameters()))
        if key != self._dense_key:
            self._dense_key, self._dense = key, self.dense_form(dtype)
        return self._dense

    def dense_form(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(W, c)` read off the factored forward itself (one implementation of the adapter's arithmetic): the
        rows of `f([I; 0])` are `W[:, i] + c` and `c`. Computed in the parameters' dtype, without autocast."""
        d_in = self.kron_a.shape[2] * self.kron_b.shape[2]
        device, param_dtype = self.kron_a.device, self.kron_a.dtype
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            eye = torch.eye(d_in, dtype=param_dtype, device=device)
            probe = torch.cat([eye, eye.new_zeros(1, d_in)])
            out = self.factored(probe, probe)
        bias = out[-1]
        weight = (out[:-1] - bias).t().to(dtype)
        has_bias = self.out_bias is not None or self.mid_bias is not None
        return weight, bias.to(dtype) if has_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dense_inference and not torch.is_grad_enabled():
            weight, bias = self.dense(compute_dtype(x))
            return F.linear(x, weight, bias)
        return self.factored(self.dropout(x) if self.dropout is not None else x, x)

    def factored(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The two-GEMM form on `h` (the input after dropout); `x` (the input) feeds the residual terms."""
        between = self._between if (self.act is not None or self.mid_bias is not None) else None
        base = None
        if self.out_bias is not None:
            base = (self.scale * self.out_bias.sum(0)).to(compute_dtype(x)).expand(*x.shape[:-1], -1)
        y = kron_matvec(self.kron_a, self.kron_b, h, base=base, scale=self.scale, between=between)
        s_res = self.residual_scale()
        if s_res is not None:
            y = torch.addcmul(y, s_res.to(y.dtype), x.to(y.dtype))
        return x + y if self.sequential else y


@register_method("krona_b", KronABConfig)
class KronAB(Method):
    """KronA^B / KronA^B_res at the model family's FFN (and/or attention) sites."""

    def attach(self, model: nn.Module) -> list[str]:
        cfg: KronABConfig = self.config
        names = []
        for _, site in resolve_sites(model, self.model_cfg, placement_kinds(cfg.placement)):
            d_in, d_out = site_dims(model, site)
            if cfg.mode == "parallel":
                attach_parallel(model, site, KronABlockAdapter(d_in, d_out, cfg, False, site.block))
            else:
                attach_sequential(model, site, KronABlockAdapter(d_out, d_out, cfg, True, site.block))
            names.append(site.block)
        return names


@dataclass
class KronABResConfig(KronABConfig):
    name: str = "krona_b_res"
    residual: str = "res"


@register_method("krona_b_res", KronABResConfig)
class KronABRes(KronAB):
    """KronA^B_res: KronA^B plus a learnable residual `s_res·X` (init 1); `method.residual=sigres` for the ablation."""
