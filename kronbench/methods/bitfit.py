"""BitFit (Ben Zaken et al., 2022): train only the bias terms of the backbone (and the task head)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from kronbench.config import MethodConfig
from kronbench.methods.base import Method
from kronbench.registry import register_method


@dataclass
class BitFitConfig(MethodConfig):
    name: str = "bitfit"


@register_method("bitfit", BitFitConfig)
class BitFit(Method):
    def attach(self, model: nn.Module) -> list[str]:
        names = []
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.requires_grad_(True)
                names.append(name)
        if not names:
            raise ValueError(f"{type(model).__name__} has no bias parameters: BitFit has nothing to train")
        return names
