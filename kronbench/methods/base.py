"""The interface every method implements, and the base of layers that can merge into their frozen weight."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from kronbench.config import MethodConfig, ModelConfig
from kronbench.inject import (
    AttachReport,
    add_to_weight,
    count_parameters,
    freeze_all,
    layer_norm_parameters,
    unfreeze_head,
)
from kronbench.methods.mixture import expert_layers


class MergeableLayer(nn.Module):
    """A wrapper around a frozen linear layer `self.base` whose update `delta_weight()` (in `(d_out, d_in)`
    layout) can be folded into the layer's weight and taken out again. Subclasses return `base(x)` alone while
    `merged` is set."""

    base: nn.Module
    merged: bool = False

    def delta_weight(self) -> torch.Tensor:  # (d_out, d_in)
        raise NotImplementedError

    def merge(self) -> None:
        add_to_weight(self.base, self.delta_weight())
        self.merged = True

    def unmerge(self) -> None:
        add_to_weight(self.base, -self.delta_weight())
        self.merged = False


class Method:
    """A fine-tuning method: attaches to a model, says what trains, and (if it can) merges for inference.

    Subclasses implement :meth:`attach`. Flags read by the trainer:
    `mergeable` (merged evaluation), `two_pass` (two forward passes + consistency loss per batch).
    """

    mergeable: ClassVar[bool] = False
    freezes_backbone: ClassVar[bool] = True

    def __init__(self, config: MethodConfig, model_cfg: ModelConfig) -> None:
        self.config = config
        self.model_cfg = model_cfg

    # --- attaching ------------------------------------------------------------------------------------------
    def target_patterns(self, default: list[str] | None = None) -> list[str]:
        """The method's `target_modules`, or the model family's defaults for attention-weight methods."""
        if self.config.target_modules is not None:
            return list(self.config.target_modules)
        return list(default if default is not None else self.model_cfg.attention_targets)

    def attach(self, model: nn.Module) -> list[str]:
        """Insert the method's modules; return the names of the modules it attached to."""
        raise NotImplementedError

    def apply(self, model: nn.Module) -> AttachReport:
        """Freeze the backbone, attach, keep the head (and, with `train_layer_norms`, the backbone's layer norms)
        trainable, and report what trains."""
        backbone = sum(p.numel() for p in model.parameters())
        # the backbone's norms, collected before the method adds modules of its own
        norms = layer_norm_parameters(model) if self.config.train_layer_norms else []
        if self.freezes_backbone:
            freeze_all(model)
        targets = self.attach(model)
        if self.config.train_head:
            unfreeze_head(model, self.model_cfg.head_modules)
        for p in norms:
            p.requires_grad_(True)
        report = count_parameters(model, self.model_cfg.head_modules, targets)
        report.layer_norm_params = sum(p.numel() for p in norms)
        report.backbone = backbone
        # mixtures (MAdaKron, AdaMix) train n experts but deploy one averaged layer: count both
        trained_expert_params = sum(
            p.numel() for m in expert_layers(model) for p in m.parameters() if p.requires_grad
        )
        deployed_expert_params = sum(m.inference_numel() for m in expert_layers(model))
        report.inference_trainable = report.trainable - trained_expert_params + deployed_expert_params
        return report

    # --- training hooks -------------------------------------------------------------------------------------
    @property
    def two_pass(self) -> bool:
        """True when each batch goes through the model twice with a consistency loss (MAdaKron, AdaMix)."""
        return False

    @property
    def consistency_weight(self) -> float | None:
        """Weight of the two-pass consistency term; None = the protocol default (kronbench.consistency)."""
        return 0.0

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        """Auxiliary loss added after each forward pass (e.g. MoE load balancing); None when there is none."""
        return None

    def on_train_begin(self, model: nn.Module, total_steps: int) -> None:
        """Called once before training with the number of optimizer steps (AdaLoRA's budget schedule needs it)."""

    def on_optimizer_step(self, model: nn.Module, global_step: int) -> None:
        """Called after each optimizer step, before gradients are cleared (e.g. AdaLoRA's rank allocation)."""

    def state_dict(self) -> dict[str, Any]:
        """Training state outside the model's parameters that a resumed run needs (e.g. AdaLoRA's importance
        scores); saved and loaded with the run's resumable state (kronbench/checkpointing.py)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    # --- merging --------------------------------------------------------------------------------------------
    @staticmethod
    def mergeable_layers(model: nn.Module) -> list[nn.Module]:
        return [m for m in model.modules() if isinstance(m, (MergeableLayer, BaseTunerLayer))]

    def merge(self, model: nn.Module) -> None:
        if not self.mergeable:
            raise ValueError(f"method {self.config.name!r} cannot be merged into the base weights")
        for layer in self.mergeable_layers(model):
            if not layer.merged:
                layer.merge()

    def merge_and_unload(self, model: nn.Module) -> nn.Module:
        """Merge, then replace every wrapper by its (merged) base layer: the deployable model, with exactly the
        base architecture, so inference costs what the base model costs (no wrapper call per layer)."""
        from kronbench.inject import set_submodule

        self.merge(model)
        wrappers = [
            (name, module)
            for name, module in model.named_modules()
            if name and isinstance(module, (MergeableLayer, BaseTunerLayer))
        ]
        for name, module in wrappers:
            base = module.get_base_layer() if isinstance(module, BaseTunerLayer) else module.base
            set_submodule(model, name, base)
        return model

    def unmerge(self, model: nn.Module) -> None:
        for layer in self.mergeable_layers(model):
            if layer.merged:
                layer.unmerge()
