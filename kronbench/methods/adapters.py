"""Bottleneck adapters: Houlsby (after attention and FFN), Pfeiffer (after FFN), Parallel Adapter (beside the FFN).

All three are :class:`~kronbench.methods.mixture.BottleneckAdapter` blocks attached at the model family's sites
(`conf/model/family/*.yaml`) by :mod:`kronbench.methods.sites` — the same machinery AdaKron uses.

- **Houlsby** (Houlsby et al., 2019): sequential `h + up(act(down(h)))` at the attention and FFN outputs (before
  dropout/residual/LayerNorm). Defaults as the Adapters library's `DoubleSeqBnConfig` (the MAdaKron paper reproduced
  baselines with it): swish, `bert` init (N(0, 0.02), zero biases).
- **Pfeiffer** (Pfeiffer et al., 2021): the same block at the FFN output only (Adapters' `SeqBnConfig`: relu).
- **Parallel Adapter** (He et al., 2022): `FFN(x) + 4·up(relu(down(x)))` reading the FFN block's input, LoRA-style
  init (down Kaiming-uniform, up zero, so training starts at the pretrained model).

Sizes: the MAdaKron paper uses its own adapter size (BERT r=48, RoBERTa/DeBERTa 16, GPT-2 8; App. A.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from kronbench.config import MethodConfig
from kronbench.methods.base import Method
from kronbench.methods.mixture import ACTIVATIONS, ADAPTER_INITS, BottleneckAdapter
from kronbench.methods.sites import (
    attach_parallel,
    attach_sequential,
    placement_kinds,
    resolve_sites,
    site_dims,
)
from kronbench.registry import register_method

MODES = ("sequential", "parallel")


@dataclass
class AdapterConfig(MethodConfig):
    """Fields shared by the bottleneck adapters; each method's defaults follow its paper."""

    name: str = "pfeiffer"
    r: int = 48  # bottleneck size (used when reduction_factor is None)
    # bottleneck = the adapter's input width // reduction_factor (Compacter code's "task reduction factor"; KronA
    # Tables 12-13: 32, i.e. 24 on T5-base); None: `r`
    reduction_factor: int | None = None
    activation: str = "relu"
    placement: str = "ffn"  # "ffn", "attention" or "both"
    mode: str = (
        "sequential"  # "sequential" (h + adapter(h) at the block output) or "parallel" (beside the block)
    )
    scale: float = 1.0  # multiplies the adapter's update
    init: str = (
        "normal"  # BottleneckAdapter init: "normal" (N(0, init_std)), "zero_up" (LoRA-style), "linear"
    )
    init_std: float = 0.02
    dropout: float = 0.0  # on the adapter input

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"method.r={self.r} must be >= 1")
        if self.reduction_factor is not None and self.reduction_factor < 1:
            raise ValueError(f"method.reduction_factor={self.reduction_factor} must be >= 1 or null")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"method.activation={self.activation!r} is not valid; choose one of {list(ACTIVATIONS)}"
            )
        placement_kinds(self.placement)  # raises on a bad value
        if self.mode not in MODES:
            raise ValueError(f"method.mode={self.mode!r} is not valid; choose one of {list(MODES)}")
        if self.init not in ADAPTER_INITS:
            raise ValueError(f"method.init={self.init!r} is not valid; choose one of {list(ADAPTER_INITS)}")

    def size(self, d_in: int) -> int:
        """The bottleneck size for an adapter reading `d_in` features."""
        if self.reduction_factor is None:
            return self.r
        if d_in < self.reduction_factor:
            raise ValueError(
                f"method.reduction_factor={self.reduction_factor} exceeds the adapter width {d_in}"
            )
        return d_in // self.reduction_factor

    def tag(self) -> str:
        size = f"r{self.r}" if self.reduction_factor is None else f"rf{self.reduction_factor}"
        tag = f"{size}_{self.activation}"
        if self.scale != 1.0:
            tag += f"_s{self.scale:g}"
        return tag


@dataclass
class HoulsbyConfig(AdapterConfig):
    name: str = "houlsby"
    activation: str = "swish"
    placement: str = "both"


@dataclass
class PfeifferConfig(AdapterConfig):
    name: str = "pfeiffer"


@dataclass
class ParallelAdapterConfig(AdapterConfig):
    name: str = "parallel_adapter"
    mode: str = "parallel"
    scale: float = 4.0  # He et al. (2022): s = 4
    init: str = "zero_up"


class BottleneckMethod(Method):
    """Attach one adapter (built by :meth:`build`) at every site of the configured placement and mode."""

    def build(self, d_in: int, d_out: int, kind: str, site_name: str) -> nn.Module:
        cfg: AdapterConfig = self.config
        return BottleneckAdapter(
            d_in,
            cfg.size(d_in),
            d_out,
            activation=cfg.activation,
            residual=cfg.mode == "sequential",
            scale=cfg.scale,
            dropout=cfg.dropout,
            init=cfg.init,
            init_std=cfg.init_std,
        )

    def attach(self, model: nn.Module) -> list[str]:
        cfg: AdapterConfig = self.config
        names = []
        for kind, site in resolve_sites(model, self.model_cfg, placement_kinds(cfg.placement)):
            d_in, d_out = site_dims(model, site)
            if cfg.mode == "sequential":
                attach_sequential(model, site, self.build(d_out, d_out, kind, site.block))
                names.append(site.output)
            else:
                attach_parallel(model, site, self.build(d_in, d_out, kind, site.block))
                names.append(site.block)
        return names


@register_method("houlsby", HoulsbyConfig)
class Houlsby(BottleneckMethod):
    """Houlsby adapters after the attention and the FFN block of every layer."""


@register_method("pfeiffer", PfeifferConfig)
class Pfeiffer(BottleneckMethod):
    """Pfeiffer adapters after the FFN block of every layer."""


@register_method("parallel_adapter", ParallelAdapterConfig)
class ParallelAdapter(BottleneckMethod):
    """Parallel Adapter beside the FFN block of every layer (scale 4, LoRA-style init)."""
