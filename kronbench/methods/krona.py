"""KronA (Edalati et al., 2022): a Kronecker-product update parallel to chosen weight matrices.

`y = W x + s·(A ⊗ B) x`, `A ∈ R^{a1×a2}` (its shape is the config value), `B ∈ R^{(d_out/a1)×(d_in/a2)}`.
Init `ku_zero` (paper App. B.1, the default): A Kaiming-uniform(a=√5), B zero, so training starts at the
pretrained model; `normal` (the Table 4 ablation): both `N(0, 1/√d_h)`. Mergeable: `W += s·kron(A, B)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from kronbench.config import MethodConfig
from kronbench.inject import linear_dims, match_modules, replace_modules
from kronbench.methods.base import MergeableLayer, Method
from kronbench.methods.kron import check_factor_shape, kron_matvec, kron_sum_weight
from kronbench.registry import register_method

KRONA_INITS = ("ku_zero", "normal")


@dataclass
class KronAConfig(MethodConfig):
    name: str = "krona"
    factor_shape: list[int] = field(default_factory=lambda: [32, 24])  # shape of A (a1, a2); B is derived
    scale: float = 1.0  # s; the KronA paper fixes s = 1 (App. D.3)
    init: str = "ku_zero"  # "ku_zero" (A Kaiming-uniform, B zero) or "normal"
    dropout: float = 0.0  # dropout on the adapter's input

    def __post_init__(self) -> None:
        if len(self.factor_shape) != 2 or min(self.factor_shape) < 1:
            raise ValueError(
                f"method.factor_shape={list(self.factor_shape)} must be two positive ints (a1, a2)"
            )
        if self.init not in KRONA_INITS:
            raise ValueError(f"method.init={self.init!r} is not valid; choose one of {list(KRONA_INITS)}")

    def tag(self) -> str:
        a1, a2 = self.factor_shape
        return f"A{a1}x{a2}_s{self.scale:g}_{self.init}"


def init_kron_factors(a: torch.Tensor, b: torch.Tensor, init: str, d_hidden: int) -> None:
    """Initialise factors in place: `ku_zero` (A ~ KU(a=√5), B = 0) or `normal` (both N(0, 1/√d_h))."""
    with torch.no_grad():
        if init == "ku_zero":
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            b.zero_()
        else:
            std = 1.0 / math.sqrt(d_hidden)
            a.normal_(0.0, std)
            b.normal_(0.0, std)


class KronALinear(MergeableLayer):
    """A frozen linear layer (nn.Linear or GPT-2 Conv1D) plus `s·(A ⊗ B)`, computed without building `A ⊗ B`."""

    def __init__(
        self, base: nn.Module, a_shape: tuple[int, int], scale: float, init: str, dropout: float, name: str
    ):
        super().__init__()
        d_out, d_in = linear_dims(base)
        b_shape = check_factor_shape(a_shape, d_out, d_in, name)
        self.base = base
        self.scale = scale
        weight = base.weight
        self.kron_a = nn.Parameter(torch.empty(*a_shape, device=weight.device, dtype=torch.float32))
        self.kron_b = nn.Parameter(torch.empty(*b_shape, device=weight.device, dtype=torch.float32))
        init_kron_factors(self.kron_a, self.kron_b, init, d_in)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        if self.dropout is not None:
            x = self.dropout(x)
        # the update is added by the last GEMM (addmm onto the frozen output: no separate add kernel)
        return kron_matvec(self.kron_a, self.kron_b, x, base=y, scale=self.scale)

    def delta_weight(self) -> torch.Tensor:
        return kron_sum_weight(self.kron_a, self.kron_b, self.scale)


@register_method("krona", KronAConfig)
class KronA(Method):
    mergeable = True

    def attach(self, model: nn.Module) -> list[str]:
        cfg: KronAConfig = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        a_shape = (cfg.factor_shape[0], cfg.factor_shape[1])
        replace_modules(
            model,
            names,
            lambda name, base: KronALinear(base, a_shape, cfg.scale, cfg.init, cfg.dropout, name),
        )
        return names
