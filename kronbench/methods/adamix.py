"""AdaMix (Wang et al., 2022): a mixture of adaptation modules with stochastic routing, consistency and merging.

Each adapter is a :class:`~kronbench.methods.mixture.BottleneckAdapter` whose down projection (and, unless shared,
up projection) is an :class:`~kronbench.methods.mixture.ExpertLinear` of `n_experts` experts: one expert drawn per
forward pass for the whole batch, two passes per batch with the trainer's symmetric-KL consistency loss, experts'
weights averaged at evaluation — the machinery MAdaKron uses. Up projections shared across experts as in the AdaMix
code's GLUE commands (`--sharing_up 1`); Pfeiffer placement (FFN) so the deployed size equals a Pfeiffer adapter's
(BERT-base r=48: 0.9M, MAdaKron Table B.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from kronbench.consistency import consistency_tag
from kronbench.methods.adapters import AdapterConfig, BottleneckMethod
from kronbench.methods.mixture import BottleneckAdapter, ExpertLinear, init_linear_
from kronbench.registry import register_method


@dataclass
class AdaMixConfig(AdapterConfig):
    name: str = "adamix"
    n_experts: int = 4  # AdaMix paper: 4 adaptation modules
    share_up: bool = True  # one up projection for all experts (AdaMix code's GLUE setting)
    share_down: bool = False
    # weight of KL(p1‖p2)+KL(p2‖p1); None = the protocol default, stop-gradient as MAdaKron's released code (which
    # follows AdaMix's): kronbench.consistency
    consistency_weight: float | None = None
    consistency_stop_gradient: bool = True
    merge_eval: bool = True  # average the experts' weights at evaluation (False: a random expert)
    init: str = "zero_up"  # down: nn.Linear default, up zero: the model starts at the pretrained one

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_experts < 1 or (self.consistency_weight is not None and self.consistency_weight < 0):
            raise ValueError(
                f"method.n_experts={self.n_experts} must be >= 1, consistency_weight={self.consistency_weight} >= 0"
            )
        if self.share_up and self.share_down:
            raise ValueError("method.share_up and method.share_down cannot both be true (no experts left)")

    def tag(self) -> str:
        share = "up" if self.share_up else ("down" if self.share_down else "none")
        cw = consistency_tag(self.consistency_weight, self.consistency_stop_gradient)
        return f"{super().tag()}_e{self.n_experts}_share{share}_{cw}"


@register_method("adamix", AdaMixConfig)
class AdaMix(BottleneckMethod):
    """Mixture-of-adapters at the FFN output; two-pass consistency training; expert averaging at evaluation."""

    def _layer(self, d_in: int, d_out: int, shared: bool, init: str) -> nn.Module:
        cfg: AdaMixConfig = self.config
        if shared:
            layer = nn.Linear(d_in, d_out)
            init_linear_(layer.weight, layer.bias, init)
            return layer
        return ExpertLinear(d_in, d_out, cfg.n_experts, merge_eval=cfg.merge_eval, eval_top_k=1, init=init)

    def build(self, d_in: int, d_out: int, kind: str, site_name: str) -> nn.Module:
        cfg: AdaMixConfig = self.config
        up_init = {"zero_up": "zeros", "normal": "normal", "linear": "linear"}[cfg.init]
        down_init = "normal" if cfg.init == "normal" else "linear"
        return BottleneckAdapter(
            d_in,
            cfg.r,
            d_out,
            activation=cfg.activation,
            residual=cfg.mode == "sequential",
            scale=cfg.scale,
            dropout=cfg.dropout,
            down=self._layer(d_in, cfg.r, cfg.share_down, down_init),
            up=self._layer(cfg.r, d_out, cfg.share_up, up_init),
        )

    @property
    def two_pass(self) -> bool:
        return self.config.consistency_weight is None or self.config.consistency_weight > 0

    @property
    def consistency_weight(self) -> float | None:
        return self.config.consistency_weight
