"""CDKA — Component Designed Kronecker Adapters (Bai et al.). BEST AVAILABLE READING, UNVERIFIED.

The paper body is not available to us (only its abstract, ../shared/papers/cdka_bai_abstract.md); this follows
DESIGN.md §1, itself taken from public ports: a weight-level update parallel to chosen weight matrices,
`ΔW = λ·Σ_{i=1..r} B_i ⊗ A_i`, `A_i ∈ R^{r1×(d_in/r2)}` Kaiming-uniform(a=√5), `B_i ∈ R^{(d_out/r1)×r2}` zero,
stabilising scale `λ = α/√(r·r2)`; defaults r1=2, r2=8, r=4, α=16. Parameters per layer
`r·(r1·d_in/r2 + r2·d_out/r1)`; rank(ΔW) ≤ r·min(d_out/r1, r2)·min(r1, d_in/r2) (≤ r·r1·r2).
Mergeable (`W += ΔW`), so inference latency is the base model's. With r=1 it is KronA with A_KronA = B_1,
B_KronA = A_1 and s = λ. :func:`cdka_configs` is the parameter-budget helper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kronbench.config import MethodConfig
from kronbench.inject import linear_dims, match_modules, replace_modules
from kronbench.methods.base import MergeableLayer, Method
from kronbench.methods.kron import divisor_pairs, kron_matvec, kron_sum_weight
from kronbench.registry import register_method


@dataclass
class CDKAConfig(MethodConfig):
    """CDKA — best available reading, unverified (paper body unavailable; see kronbench/methods/cdka.py)."""

    name: str = "cdka"
    r1: int = 2  # rows of each A_i (B_i has d_out/r1 rows); must divide d_out
    r2: int = 8  # columns of each B_i (A_i has d_in/r2 columns); must divide d_in
    r: int = 4  # number of Kronecker components summed
    alpha: float = 16.0  # λ = alpha / sqrt(r·r2), the stabilising scale
    dropout: float = 0.0  # dropout on the adapter's input

    def __post_init__(self) -> None:
        for what in ("r1", "r2", "r"):
            if getattr(self, what) < 1:
                raise ValueError(f"method.{what}={getattr(self, what)} must be >= 1")

    @property
    def scale(self) -> float:
        return self.alpha / math.sqrt(self.r * self.r2)

    def tag(self) -> str:
        return f"ra{self.r1}_rb{self.r2}_r{self.r}_a{self.alpha:g}"


def cdka_params(d_out: int, d_in: int, r1: int, r2: int, r: int) -> int:
    return r * (r1 * (d_in // r2) + r2 * (d_out // r1))


def cdka_max_rank(d_out: int, d_in: int, r1: int, r2: int, r: int) -> int:
    """Upper bound on rank(ΔW): r components of rank ≤ rank(B_i)·rank(A_i), capped by the matrix size."""
    per = min(d_out // r1, r2) * min(r1, d_in // r2)
    return min(d_out, d_in, r * per)


def cdka_configs(d_out: int, d_in: int, budget: int, max_r: int = 64) -> list[dict[str, int]]:
    """Valid (r1, r2, r) for a `d_out×d_in` layer within `budget` parameters per layer.

    Each entry: `r1, r2, r, params, max_rank`; sorted by max rank (desc), then parameters (asc).
    """
    if budget < 1:
        raise ValueError(f"budget={budget} must be >= 1")
    out = []
    for r1 in divisor_pairs(d_out):
        for r2 in divisor_pairs(d_in):
            for r in range(1, max_r + 1):
                params = cdka_params(d_out, d_in, r1, r2, r)
                if params > budget:
                    break
                out.append(
                    {
                        "r1": r1,
                        "r2": r2,
                        "r": r,
                        "params": params,
                        "max_rank": cdka_max_rank(d_out, d_in, r1, r2, r),
                    }
                )
    out.sort(key=lambda c: (-c["max_rank"], c["params"], c["r"]))
    return out


class CDKALinear(MergeableLayer):
    """A frozen linear layer (nn.Linear or Conv1D) plus `λ·Σ_i (B_i ⊗ A_i)`, never building the products."""

    def __init__(self, base: nn.Module, cfg: CDKAConfig, name: str) -> None:
        super().__init__()
        d_out, d_in = linear_dims(base)
        if d_out % cfg.r1 or d_in % cfg.r2:
            raise ValueError(
                f"CDKA r1={cfg.r1}, r2={cfg.r2} do not divide layer {name!r} (d_out={d_out}, d_in={d_in}): "
                f"need r1 | {d_out} and r2 | {d_in}"
            )
        self.base = base
        self.scale = cfg.scale
        device = base.weight.device
        self.cdka_a = nn.Parameter(torch.empty(cfg.r, cfg.r1, d_in // cfg.r2, device=device))
        self.cdka_b = nn.Parameter(torch.zeros(cfg.r, d_out // cfg.r1, cfg.r2, device=device))
        with torch.no_grad():
            for i in range(cfg.r):
                nn.init.kaiming_uniform_(self.cdka_a[i], a=math.sqrt(5))
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        h = self.dropout(x) if self.dropout is not None else x
        # the r products summed in two GEMMs, added onto the frozen layer's output by the last one
        return kron_matvec(self.cdka_b, self.cdka_a, h, base=y, scale=self.scale)

    def delta_weight(self) -> torch.Tensor:
        return kron_sum_weight(self.cdka_b, self.cdka_a, self.scale)


@register_method("cdka", CDKAConfig)
class CDKA(Method):
    """CDKA on the model family's attention targets (query/value); best available reading, unverified."""

    mergeable = True

    def attach(self, model: nn.Module) -> list[str]:
        cfg: CDKAConfig = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        replace_modules(model, names, lambda name, base: CDKALinear(base, cfg, name))
        return names
