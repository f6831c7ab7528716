"""Attach a module at a block site (`model_cfg.sites[...]`, found by :func:`kronbench.inject.find_sites`).

Two attachments, both made by wrapping modules in place (no global hooks, so they survive `copy.deepcopy`,
`accelerate.prepare` and `torch.compile`, and show up in `print(model)`):

- **parallel** (`attach_parallel`): `out = block_output + adapter(block_input)`. The block input is the input of the
  site's `input` module (its first positional tensor, or `hidden_states=`), the output that of the `output` module.
  When `input == output` (T5's `DenseReluDense`) one :class:`ParallelWrapper` does both; otherwise an
  :class:`InputCapture` around the input module hands the tensor to an :class:`OutputAdd` around the output module.
  Used by KronA^B, the Parallel Adapter and Houlsby/Pfeiffer-style adapters placed in parallel.
- **sequential** (`attach_sequential`): `out = adapter(output)` — the adapter returns the **full new output**, so it
  carries its own residual (e.g. :class:`kronbench.methods.mixture.BottleneckAdapter` with `residual=True` computes
  `h + up(act(down(h)))`). The output module is the one *before* dropout/residual/LayerNorm (the Pfeiffer position).

Tuple outputs (a module returning `(hidden, attn_weights, ...)`) are handled: the change applies to element 0.
The adapter runs in its own parameter dtype and its result is cast back to the block's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from kronbench.config import ModelConfig
from kronbench.inject import LINEAR_TYPES, Site, find_sites, get_submodule, linear_dims, set_submodule

SITE_KINDS = ("ffn", "attention")
PLACEMENTS = {"ffn": ("ffn",), "attention": ("attention",), "both": ("attention", "ffn")}


# --- helpers ---------------------------------------------------------------------------------------------------


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    """The hidden states a module was called with: first positional tensor, else `hidden_states=`, else any tensor."""
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    if isinstance(kwargs.get("hidden_states"), torch.Tensor):
        return kwargs["hidden_states"]
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value
    raise ValueError("could not find the input hidden states among the module's arguments")


def _param_dtype(module: nn.Module, default: torch.dtype) -> torch.dtype:
    for p in module.parameters():
        return p.dtype
    return default


def run_adapter(adapter: nn.Module, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`adapter(x)` in the adapter's dtype (autocast still applies), cast to `like`'s dtype."""
    return adapter(x.to(_param_dtype(adapter, x.dtype))).to(like.dtype)


def map_output(out: Any, fn) -> Any:
    """Apply `fn` to a module output's hidden states: the tensor itself, or element 0 of a tuple."""
    if isinstance(out, torch.Tensor):
        return fn(out)
    if isinstance(out, tuple):
        return (fn(out[0]), *out[1:])
    raise TypeError(f"cannot attach to a module returning {type(out).__name__}; expected a tensor or a tuple")


def _linears(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, LINEAR_TYPES)]


def site_dims(model: nn.Module, site: Site) -> tuple[int, int]:
    """`(d_in, d_out)` of a site: width of the block input and of the block output.

    d_in: the input module's own width if it is linear, else that of its first linear sub-layer (e.g. BERT's
    `intermediate.dense`, `self.query`, T5's `wi`); d_out: likewise with the output module's last linear layer.
    """
    inp, out = _unwrap(get_submodule(model, site.input)), _unwrap(get_submodule(model, site.output))
    in_layers, out_layers = _linears(inp), _linears(out)
    if not in_layers or not out_layers:
        raise ValueError(f"site {site.block!r}: no linear layer under {site.input!r} or {site.output!r}")
    return linear_dims(in_layers[0])[1], linear_dims(out_layers[-1])[0]


def _unwrap(module: nn.Module) -> nn.Module:
    """The original module under any number of site wrappers (for shape inspection)."""
    while isinstance(module, (ParallelWrapper, OutputAdd, InputCapture, SequentialWrapper)):
        module = module.base
    return module


# --- wrappers --------------------------------------------------------------------------------------------------


class _Slot:
    """Carries one captured input tensor from an InputCapture to its OutputAdd (not a module: no state_dict)."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None


class ParallelWrapper(nn.Module):
    """`base(x, ...) + adapter(x)` for a site whose input and output module are the same."""

    def __init__(self, base: nn.Module, adapter: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        x = _first_tensor(args, kwargs)
        out = self.base(*args, **kwargs)
        return map_output(out, lambda h: h + run_adapter(self.adapter, x, h))


class InputCapture(nn.Module):
    """Passes through to `base`, remembering the input hidden states for the matching :class:`OutputAdd`."""

    def __init__(self, base: nn.Module, slot: _Slot) -> None:
        super().__init__()
        self.base = base
        self._slot = slot

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self._slot.value = _first_tensor(args, kwargs)
        return self.base(*args, **kwargs)


class OutputAdd(nn.Module):
    """`base(...) + adapter(captured block input)`; the capture is released after use."""

    def __init__(self, base: nn.Module, adapter: nn.Module, slot: _Slot, site: str) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter
        self._slot = slot
        self._site = site

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        x = self._slot.value
        if x is None:
            raise RuntimeError(
                f"site {self._site!r}: the output module ran before its input module was called"
            )
        self._slot.value = None
        out = self.base(*args, **kwargs)
        return map_output(out, lambda h: h + run_adapter(self.adapter, x, h))


class SequentialWrapper(nn.Module):
    """`adapter(base(...))`: the adapter returns the full new output (it includes its own residual)."""

    def __init__(self, base: nn.Module, adapter: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.base(*args, **kwargs)
        return map_output(out, lambda h: run_adapter(self.adapter, h, h))


# --- attaching -------------------------------------------------------------------------------------------------


def attach_parallel(model: nn.Module, site: Site, adapter: nn.Module) -> nn.Module:
    """Make `site.output`'s output `output + adapter(input of site.input)`; returns the wrapper holding `adapter`."""
    if site.input == site.output:
        wrapper = ParallelWrapper(get_submodule(model, site.output), adapter)
        set_submodule(model, site.output, wrapper)
        return wrapper
    slot = _Slot()
    set_submodule(model, site.input, InputCapture(get_submodule(model, site.input), slot))
    wrapper = OutputAdd(get_submodule(model, site.output), adapter, slot, site.block)
    set_submodule(model, site.output, wrapper)
    return wrapper


def attach_sequential(model: nn.Module, site: Site, adapter: nn.Module) -> nn.Module:
    """Make `site.output`'s output `adapter(output)` (adapter returns the full output); returns the wrapper."""
    wrapper = SequentialWrapper(get_submodule(model, site.output), adapter)
    set_submodule(model, site.output, wrapper)
    return wrapper


def resolve_sites(model: nn.Module, model_cfg: ModelConfig, kinds: Sequence[str]) -> list[tuple[str, Site]]:
    """`(kind, Site)` for every block of each site kind (`"ffn"`, `"attention"`) declared by the model family."""
    found: list[tuple[str, Site]] = []
    for kind in kinds:
        if kind not in model_cfg.sites:
            raise ValueError(
                f"model {model_cfg.name!r} declares no {kind!r} site (it has {sorted(model_cfg.sites)}); "
                f"add it under `sites:` in conf/model/family/{model_cfg.family}.yaml"
            )
        found.extend((kind, site) for site in find_sites(model, model_cfg.sites[kind], kind))
    return found


def placement_kinds(placement: str) -> tuple[str, ...]:
    """Site kinds for a placement name: `ffn`, `attention` or `both`."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement={placement!r} is not valid; choose one of {sorted(PLACEMENTS)}")
    return PLACEMENTS[placement]
