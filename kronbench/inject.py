"""Find where a method attaches, swap modules in place, freeze the backbone, count parameters.

One implementation of target matching for every method (PEFT-backed ones get the resolved names from here):
`exclude_modules` first, then `target_regex` (fullmatch) or `target_modules` (exact name or `.suffix`).
Zero matches is an error that shows what the model does have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from kronbench.config import SiteConfig

LINEAR_TYPES = (nn.Linear, Conv1D)


# --- linear-like layers (nn.Linear, and GPT-2's Conv1D whose weight is stored transposed) -------------------


def linear_dims(module: nn.Module) -> tuple[int, int]:
    """`(d_out, d_in)` of an nn.Linear or a GPT-2 Conv1D."""
    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    if isinstance(module, Conv1D):
        return module.nf, module.weight.shape[0]
    raise TypeError(f"{type(module).__name__} is not a linear layer (nn.Linear or transformers Conv1D)")


def add_to_weight(module: nn.Module, delta: torch.Tensor) -> None:
    """`W += delta` with `delta` in `(d_out, d_in)` layout, whatever the layer stores."""
    with torch.no_grad():
        if isinstance(module, Conv1D):
            module.weight += delta.t().to(module.weight.dtype)
        else:
            module.weight += delta.to(module.weight.dtype)


# --- name matching -------------------------------------------------------------------------------------------


def name_matches(name: str, patterns: Iterable[str]) -> bool:
    """Exact name, or suffix match on a module-path boundary (`"query"` and `".query"` both match `...self.query`)."""
    for pattern in patterns:
        suffix = pattern.lstrip(".")
        if name == suffix or name.endswith("." + suffix):
            return True
    return False


def match_modules(
    model: nn.Module,
    target_modules: Sequence[str] | None,
    target_regex: str | None = None,
    exclude_modules: Sequence[str] = (),
    types: tuple[type, ...] = LINEAR_TYPES,
) -> list[str]:
    """Names of modules of `types` selected by the patterns, in model order; raises when nothing matches."""
    if not target_modules and not target_regex:
        raise ValueError("no targets given: set method.target_modules or method.target_regex")
    regex = re.compile(target_regex) if target_regex else None
    names: list[str] = []
    for name, module in model.named_modules():
        if not name or not isinstance(module, types) or name_matches(name, exclude_modules):
            continue
        if regex.fullmatch(name) if regex else name_matches(name, target_modules or ()):
            names.append(name)
    if not names:
        candidates = sorted({n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, types)})
        wanted = f"target_regex={target_regex!r}" if regex else f"target_modules={list(target_modules or [])}"
        raise ValueError(
            f"{wanted} (exclude_modules={list(exclude_modules)}) matched no {'/'.join(t.__name__ for t in types)} "
            f"module of {type(model).__name__}; its layer names end in {candidates}"
        )
    return names


def get_submodule(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name) if name else model


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(get_submodule(model, parent_name), child, new)


def replace_modules(model: nn.Module, names: Sequence[str], build) -> dict[str, nn.Module]:
    """Replace each named module by `build(name, module)`; returns the new modules by name."""
    built = {}
    for name in names:
        new = build(name, get_submodule(model, name))
        set_submodule(model, name, new)
        built[name] = new
    return built


# --- block sites (FFN / attention blocks, declared per model family in conf/model) ---------------------------


@dataclass(frozen=True)
class Site:
    """One matched block: the module whose input an adapter reads and the one whose output it changes."""

    block: str
    input: str  # full module name
    output: str  # full module name


def find_sites(model: nn.Module, site_cfg: SiteConfig, site_kind: str) -> list[Site]:
    """All blocks matching `site_cfg.block` that have the declared input and output sub-modules."""
    regex = re.compile(site_cfg.block)
    modules = dict(model.named_modules())
    sites = []
    for name in modules:
        if not regex.fullmatch(name):
            continue
        inp = f"{name}.{site_cfg.input}" if site_cfg.input else name
        out = f"{name}.{site_cfg.output}" if site_cfg.output else name
        if inp in modules and out in modules:
            sites.append(Site(block=name, input=inp, output=out))
    if not sites:
        raise ValueError(
            f"site {site_kind!r} (block regex {site_cfg.block!r}, input {site_cfg.input!r}, output "
            f"{site_cfg.output!r}) matched no block of {type(model).__name__}; check conf/model/<model>.yaml"
        )
    return sites


# --- freezing and reporting ----------------------------------------------------------------------------------


def unfreeze_head(model: nn.Module, head_modules: Sequence[str]) -> None:
    """Make the task head (e.g. `classifier`) trainable: it is newly initialised for every fine-tune."""
    for name, module in model.named_modules():
        if name and name_matches(name, head_modules):
            for p in module.parameters():
                p.requires_grad_(True)


def freeze_all(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def is_layer_norm(module: nn.Module) -> bool:
    """nn.LayerNorm, or a model's own norm class (T5LayerNorm, *RMSNorm): what "layer norm" means across families."""
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith(("LayerNorm", "RMSNorm"))


def layer_norm_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of every layer norm in `model`, each once, in model order."""
    seen: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if is_layer_norm(module):
            for p in module.parameters(recurse=False):
                seen.setdefault(id(p), p)
    return list(seen.values())


@dataclass
class AttachReport:
    """What a method did to the model: matched module names and parameter counts."""

    targets: list[str] = field(default_factory=list)
    trainable: int = 0
    total: int = 0
    method_params: int = 0  # trainable parameters outside the task head
    head_params: int = 0
    inference_trainable: int | None = None  # as deployed (experts averaged into one layer); None: = trainable
    layer_norm_params: int = 0  # backbone layer-norm parameters trained (method.train_layer_norms)
    backbone: int = 0  # parameters of the model before the method attached (the papers' percentage base)

    def as_dict(self) -> dict:
        return {
            "trainable": self.trainable,
            "total": self.total,
            "method": self.method_params,
            "head": self.head_params,
            "trainable_percent": 100.0 * self.trainable / max(self.total, 1),
            "layer_norms": self.layer_norm_params,
            "backbone": self.backbone,
            # the papers' figure (the Compacter code base's `trainable / t5_base_params`): base = the bare backbone
            "trainable_percent_of_backbone": 100.0 * self.trainable / max(self.backbone or self.total, 1),
            "inference": self.trainable if self.inference_trainable is None else self.inference_trainable,
            "targets": list(self.targets),
        }


def count_parameters(model: nn.Module, head_modules: Sequence[str], targets: Sequence[str]) -> AttachReport:
    """Trainable/total parameter counts, splitting the task head from the method's own parameters."""
    head_ids = {
        id(p)
        for name, module in model.named_modules()
        if name and name_matches(name, head_modules)
        for p in module.parameters()
    }
    trainable = [p for p in model.parameters() if p.requires_grad]
    head = sum(p.numel() for p in trainable if id(p) in head_ids)
    total_trainable = sum(p.numel() for p in trainable)
    return AttachReport(
        targets=list(targets),
        trainable=total_trainable,
        total=sum(p.numel() for p in model.parameters()),
        method_params=total_trainable - head,
        head_params=head,
    )
