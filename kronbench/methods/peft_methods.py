"""Baselines backed by HF PEFT — the implementations users know. kronbench only resolves the targets.

PEFT's layers are injected in place (`peft.inject_adapter_in_model`), so the backbone stays the plain
transformers model and the trainer, evaluation and merging treat every method alike. Targets are resolved by
:func:`kronbench.inject.match_modules` and handed to PEFT as exact module names.
"""

from __future__ import annotations

from dataclasses import dataclass

from peft import LoraConfig, PeftConfig, inject_adapter_in_model
from torch import nn

from kronbench.config import MethodConfig
from kronbench.inject import match_modules
from kronbench.methods.base import Method
from kronbench.registry import register_method


class PeftMethod(Method):
    """Base for PEFT-backed methods: subclasses build the `PeftConfig` for the resolved target names."""

    def peft_config(self, target_names: list[str]) -> PeftConfig:
        raise NotImplementedError

    def attach(self, model: nn.Module) -> list[str]:
        cfg = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        inject_adapter_in_model(self.peft_config(names), model, adapter_name="default")
        return names


@dataclass
class LoraMethodConfig(MethodConfig):
    name: str = "lora"
    r: int = 8
    alpha: float = 8.0  # scale = alpha / r (the LoRA paper's GLUE runs use alpha = r, i.e. scale 1)
    dropout: float = 0.0
    use_dora: bool = False

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"method.r={self.r} must be >= 1")

    def tag(self) -> str:
        return f"r{self.r}_a{self.alpha:g}"


@register_method("lora", LoraMethodConfig)
class Lora(PeftMethod):
    mergeable = True

    def peft_config(self, target_names: list[str]) -> PeftConfig:
        cfg: LoraMethodConfig = self.config
        return LoraConfig(
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=target_names,
            use_dora=cfg.use_dora,
        )
