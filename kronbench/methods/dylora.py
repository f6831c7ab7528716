"""DyLoRA (Valipour et al., 2023): LoRA trained for every rank up to r at once by random rank truncation.

Each training forward draws `b ~ U{r_min..r}` (one draw per layer per pass) and uses `A[:b]`, `B[:, :b]` with the
scale `alpha / b`. `frozen=true` is the paper's Algorithm 1 ("we only update the b-th row/column"): the first
`b-1` components are detached. Evaluation (and merging) use `eval_rank` (default r); a trained model can be searched
over ranks by changing `eval_rank` without retraining. Init as LoRA: A Kaiming-uniform, B zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kronbench.config import MethodConfig
from kronbench.inject import linear_dims, match_modules, replace_modules
from kronbench.methods.base import MergeableLayer, Method
from kronbench.registry import register_method


@dataclass
class DyLoraConfig(MethodConfig):
    name: str = "dylora"
    r: int = 8  # maximum rank
    r_min: int = 1  # smallest rank drawn in training
    alpha: float = 8.0  # scale alpha / b at rank b
    eval_rank: int | None = None  # rank used in evaluation and merging; None = r
    frozen: bool = True  # only the b-th component trains in a step (paper Algorithm 1)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.r_min <= self.r:
            raise ValueError(f"method.r_min={self.r_min} must be in [1, method.r={self.r}]")
        if self.eval_rank is not None and not 1 <= self.eval_rank <= self.r:
            raise ValueError(f"method.eval_rank={self.eval_rank} must be in [1, method.r={self.r}]")

    def tag(self) -> str:
        return f"r{self.r_min}-{self.r}_a{self.alpha:g}" + ("_frozen" if self.frozen else "")


class DyLoraLinear(MergeableLayer):
    """A frozen nn.Linear/Conv1D plus `(alpha/b)·B[:, :b] A[:b] x` with a random rank b in training."""

    def __init__(self, base: nn.Module, cfg: DyLoraConfig) -> None:
        super().__init__()
        d_out, d_in = linear_dims(base)
        self.base, self.cfg = base, cfg
        device = base.weight.device
        self.lora_a = nn.Parameter(torch.empty(cfg.r, d_in, device=device))
        self.lora_b = nn.Parameter(torch.zeros(d_out, cfg.r, device=device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.eval_rank = cfg.eval_rank or cfg.r
        self.last_rank: int | None = None
        self.merged = False

    def draw_rank(self) -> int:
        return int(torch.randint(self.cfg.r_min, self.cfg.r + 1, (1,)).item())

    def factors(self, b: int, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        a, bb = self.lora_a[:b], self.lora_b[:, :b]
        if train and self.cfg.frozen and b > 1:
            a = torch.cat([a[: b - 1].detach(), a[b - 1 :]], 0)
            bb = torch.cat([bb[:, : b - 1].detach(), bb[:, b - 1 :]], 1)
        return a, bb

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        b = self.draw_rank() if self.training else self.eval_rank
        self.last_rank = b
        a, bb = self.factors(b, self.training)
        delta = (self.dropout(x) @ a.t().to(x.dtype)) @ bb.t().to(x.dtype)
        return y + (self.cfg.alpha / b) * delta.to(y.dtype)

    def delta_weight(self) -> torch.Tensor:
        b = self.eval_rank
        return (self.cfg.alpha / b) * self.lora_b[:, :b] @ self.lora_a[:b]


@register_method("dylora", DyLoraConfig)
class DyLora(Method):
    """DyLoRA on the family's attention targets (query/value); mergeable at `eval_rank`."""

    mergeable = True

    def attach(self, model: nn.Module) -> list[str]:
        cfg: DyLoraConfig = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        replace_modules(model, names, lambda name, base: DyLoraLinear(base, cfg))
        return names
