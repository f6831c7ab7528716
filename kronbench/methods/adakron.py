"""AdaKron and Partial/Full MAdaKron (Braga et al., 2026, §3 and the Table 7-9 ablations).

AdaKron: a Pfeiffer-position adapter (sequential, after the FFN output projection, before dropout/residual/LayerNorm:
the family's `sites.ffn.output`) `h + W_up·GELU(y_c ⊗ y_v) + b_up`, `y_v = W_v h + b_v ∈ R^{r1}`,
`y_c = W_c h + b_c ∈ R^{r2}`, `r = r1·r2`; `y_c ⊗ y_v = [y_c1·y_v, …, y_cr2·y_v]`. BERT-base with r=48, r2=4:
12·((768+1)(12+4) + 48·768 + 768) = 599,232 parameters (paper Table 1: 0.6M).
Init (not stated in the paper), `method.init`:
- `normal` (default): the released code's -- every adapter linear (D_c, D_v and their experts, W_up) N(0, init_std),
  zero biases (the model's `_init_weights`), so the adapter is not exactly the identity at initialisation;
- `zero_up`: D_c, D_v nn.Linear's default (Kaiming-uniform), W_up/b_up zero: training starts at the pretrained model.

`product` (Table 7), our reading where the paper gives words only:
- `kron` (default): as above.
- `kron_up`: plain down projection `Linear(d, r)`, GELU, then a Kronecker up projection `u_c ⊗ u_v` with
  `u_c = U_c g ∈ R^{r2}`, `u_v = U_v g ∈ R^{d/r2}` (fewer up parameters, as the paper says).
- `kron_both`: Kronecker down and Kronecker up.
- `symmetric`: `GELU(y_c ⊗ y_v + y_v ⊗ y_c)`.
- `kron_sum`: the Kronecker sum `y_c ⊕ y_v` (`(y_c)_i + (y_v)_j`, same index layout as the product).
- `product_sum`: `GELU(y_c ⊗ y_v + y_c ⊕ y_v)`.
- `hadamard` (penetrating face): `y_v` split into r2 blocks, block i scaled by `(y_c)_i` → R^{r1} (needs r2 | r1);
  the up projection reads r1 values.
- `khatri_rao`: `y_c ∈ R^{p·r2}` and `y_v ∈ R^{r1}` split into p blocks (`khatri_rao_blocks`), output
  `[y_c^(1) ⊗ y_v^(1), …, y_c^(p) ⊗ y_v^(p)] ∈ R^{r}` (needs p | r1).

MAdaKron: D_c (Partial) or D_c and D_v (Full) are :class:`~kronbench.methods.mixture.ExpertLinear` mixtures of n
experts with random routing (one expert per forward pass for the whole batch), two passes per batch with the trainer's
symmetric-KL consistency loss (kronbench.consistency: weight, stop-gradient, protocol defaults), expert-weight averaging
at evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kronbench.config import MethodConfig
from kronbench.consistency import consistency_tag
from kronbench.methods.base import Method
from kronbench.methods.kron import compute_dtype
from kronbench.methods.mixture import (
    BottleneckAdapter,
    ExpertLinear,
    down_init,
    init_linear_,
    mixture_aux_loss,
    up_init,
)
from kronbench.methods.sites import attach_sequential, resolve_sites, site_dims
from kronbench.registry import register_method

PRODUCTS = ("kron", "kron_up", "kron_both", "symmetric", "kron_sum", "product_sum", "hadamard", "khatri_rao")
KRON_DOWN = ("kron", "kron_both", "symmetric", "kron_sum", "product_sum", "hadamard", "khatri_rao")
KRON_UP = ("kron_up", "kron_both")
ADAKRON_INITS = ("normal", "zero_up")


@dataclass
class AdaKronConfig(MethodConfig):
    name: str = "adakron"
    r: int = 48  # intermediate adapter dimension r = r1·r2
    r2: int = 4  # output size of D_c (the "reduction factor"); r1 = r / r2
    product: str = "kron"  # one of PRODUCTS (Table 7 variants)
    khatri_rao_blocks: int = 2  # p, only for product=khatri_rao
    activation: str = "gelu"  # applied to the combined down projection (the paper: GELU)
    init: str = "normal"  # "normal" (released code) or "zero_up": see the module docstring
    init_std: float = 0.02
    dropout: float = 0.0  # dropout on the adapter input
    placement: str = (
        "ffn"  # site kind(s) of the model family: "ffn" (Pfeiffer position) or "attention"/"both"
    )

    def __post_init__(self) -> None:
        if self.product not in PRODUCTS:
            raise ValueError(f"method.product={self.product!r} is not valid; choose one of {list(PRODUCTS)}")
        if self.r < 1 or self.r2 < 1 or self.r % self.r2:
            raise ValueError(
                f"method.r={self.r} must be a positive multiple of method.r2={self.r2} (r1 = r / r2)"
            )
        r1 = self.r // self.r2
        if self.product == "hadamard" and r1 % self.r2:
            raise ValueError(f"product=hadamard needs r2={self.r2} to divide r1={r1}")
        if self.product == "khatri_rao" and (self.khatri_rao_blocks < 1 or r1 % self.khatri_rao_blocks):
            raise ValueError(f"method.khatri_rao_blocks={self.khatri_rao_blocks} must divide r1={r1}")
        if self.init not in ADAKRON_INITS:
            raise ValueError(f"method.init={self.init!r} is not valid; choose one of {list(ADAKRON_INITS)}")
        if self.placement not in ("ffn", "attention", "both"):
            raise ValueError(
                f"method.placement={self.placement!r} is not valid; choose ffn, attention or both"
            )

    @property
    def r1(self) -> int:
        return self.r // self.r2

    def tag(self) -> str:
        tag = f"r{self.r}_rc{self.r2}_{self.product}"
        if self.init != "normal":
            tag = f"{tag}_{self.init}"
        return tag if self.placement == "ffn" else f"{tag}_{self.placement}"


def combine(product: str, y_c: torch.Tensor, y_v: torch.Tensor, r2: int, blocks: int = 1) -> torch.Tensor:
    """The vector combination of Table 7 for `y_c (..., r2 or p·r2)`, `y_v (..., r1)` (see module docstring)."""
    outer = y_c.unsqueeze(-1) * y_v.unsqueeze(-2)  # (..., r2, r1): [y_c1·y_v, ...]
    if product in ("kron", "kron_both"):
        return outer.flatten(-2)
    if product == "symmetric":
        return outer.flatten(-2) + (y_v.unsqueeze(-1) * y_c.unsqueeze(-2)).flatten(-2)
    ksum = (y_c.unsqueeze(-1) + y_v.unsqueeze(-2)).flatten(-2)
    if product == "kron_sum":
        return ksum
    if product == "product_sum":
        return outer.flatten(-2) + ksum
    if product == "hadamard":
        r1 = y_v.shape[-1]
        return (y_v.unflatten(-1, (r2, r1 // r2)) * y_c.unsqueeze(-1)).flatten(-2)
    if product == "khatri_rao":
        c = y_c.unflatten(-1, (blocks, r2))  # (..., p, r2)
        v = y_v.unflatten(-1, (blocks, y_v.shape[-1] // blocks))  # (..., p, r1/p)
        return (c.unsqueeze(-1) * v.unsqueeze(-2)).flatten(-3)  # (..., p·r2·r1/p = r)
    raise ValueError(f"product={product!r} is not valid; choose one of {list(PRODUCTS)}")


class KronDown(nn.Module):
    """AdaKron's down projection: `combine(D_c h, D_v h)` (D_c/D_v are nn.Linear or ExpertLinear)."""

    def __init__(self, d_c: nn.Module, d_v: nn.Module, product: str, r2: int, blocks: int = 1) -> None:
        super().__init__()
        self.d_c, self.d_v = d_c, d_v
        self.product, self.r2, self.blocks = product, r2, blocks

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # cast once for both projections (autocast would cast the activations once per projection)
        h = h.to(compute_dtype(h))
        if type(self.d_c) is nn.Linear and type(self.d_v) is nn.Linear:  # AdaKron: one GEMM for both
            y_c, y_v = self.joint_projection(h)
        else:  # MAdaKron: D_c (and D_v) are expert mixtures
            y_c, y_v = self.d_c(h), self.d_v(h)
        return combine(self.product, y_c, y_v, self.r2, self.blocks)

    def joint_projection(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(D_c h, D_v h)` from one GEMM over the concatenated weights and biases (the parameters stay two
        `nn.Linear` layers, both with bias as built)."""
        weight = torch.cat([self.d_c.weight, self.d_v.weight])
        bias = torch.cat([self.d_c.bias, self.d_v.bias])
        return F.linear(h, weight, bias).split([self.d_c.out_features, self.d_v.out_features], dim=-1)


class KronUp(nn.Module):
    """Kronecker up projection `u_c(g) ⊗ u_v(g)`, `u_c ∈ R^{r2}`, `u_v ∈ R^{d/r2}`; with init `zero_up` u_v starts at
    zero (identity), with `normal` both are N(0, std)."""

    def __init__(
        self, r: int, d_out: int, r2: int, name: str, init: str = "zero_up", std: float = 0.02
    ) -> None:
        super().__init__()
        if d_out % r2:
            raise ValueError(f"product kron_up: r2={r2} must divide the hidden size {d_out} at {name!r}")
        self.u_c = nn.Linear(r, r2)
        self.u_v = nn.Linear(r, d_out // r2)
        if init == "normal":  # zero_up keeps u_c at nn.Linear's default
            init_linear_(self.u_c.weight, self.u_c.bias, "normal", std)
        init_linear_(self.u_v.weight, self.u_v.bias, up_init(init), std)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return (self.u_c(g).unsqueeze(-1) * self.u_v(g).unsqueeze(-2)).flatten(-2)


def build_adakron(d: int, cfg: AdaKronConfig, name: str, make_c=None, make_v=None) -> BottleneckAdapter:
    """One AdaKron adapter (`h + up(GELU(combine(D_c h, D_v h)))`), initialised per `cfg.init`;
    `make_c/make_v(d_in, d_out)` build D_c/D_v (expert mixtures initialise their own experts the same way)."""
    make_c = make_c or _linear(cfg)
    make_v = make_v or _linear(cfg)
    r1, r2 = cfg.r1, cfg.r2
    if cfg.product in KRON_DOWN:
        c_out = r2 * cfg.khatri_rao_blocks if cfg.product == "khatri_rao" else r2
        down = KronDown(make_c(d, c_out), make_v(d, r1), cfg.product, r2, cfg.khatri_rao_blocks)
        width = r1 if cfg.product == "hadamard" else cfg.r
    else:  # kron_up: one ordinary down projection Linear(d, r) (built by make_c: MAdaKron puts its experts there)
        down = make_c(d, cfg.r)
        width = cfg.r
    # a plain up projection (up=None) is BottleneckAdapter's own Linear(width, d), initialised per cfg.init there
    up = KronUp(width, d, r2, name, cfg.init, cfg.init_std) if cfg.product in KRON_UP else None
    return BottleneckAdapter(
        d,
        width,
        activation=cfg.activation,
        residual=True,
        dropout=cfg.dropout,
        init=cfg.init,
        init_std=cfg.init_std,
        down=down,
        up=up,
    )


def _linear(cfg: AdaKronConfig):
    """A builder of one plain down projection `nn.Linear(d_in, d_out)`, initialised per `cfg.init`."""

    def make(d_in: int, d_out: int) -> nn.Linear:
        layer = nn.Linear(d_in, d_out)
        init_linear_(layer.weight, layer.bias, down_init(cfg.init), cfg.init_std)
        return layer

    return make


def _kinds(placement: str) -> tuple[str, ...]:
    return ("attention", "ffn") if placement == "both" else (placement,)


@register_method("adakron", AdaKronConfig)
class AdaKron(Method):
    """AdaKron adapters after the FFN of every layer (the family's `sites.ffn.output`)."""

    def build(self, d: int, name: str) -> BottleneckAdapter:
        return build_adakron(d, self.config, name)

    def attach(self, model: nn.Module) -> list[str]:
        names = []
        for _, site in resolve_sites(model, self.model_cfg, _kinds(self.config.placement)):
            d = site_dims(model, site)[1]
            attach_sequential(model, site, self.build(d, site.block))
            names.append(site.output)
        return names


@dataclass
class MAdaKronConfig(AdaKronConfig):
    name: str = "madakron_partial"
    full: bool = False  # False: Partial (experts in D_c only); True: Full (D_c and D_v)
    n_experts: int = 4  # 4 for NLU, 8 for GPT-2 (paper §A); Table 9 sweeps 2, 4, 6, 8
    # weight of KL(p1‖p2)+KL(p2‖p1); 0 = "w/o consistency" (one pass per batch); None = the protocol default
    # (kronbench.consistency.protocol_weight: ½ for NLU as the text, 50 for NLG as the released code's 100·½)
    consistency_weight: float | None = None
    # True: the released code (KL targets detached); False: the paper's Eq. 3 as written
    consistency_stop_gradient: bool = True
    merge_eval: bool = True  # False = "w/o merging": a random single expert at inference
    routing_probs: list[float] | None = None  # None = uniform; e.g. [0.7, 0.1, 0.1, 0.1] = "biased routing"
    gate: bool = False  # True = learned softmax gate per token (+ load balancing, top-k at inference)
    gate_top_k: int = 2  # experts used per token at inference with the gate (training uses the top 1)
    load_balance_weight: float = (
        0.01  # weight of the Switch load-balancing loss (gate only; 0 = "w/o balancing")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_experts < 1:
            raise ValueError(f"method.n_experts={self.n_experts} must be >= 1")
        if self.routing_probs is not None:
            probs = list(self.routing_probs)
            if len(probs) != self.n_experts or min(probs) < 0 or abs(sum(probs) - 1) > 1e-4:
                raise ValueError(
                    f"method.routing_probs={probs} must be n_experts={self.n_experts} non-negative numbers summing to 1"
                )
            if self.gate:
                raise ValueError("method.routing_probs and method.gate=true exclude each other")
        if self.gate and not 1 <= self.gate_top_k <= self.n_experts:
            raise ValueError(
                f"method.gate_top_k={self.gate_top_k} must be in [1, n_experts={self.n_experts}]"
            )
        negative_weight = self.consistency_weight is not None and self.consistency_weight < 0
        if negative_weight or self.load_balance_weight < 0:
            raise ValueError(
                f"method.consistency_weight={self.consistency_weight}, load_balance_weight="
                f"{self.load_balance_weight}: must be >= 0"
            )

    def tag(self) -> str:
        parts = [
            super().tag(),
            f"e{self.n_experts}",
            consistency_tag(self.consistency_weight, self.consistency_stop_gradient),
        ]
        if not self.merge_eval:
            parts.append("nomerge")
        if self.routing_probs is not None:
            parts.append("p" + "-".join(f"{p:g}" for p in self.routing_probs))
        if self.gate:
            parts.append(f"gate_top{self.gate_top_k}_lb{self.load_balance_weight:g}")
        return "_".join(parts)


@register_method("madakron_partial", MAdaKronConfig)
class MAdaKron(AdaKron):
    """AdaKron with expert mixtures in D_c (Partial) or D_c and D_v (Full, `method.full=true`)."""

    def experts(self, d_in: int, d_out: int) -> ExpertLinear:
        cfg: MAdaKronConfig = self.config
        return ExpertLinear(
            d_in,
            d_out,
            cfg.n_experts,
            routing="gate" if cfg.gate else "random",
            probs=cfg.routing_probs,
            merge_eval=cfg.merge_eval,
            eval_top_k=cfg.gate_top_k if cfg.gate else 1,
            init=down_init(cfg.init),
            init_std=cfg.init_std,
        )

    def build(self, d: int, name: str) -> BottleneckAdapter:
        cfg: MAdaKronConfig = self.config
        return build_adakron(d, cfg, name, make_c=self.experts, make_v=self.experts if cfg.full else None)

    @property
    def two_pass(self) -> bool:
        return self.config.consistency_weight is None or self.config.consistency_weight > 0

    @property
    def consistency_weight(self) -> float | None:
        return self.config.consistency_weight

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        cfg: MAdaKronConfig = self.config
        if not cfg.gate or cfg.load_balance_weight == 0:
            return None
        aux = mixture_aux_loss(model)
        return None if aux is None else cfg.load_balance_weight * aux


@dataclass
class MAdaKronFullConfig(MAdaKronConfig):
    name: str = "madakron_full"
    full: bool = True


@register_method("madakron_full", MAdaKronFullConfig)
class MAdaKronFull(MAdaKron):
    """Full MAdaKron: both down projections are expert mixtures."""


__all__ = ["AdaKron", "AdaKronConfig", "MAdaKron", "MAdaKronConfig", "MAdaKronFull", "combine"]
