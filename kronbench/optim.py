"""Optimizer and learning-rate schedule of a run, for every training protocol (`train.protocol`).

Warmup, weight decay and schedule take effect with every optimizer:
- AdamW or Adafactor with an explicit `train.lr` (the authors' released MAdaKron code: HF Trainer, AdamW, or
  `Adafactor(lr, scale_parameter=False, relative_step=False)` with `--adafactor`), then warmup and linear decay.
- Adafactor in relative-step mode (`train.adafactor_relative_step`; the MAdaKron paper's text, "does not require
  setting an initial learning rate"): Adafactor's own step size `min(1e-2, 1/sqrt(t)) · max(1e-3, RMS(param))` times
  the same warmup/decay schedule (peak factor 1), and Adafactor's decoupled weight decay. `train.lr` is not used.
Weight decay spares biases and LayerNorm weights, as the HF Trainer both papers' code bases use does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup
from transformers.optimization import Adafactor

from kronbench.config import TrainConfig


class ScheduledAdafactor(Adafactor):
    """Relative-step Adafactor whose step size is scaled by `param_group["lr"]`, the schedule's factor (peak 1).

    Plain relative-step Adafactor ignores `lr` and so any scheduler: the Tables' warmup would be silently dropped.
    `warmup_init` stays off: the warmup comes from the schedule, once.
    """

    def __init__(self, params: list[dict]) -> None:
        super().__init__(params, lr=None, relative_step=True, scale_parameter=True, warmup_init=False)
        for group in self.param_groups:
            group["lr"] = 1.0

    @staticmethod
    def _get_lr(param_group: dict, param_state: dict) -> float:
        return Adafactor._get_lr(param_group, param_state) * param_group["lr"]


def is_no_decay(module: nn.Module, param_name: str) -> bool:
    """Biases and LayerNorm (RMSNorm, T5LayerNorm) weights take no weight decay."""
    return param_name == "bias" or "norm" in type(module).__name__.lower()


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The trainable parameters in two groups: with weight decay, and without (biases, norms)."""
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:  # shared parameters (Compacter rules) once
                continue
            seen.add(id(param))
            (no_decay if is_no_decay(module, name) else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    """`train.warmup_steps`, else `train.warmup_ratio` of the run's optimizer steps."""
    return cfg.warmup_steps or int(cfg.warmup_ratio * total_steps)


def build_optimizer(
    model: nn.Module, cfg: TrainConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """The optimizer over the model's trainable parameters and its warmup/decay schedule (stepped per update)."""
    groups = parameter_groups(model, cfg.weight_decay)
    if not groups:
        raise ValueError("no trainable parameter to optimise")
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "adafactor" and cfg.adafactor_relative_step:
        optimizer = ScheduledAdafactor(groups)
    elif cfg.optimizer == "adafactor":
        optimizer = Adafactor(groups, lr=cfg.lr, relative_step=False, scale_parameter=False)
    else:
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    warmup = warmup_steps(cfg, total_steps)
    if cfg.scheduler == "constant":
        return optimizer, get_constant_schedule_with_warmup(optimizer, warmup)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
