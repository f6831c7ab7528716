"""Full fine-tuning: every parameter trains (the reference row of every table)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from kronbench.config import MethodConfig
from kronbench.methods.base import Method
from kronbench.registry import register_method


@dataclass
class FullConfig(MethodConfig):
    name: str = "full"


@register_method("full", FullConfig)
class FullFineTuning(Method):
    freezes_backbone = False

    def attach(self, model: nn.Module) -> list[str]:
        for p in model.parameters():
            p.requires_grad_(True)
        return []
