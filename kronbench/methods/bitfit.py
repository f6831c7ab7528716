"""BitFit (Ben Zaken et al., 2022): train only the bias terms of the backbone (and the task head).

T5 has no bias anywhere. The KronA paper ran BitFit through the Compacter code base (App. D.2), whose T5 (its
`seq2seq/third_party/models/t5/modeling_t5.py` with `bitfit: true`) adds a zero-initialised bias to every linear
layer — q/k/v/o of self- and cross-attention, the FFN's wi/wo, the LM head — and to every T5LayerNorm (added after
the scale); `freeze_model_params` then trains every `.bias` (the LM head's bias too, its weight frozen by
`freeze_bitfit_lm_head`) and nothing else, layer-norm weights included. `add_missing_biases` (default) does the same
for any backbone that has no bias at all; backbones with biases (BERT, RoBERTa, DeBERTa, GPT-2) are left as they are.
On T5-base that is 282,496 biases: 0.127% of 222.9M (Compacter paper: 0.126; KronA Table 1: 0.12).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kronbench.config import MethodConfig
from kronbench.inject import LINEAR_TYPES, is_layer_norm, linear_dims, name_matches, set_submodule
from kronbench.methods.base import Method
from kronbench.registry import register_method


@dataclass
class BitFitConfig(MethodConfig):
    name: str = "bitfit"
    # a backbone without any bias (T5) gets zero biases where the Compacter code base adds them (module doc);
    # False: such a backbone is an error, as BitFit has nothing to train
    add_missing_biases: bool = True


class NormBias(nn.Module):
    """`norm(x) + bias`: the bias the Compacter code base adds to T5's bias-free layer norms for BitFit."""

    def __init__(self, norm: nn.Module, size: int) -> None:
        super().__init__()
        self.base = norm
        weight = norm.weight
        self.bias = nn.Parameter(torch.zeros(size, device=weight.device, dtype=weight.dtype))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        out = self.base(hidden_states)
        return out + self.bias.to(out.dtype)


def add_missing_biases(model: nn.Module) -> list[str]:
    """Zero biases on every linear layer and layer norm that has none (the head's too); returns their names."""
    added = []
    for name, module in list(model.named_modules()):
        if isinstance(module, LINEAR_TYPES) and module.bias is None:
            weight = module.weight
            module.bias = nn.Parameter(
                torch.zeros(linear_dims(module)[0], device=weight.device, dtype=weight.dtype)
            )
            added.append(f"{name}.bias")
        elif is_layer_norm(module) and getattr(module, "bias", None) is None:
            set_submodule(model, name, NormBias(module, module.weight.shape[-1]))
            added.append(f"{name}.bias")
    return added


def backbone_has_biases(model: nn.Module, head_modules: list[str]) -> bool:
    """Whether any bias parameter lies outside the task head (T5 with a classification head: only the head's)."""
    head = {
        id(p) for n, m in model.named_modules() if n and name_matches(n, head_modules) for p in m.parameters()
    }
    return any(n.endswith("bias") and id(p) not in head for n, p in model.named_parameters())


@register_method("bitfit", BitFitConfig)
class BitFit(Method):
    def attach(self, model: nn.Module) -> list[str]:
        cfg: BitFitConfig = self.config
        if cfg.add_missing_biases and not backbone_has_biases(model, self.model_cfg.head_modules):
            add_missing_biases(model)
        names = []
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.requires_grad_(True)
                names.append(name)
        if not names:
            raise ValueError(
                f"{type(model).__name__} has no bias parameters: BitFit has nothing to train "
                "(method.add_missing_biases=true adds them as the Compacter code base does for T5)"
            )
        return names
