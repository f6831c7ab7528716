"""Compacter and Compacter++ (Karimi Mahabadi et al., 2021): bottleneck adapters whose projections are PHM layers.

A PHM layer's weight is `W = Σ_{i=1..n} A_i ⊗ B_i` (`A_i ∈ R^{n×n}`, `B_i ∈ R^{(d_out/n)×(d_in/n)}`). The `A_i`
("shared rules") are **one tensor shared by every PHM layer of the model**; each `B_i = s_i t_i^T` is low rank
(`phm_rank`, 1 in the paper). The Kronecker products come from :func:`kronbench.methods.kron.kron_weight`: `W` is
tiny (`d × r`), so building it once per forward is cheaper than contracting every token twice.
Compacter = Houlsby placement (after attention and FFN); Compacter++ = FFN only. Init as the Compacter code:
`A ~ N(0, 0.01)`, `s, t` Glorot-uniform, biases zero (near-identity adapters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kronbench.methods.adapters import AdapterConfig, BottleneckMethod
from kronbench.methods.kron import kron_weight
from kronbench.methods.mixture import BottleneckAdapter
from kronbench.registry import register_method


class PHMLinear(nn.Module):
    """`y = x (Σ_i A_i ⊗ s_i t_i^T)^T + b` with `A` (n, n, n) shared between layers and rank-`k` factors s, t."""

    def __init__(self, d_in: int, d_out: int, rules: nn.Parameter, rank: int = 1, bias: bool = True) -> None:
        super().__init__()
        n = rules.shape[0]
        if d_in % n or d_out % n:
            raise ValueError(
                f"PHM layer {d_in}->{d_out}: n={n} must divide both sizes (set method.r to a multiple)"
            )
        self.n, self.d_in, self.d_out = n, d_in, d_out
        self.rules = rules  # the shared A_i: the same Parameter object in every PHM layer
        self.s = nn.Parameter(torch.empty(n, d_out // n, rank))
        self.t = nn.Parameter(torch.empty(n, rank, d_in // n))
        for i in range(n):
            nn.init.xavier_uniform_(self.s.data[i])
            nn.init.xavier_uniform_(self.t.data[i])
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None

    def weight(self) -> torch.Tensor:
        b = self.s @ self.t  # (n, d_out/n, d_in/n)
        return sum(kron_weight(self.rules[i], b[i]) for i in range(self.n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, n={self.n}, rank={self.s.shape[-1]}"


@dataclass
class CompacterConfig(AdapterConfig):
    name: str = "compacter"
    r: int = 24  # bottleneck (MAdaKron App. A.3: "the best one in the original work, i.e. 24")
    activation: str = "gelu_new"
    placement: str = "both"  # Compacter: after attention and FFN
    n: int = 4  # number of Kronecker summands and size of each A_i
    phm_rank: int = 1  # rank of each B_i
    share_rules: bool = True  # one set of A_i for the whole model (the paper); False: one per layer
    rules_std: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1 or (self.reduction_factor is None and self.r % self.n) or self.phm_rank < 1:
            raise ValueError(
                f"method.n={self.n} must divide method.r={self.r}; method.phm_rank={self.phm_rank} must be >= 1"
            )

    def tag(self) -> str:
        size = f"r{self.r}" if self.reduction_factor is None else f"rf{self.reduction_factor}"
        return f"{size}_n{self.n}_k{self.phm_rank}"


@dataclass
class CompacterPPConfig(CompacterConfig):
    name: str = "compacter_pp"
    placement: str = "ffn"  # Compacter++: after the FFN only


@register_method("compacter", CompacterConfig)
class Compacter(BottleneckMethod):
    """Compacter: PHM bottleneck adapters after attention and FFN, A_i shared across all layers."""

    rules: nn.Parameter | None = None

    def new_rules(self) -> nn.Parameter:
        cfg: CompacterConfig = self.config
        return nn.Parameter(torch.randn(cfg.n, cfg.n, cfg.n) * cfg.rules_std)

    def build(self, d_in: int, d_out: int, kind: str, site_name: str) -> nn.Module:
        cfg: CompacterConfig = self.config
        if self.rules is None or not cfg.share_rules:
            self.rules = self.new_rules()
        r = cfg.size(d_in)
        down = PHMLinear(d_in, r, self.rules, cfg.phm_rank)
        up = PHMLinear(r, d_out, self.rules, cfg.phm_rank)
        return BottleneckAdapter(
            d_in,
            r,
            d_out,
            activation=cfg.activation,
            residual=cfg.mode == "sequential",
            scale=cfg.scale,
            dropout=cfg.dropout,
            down=down,
            up=up,
        )

    def attach(self, model: nn.Module) -> list[str]:
        self.rules = None
        return super().attach(model)


@register_method("compacter_pp", CompacterPPConfig)
class CompacterPP(Compacter):
    """Compacter++: PHM bottleneck adapters after the FFN only."""
