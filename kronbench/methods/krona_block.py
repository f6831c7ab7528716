"""KronA^B and KronA^B_res (Edalati et al., 2022, §3.3 and App. B.2-B.3): Kronecker adapters at the block level.

`Y = FFN(X) + s·Σ_k (A_k ⊗ B_k) X [+ s_res·X]` (Eq. 5/6), `A_k ∈ R^{a1×a2}`, `B_k ∈ R^{(d_out/a1)×(d_in/a2)}`,
X = the block input (the FFN's input by default). `residual`: `none` (KronA^B), `res` (learnable `s_res`, init 1:
KronA^B_res), `sigres` (`sigmoid(s_res)`, the Table 7 ablation). Not mergeable (the FFN is non-linear).

Table 5's step-by-step switches are config values: `mode` sequential/parallel, `scale` (1.0 = "without scale"),
`placement` ffn/attention/both, `modules_per_block` (App. B.2: "adding two modules to each FFN instead of adding to
both the FFN and the attention blocks" — our reading: two summed modules per FFN, the final recipe, hence the
default 2), `activation` between the two factor multiplications (Table 6: silu, relu, gelu, gelu_new, mish; none
by default, as the paper removed it), and `bias` = the hyperparameter tables' "module bias" (0/1/2). Our reading of
the bias count: 1 = one output bias (d_out); 2 = also a bias on the intermediate `A·X` (shape a1×(d_in/a2)), before
the optional non-linearity, mirroring an adapter's down- and up-projection biases. Biases start at zero.

The forward never builds `A ⊗ B`: with no intermediate bias/activation it uses `kron.kron_matvec` (cheapest order);
otherwise A is contracted first (X viewed as (a2, d_in/a2)), then the bias/activation, then B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from kronbench.config import MethodConfig
from kronbench.methods.base import Method
from kronbench.methods.kron import check_factor_shape, kron_matvec
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

    def __post_init__(self) -> None:
        if len(self.factor_shape) != 2 or min(self.factor_shape) < 1:
            raise ValueError(
                f"method.factor_shape={list(self.factor_shape)} must be two positive ints (a1, a2)"
            )
        checks = [
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


class KronAFactor(nn.Module):
    """One `(A ⊗ B) x` term with optional intermediate bias/activation and output bias."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        a_shape: tuple[int, int],
        init: str,
        activation: str,
        bias: int,
        name: str,
    ) -> None:
        super().__init__()
        b_shape = check_factor_shape(a_shape, d_out, d_in, name)
        self.a_shape, self.b_shape = a_shape, b_shape
        self.kron_a = nn.Parameter(torch.empty(*a_shape))
        self.kron_b = nn.Parameter(torch.empty(*b_shape))
        init_kron_factors(self.kron_a, self.kron_b, init, d_in)
        self.act = None if activation == "none" else get_activation(activation)
        self.mid_bias = nn.Parameter(torch.zeros(a_shape[0], b_shape[1])) if bias >= 2 else None
        self.out_bias = nn.Parameter(torch.zeros(d_out)) if bias >= 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.kron_a.to(x.dtype), self.kron_b.to(x.dtype)
        if self.act is None and self.mid_bias is None:
            y = kron_matvec(a, b, x)
        else:
            (a1, a2), (b1, b2) = self.a_shape, self.b_shape
            lead = x.shape[:-1]
            n = x.numel() // (a2 * b2)
            t = (
                (x.reshape(n, a2, b2).transpose(1, 2).reshape(n * b2, a2) @ a.t())
                .view(n, b2, a1)
                .transpose(1, 2)
            )
            if self.mid_bias is not None:  # t: (n, a1, b2)
                t = t + self.mid_bias.to(x.dtype)
            if self.act is not None:
                t = self.act(t)
            y = (t.reshape(n * a1, b2) @ b.t()).reshape(*lead, a1 * b1)
        return y if self.out_bias is None else y + self.out_bias.to(x.dtype)


class KronABlockAdapter(nn.Module):
    """`s·Σ_k (A_k⊗B_k) x + s_res·x` (parallel), or `x + that` (sequential, returning the full output)."""

    def __init__(self, d_in: int, d_out: int, cfg: KronABConfig, sequential: bool, name: str) -> None:
        super().__init__()
        a_shape = (cfg.factor_shape[0], cfg.factor_shape[1])
        self.terms = nn.ModuleList(
            KronAFactor(d_in, d_out, a_shape, cfg.init, cfg.activation, cfg.bias, name)
            for _ in range(cfg.modules_per_block)
        )
        self.scale = cfg.scale
        self.sequential = sequential
        self.residual = cfg.residual
        if cfg.residual != "none" and d_in != d_out:
            raise ValueError(
                f"residual={cfg.residual!r} needs d_in == d_out at {name!r}, got {d_in} -> {d_out}"
            )
        self.s_res = nn.Parameter(torch.ones(())) if cfg.residual != "none" else None
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()

    def residual_scale(self) -> torch.Tensor | None:
        if self.s_res is None:
            return None
        return torch.sigmoid(self.s_res) if self.residual == "sigres" else self.s_res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(x)
        y = self.scale * sum(term(h) for term in self.terms)
        s_res = self.residual_scale()
        if s_res is not None:
            y = y + s_res.to(x.dtype) * x
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
