"""Baselines backed by HF PEFT — the implementations users know. kronbench only resolves the targets.

PEFT's layers are injected in place (`peft.inject_adapter_in_model`), so the backbone stays the plain
transformers model and the trainer, evaluation and merging treat every method alike. Targets are resolved by
:func:`kronbench.inject.match_modules` and handed to PEFT as exact module names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from peft import (
    AdaLoraConfig,
    AdaLoraModel,
    IA3Config,
    LoKrConfig,
    LoraConfig,
    PeftConfig,
    VeraConfig,
    VeraModel,
    inject_adapter_in_model,
)
from torch import nn
from transformers.pytorch_utils import Conv1D

from kronbench.config import MethodConfig
from kronbench.inject import linear_dims, match_modules, name_matches
from kronbench.methods.base import Method
from kronbench.methods.kron import check_factor_shape
from kronbench.methods.krona import init_kron_factors
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


# --- the other PEFT-backed baselines ---------------------------------------------------------------------------


@dataclass
class DoraMethodConfig(LoraMethodConfig):
    """DoRA (Liu et al., 2024): LoRA's direction update plus a trained magnitude vector (PEFT `use_dora`)."""

    name: str = "dora"
    use_dora: bool = True


@register_method("dora", DoraMethodConfig)
class Dora(Lora):
    """DoRA through PEFT's LoRA layers (`use_dora=True`); mergeable like LoRA."""


@dataclass
class AdaLoraMethodConfig(MethodConfig):
    name: str = "adalora"
    init_r: int = 12  # starting rank of every SVD-style triplet (AdaLoRA paper GLUE: 12 → average budget 8)
    target_r: int = 8  # average rank after budget pruning
    alpha: float = 8.0  # PEFT lora_alpha (AdaLoRA scales by alpha / average rank)
    dropout: float = 0.0
    tinit_ratio: float = (
        0.1  # fraction of total steps before pruning starts (PEFT `tinit`, resolved at start)
    )
    tfinal_ratio: float = 0.2  # fraction of total steps with the final budget fixed (PEFT `tfinal`)
    delta_t: int = 10  # steps between budget allocations (PEFT `deltaT`)
    beta1: float = 0.85  # sensitivity EMA (paper default)
    beta2: float = 0.85  # uncertainty EMA (paper default)
    orth_reg_weight: float = 0.5  # orthogonality regulariser of P and Q (PEFT default; added via extra_loss)

    def __post_init__(self) -> None:
        if not 1 <= self.target_r <= self.init_r:
            raise ValueError(f"method.target_r={self.target_r} must be in [1, method.init_r={self.init_r}]")
        if not (
            self.tinit_ratio >= 0 and self.tfinal_ratio >= 0 and self.tinit_ratio + self.tfinal_ratio < 1
        ):
            raise ValueError(
                f"method.tinit_ratio={self.tinit_ratio}, tfinal_ratio={self.tfinal_ratio}: need >= 0, sum < 1"
            )
        if self.delta_t < 1 or self.orth_reg_weight < 0:
            raise ValueError(f"method.delta_t={self.delta_t} must be >= 1, orth_reg_weight >= 0")

    def tag(self) -> str:
        return f"r{self.init_r}to{self.target_r}_a{self.alpha:g}"


def adalora_schedule(total_steps: int, tinit_ratio: float, tfinal_ratio: float) -> tuple[int, int]:
    """`(tinit, tfinal)` in steps for a run of `total_steps`, leaving at least one budgeting step."""
    tinit, tfinal = int(tinit_ratio * total_steps), int(tfinal_ratio * total_steps)
    while tinit + tfinal >= total_steps and (tinit or tfinal):
        tinit, tfinal = (tinit - 1, tfinal) if tinit >= tfinal else (tinit, tfinal - 1)
    return tinit, tfinal


@register_method("adalora", AdaLoraMethodConfig)
class AdaLora(PeftMethod):
    """AdaLoRA (Zhang et al., 2023) through PEFT's `AdaLoraModel`.

    The tuner object is kept (not just its injected layers) because its `update_and_allocate` does the budget
    allocation; the trainer calls it through `on_optimizer_step` while gradients are still there, after
    `on_train_begin` has set the schedule from the run's real number of steps. PEFT adds the orthogonal
    regulariser in `AdaLoraModel.forward`, which the trainer does not call: `extra_loss` adds the same term.
    """

    mergeable = True

    def __init__(self, config: MethodConfig, model_cfg) -> None:
        super().__init__(config, model_cfg)
        self.tuner = None

    def peft_config(self, target_names: list[str]) -> PeftConfig:
        cfg: AdaLoraMethodConfig = self.config
        return AdaLoraConfig(
            init_r=cfg.init_r,
            target_r=cfg.target_r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=target_names,
            deltaT=cfg.delta_t,
            beta1=cfg.beta1,
            beta2=cfg.beta2,
            orth_reg_weight=cfg.orth_reg_weight,
            total_step=10**9,  # placeholder: the real schedule is set in on_train_begin
        )

    def attach(self, model: nn.Module) -> list[str]:
        cfg = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        self.tuner = AdaLoraModel(model, self.peft_config(names), "default")
        return names

    def on_train_begin(self, model: nn.Module, total_steps: int) -> None:
        cfg: AdaLoraMethodConfig = self.config
        pc = self.tuner.peft_config["default"]
        pc.total_step = total_steps
        pc.tinit, pc.tfinal = adalora_schedule(total_steps, cfg.tinit_ratio, cfg.tfinal_ratio)

    def on_optimizer_step(self, model: nn.Module, global_step: int) -> None:
        self.tuner.update_and_allocate(global_step)

    def state_dict(self) -> dict[str, Any]:
        """The rank allocator's importance scores (moving averages) and the budget's current rank pattern."""
        alloc = self.tuner.rankallocator
        return {
            "ipt": alloc.ipt,
            "exp_avg_ipt": alloc.exp_avg_ipt,
            "exp_avg_unc": alloc.exp_avg_unc,
            "rank_pattern": self.tuner.peft_config["default"].rank_pattern,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(p for p in self.tuner.model.parameters() if p.requires_grad).device
        alloc = self.tuner.rankallocator
        for key in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
            setattr(alloc, key, {name: t.to(device) for name, t in state[key].items()})
        self.tuner.peft_config["default"].rank_pattern = state["rank_pattern"]

    def extra_loss(self, model: nn.Module) -> torch.Tensor | None:
        weight = self.config.orth_reg_weight
        if weight == 0:
            return None
        terms = []
        for n, p in model.named_parameters():
            if p.requires_grad and ("lora_A.default" in n or "lora_B.default" in n):
                cov = p @ p.T if "lora_A" in n else p.T @ p
                terms.append(torch.linalg.matrix_norm(cov - torch.eye(cov.shape[0], device=cov.device)))
        return weight * torch.stack(terms).mean() if terms else None


# (IA)^3 per family: (targets, feedforward modules scaled on their input, excluded): keys, values and the input of
# the FFN's second layer (Liu et al., 2022); the attention output projection shares the FFN layer's name suffix.
IA3_TARGETS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "bert": (
        ["attention.self.key", "attention.self.value", "output.dense"],
        ["output.dense"],
        ["attention.output.dense"],
    ),
    "roberta": (
        ["attention.self.key", "attention.self.value", "output.dense"],
        ["output.dense"],
        ["attention.output.dense"],
    ),
    "deberta": (
        ["attention.self.key_proj", "attention.self.value_proj", "output.dense"],
        ["output.dense"],
        ["attention.output.dense"],
    ),
    "t5": (
        ["SelfAttention.k", "SelfAttention.v", "EncDecAttention.k", "EncDecAttention.v", "wo"],
        ["wo"],
        [],
    ),
    "gpt2": (["attn.c_attn", "mlp.c_proj"], ["mlp.c_proj"], []),  # c_attn is the fused q/k/v projection
}


@dataclass
class IA3MethodConfig(MethodConfig):
    name: str = "ia3"
    # None: the family's keys, values and FFN-output layer (IA3_TARGETS); `feedforward_modules` are scaled on their
    # input, the others on their output
    feedforward_modules: list[str] | None = None

    def tag(self) -> str:
        return "ia3" if self.target_modules is None else f"ia3_{len(self.target_modules)}t"


@register_method("ia3", IA3MethodConfig)
class IA3(PeftMethod):
    """(IA)^3 through PEFT: learned vectors rescaling keys, values and the FFN's inner activations; mergeable."""

    mergeable = True

    def target_patterns(self, default: list[str] | None = None) -> list[str]:
        return super().target_patterns(IA3_TARGETS[self.model_cfg.family][0])

    def attach(self, model: nn.Module) -> list[str]:
        cfg: IA3MethodConfig = self.config
        _, family_ff, family_exclude = IA3_TARGETS[self.model_cfg.family]
        defaults = cfg.target_modules is None and cfg.target_regex is None
        exclude = [*cfg.exclude_modules, *(family_exclude if defaults else [])]
        names = match_modules(model, self.target_patterns(), cfg.target_regex, exclude)
        ff = (
            cfg.feedforward_modules
            if cfg.feedforward_modules is not None
            else (family_ff if defaults else [])
        )
        ff_names = [n for n in names if name_matches(n, ff)]
        pc = IA3Config(target_modules=names, feedforward_modules=ff_names, fan_in_fan_out=False)
        inject_adapter_in_model(pc, model, adapter_name="default")
        return names


@dataclass
class VeraMethodConfig(MethodConfig):
    name: str = "vera"
    r: int = (
        8  # shared random projection rank (MAdaKron App. A.3: r=8; the VeRA paper uses 1024 on RoBERTa-base)
    )
    d_initial: float = 0.1  # initial value of the d vector (VeRA paper)
    dropout: float = 0.0
    projection_seed: int = 0  # PRNG key of the frozen shared projections

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"method.r={self.r} must be >= 1")

    def tag(self) -> str:
        return f"r{self.r}"


@register_method("vera", VeraMethodConfig)
class Vera(PeftMethod):
    """VeRA (Kopiczko et al., 2024) through PEFT: frozen shared random A/B, trained scaling vectors; mergeable.

    PEFT keeps VeRA's shared projections on the tuner (`inject_adapter_in_model` refuses it), so the tuner is built
    directly, as for AdaLoRA; its layers hold references to the shared buffers, the model stays a plain model.
    """

    mergeable = True

    def attach(self, model: nn.Module) -> list[str]:
        cfg = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        self.tuner = VeraModel(model, self.peft_config(names), "default")
        return names

    def peft_config(self, target_names: list[str]) -> PeftConfig:
        cfg: VeraMethodConfig = self.config
        return VeraConfig(
            r=cfg.r,
            target_modules=target_names,
            d_initial=cfg.d_initial,
            vera_dropout=cfg.dropout,
            projection_prng_key=cfg.projection_seed,
            save_projection=True,
            fan_in_fan_out=self.model_cfg.family == "gpt2",
        )


@dataclass
class LoKrMethodConfig(MethodConfig):
    name: str = "lokr"
    # shape of PEFT's w1 = KronA's A (a1, a2); w2 = B is derived, full rank: the same ΔW = s·(A ⊗ B) as `krona`.
    # null: PEFT's own factorisation (`decompose_factor`, low-rank w2 of rank `r`)
    factor_shape: list[int] | None = field(default_factory=lambda: [32, 24])
    scale: float = 1.0  # s (with factor_shape)
    r: int = 8  # PEFT rank (factor_shape=null only)
    alpha: float = 8.0  # PEFT alpha, scale alpha / r (factor_shape=null only)
    decompose_factor: int = -1  # PEFT factorisation (factor_shape=null only)
    decompose_both: bool = False

    def __post_init__(self) -> None:
        if self.factor_shape is not None and (len(self.factor_shape) != 2 or min(self.factor_shape) < 1):
            raise ValueError(
                f"method.factor_shape={list(self.factor_shape)} must be two positive ints or null"
            )
        if self.r < 1:
            raise ValueError(f"method.r={self.r} must be >= 1")

    def tag(self) -> str:
        if self.factor_shape is None:
            return f"peft_r{self.r}_f{self.decompose_factor}"
        return f"A{self.factor_shape[0]}x{self.factor_shape[1]}_s{self.scale:g}"


@register_method("lokr", LoKrMethodConfig)
class LoKr(PeftMethod):
    """LoKr through PEFT (the independent implementation to check KronA against); mergeable.

    With `factor_shape` PEFT's `lokr_w1`/`lokr_w2` are re-created with KronA's shapes and init (A Kaiming-uniform,
    B zero) and PEFT's scaling set to `scale`; PEFT's own forward and merge do the rest. PEFT's LoKr handles only
    nn.Linear/Conv layers: GPT-2's `Conv1D` is refused with an error that names the layer.
    """

    mergeable = True

    def peft_config(self, target_names: list[str]) -> PeftConfig:
        cfg: LoKrMethodConfig = self.config
        if cfg.factor_shape is None:
            return LoKrConfig(
                r=cfg.r,
                alpha=cfg.alpha,
                decompose_factor=cfg.decompose_factor,
                decompose_both=cfg.decompose_both,
                target_modules=target_names,
            )
        # r large enough that PEFT builds full-rank w1 and w2 (their shapes are replaced below); alpha/r = scale
        big = 10**6
        return LoKrConfig(r=big, alpha=cfg.scale * big, target_modules=target_names)

    def attach(self, model: nn.Module) -> list[str]:
        cfg: LoKrMethodConfig = self.config
        names = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
        for name in names:
            layer = model.get_submodule(name)
            if isinstance(layer, Conv1D):
                raise TypeError(
                    f"method=lokr: layer {name!r} is a transformers Conv1D (GPT-2), which HF PEFT's LoKr does not "
                    "support; use method=krona (the same ΔW = s·(A ⊗ B), Conv1D-aware) for GPT-2"
                )
        if cfg.factor_shape is not None:
            a_shape = (cfg.factor_shape[0], cfg.factor_shape[1])
            for name in names:  # fail before PEFT touches the model, naming the layer and valid shapes
                check_factor_shape(a_shape, *linear_dims(model.get_submodule(name)), name)
        inject_adapter_in_model(self.peft_config(names), model, adapter_name="default")
        if cfg.factor_shape is not None:
            for name in names:
                self._reshape_factors(model.get_submodule(name), name, a_shape)
        return names

    def _reshape_factors(self, layer: nn.Module, name: str, a_shape: tuple[int, int]) -> None:
        d_out, d_in = linear_dims(layer.get_base_layer())
        b_shape = check_factor_shape(a_shape, d_out, d_in, name)
        device = layer.get_base_layer().weight.device
        a = nn.Parameter(torch.empty(*a_shape, device=device))
        b = nn.Parameter(torch.empty(*b_shape, device=device))
        init_kron_factors(a, b, "ku_zero", d_in)
        layer.lokr_w1["default"], layer.lokr_w2["default"] = a, b
        layer.scaling["default"] = self.config.scale
