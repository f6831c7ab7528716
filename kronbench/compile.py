"""Compiled training and evaluation steps: `torch.compile` of the model, with batch shapes bucketed.

Eager PyTorch steps of BERT-base-sized models are host-bound on an H100/H200 (the GPU idles 75–85% of a step, see
docs/BENCH.md): `torch.compile` fuses the many small kernels and cuts the Python overhead. It recompiles for every
new input shape, so batches are padded to a multiple of `train.pad_to_multiple_of` (with a max length of 128 and a
multiple of 32 there are at most four sequence lengths). Padding is masked, so it changes no result beyond the
rounding of a different kernel schedule.

A model that cannot be compiled (a backend missing, a graph break that raises) falls back to eager at its first
batch; the record states which one ran and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger("kronbench")

Batch = dict[str, torch.Tensor]
# keys padded along the sequence axis, and the value padding gets: attention masks 0, labels ignored (-100)
PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "labels": -100, "decoder_attention_mask": 0}
SEQUENCE_KEYS = ("input_ids", "attention_mask", "token_type_ids", "labels", "decoder_input_ids",
                 "decoder_attention_mask")  # fmt: skip


def padded_length(length: int, multiple: int) -> int:
    return -(-length // multiple) * multiple


class BucketPadding:
    """Wrap a collate function: pad every 2-d sequence tensor of a batch up to a multiple of `multiple`.

    Classification labels (1-d) are left alone; token labels (2-d) are padded with -100, so the loss ignores them.
    """

    def __init__(self, collate: Callable[[list[dict]], Batch], pad_token_id: int, multiple: int) -> None:
        if multiple < 1:
            raise ValueError(f"train.pad_to_multiple_of={multiple} must be >= 1")
        self.collate, self.pad_token_id, self.multiple = collate, pad_token_id, multiple

    def __call__(self, features: list[dict]) -> Batch:
        batch = self.collate(features)
        for key in SEQUENCE_KEYS:
            value = batch.get(key)
            if not isinstance(value, torch.Tensor) or value.dim() != 2:
                continue
            extra = padded_length(value.shape[1], self.multiple) - value.shape[1]
            if extra:
                fill = self.pad_token_id if key.endswith("input_ids") else PAD_VALUES[key]
                batch[key] = F.pad(value, (0, extra), value=fill)
        return batch


@dataclass
class CompileState:
    """What the record says about compilation: asked for, used, and why not when it fell back."""

    requested: bool = False
    used: bool = False
    mode: str | None = None
    fallback_reason: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "used": self.used,
            "mode": self.mode,
            "fallback": self.fallback_reason,
        }


def describe_failure(err: BaseException) -> str:
    """`Outer: Root: first line` — the compiler's own error, which Dynamo wraps (BackendCompilerFailed)."""
    root = err
    while (inner := getattr(root, "inner_exception", None) or root.__cause__) is not None:
        root = inner
    first = (str(root).strip().splitlines() or [""])[0]
    outer = "" if root is err else f"{type(err).__name__}: "
    return f"{outer}{type(root).__name__}: {first}"


def compile_model(model: nn.Module, mode: str = "default", backend: str = "inductor") -> CompileState:
    """Compile `model` in place (`nn.Module.compile`): same object, same parameter names for merging and saving.

    The compiled call is guarded: if compiling fails at a forward (a missing backend or compiler, an unsupported
    op), the model runs eagerly from then on and the returned state says why. Errors of the backward's compilation
    surface where they happen.
    """
    state = CompileState(requested=True, used=True, mode=mode)
    compiled = torch.compile(
        model._call_impl, mode=None if mode == "default" else mode, backend=backend, dynamic=False
    )

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not state.used:
            return model._call_impl(*args, **kwargs)
        try:
            return compiled(*args, **kwargs)
        except Exception as err:
            state.used = False
            state.fallback_reason = describe_failure(err)
            log.warning("torch.compile failed, running eager instead (%s)", state.fallback_reason)
            return model._call_impl(*args, **kwargs)

    # the attribute nn.Module.compile sets and nn.Module.__call__ reads (torch >= 2.2)
    model._compiled_call_impl = guarded
    return state


def uncompile(model: nn.Module) -> None:
    """Back to the eager forward for good."""
    model._compiled_call_impl = None


@contextmanager
def eager(model: nn.Module) -> Iterator[None]:
    """Run `model` eagerly inside the block (autoregressive decoding: one new shape per generated token)."""
    saved = getattr(model, "_compiled_call_impl", None)
    model._compiled_call_impl = None
    try:
        yield
    finally:
        model._compiled_call_impl = saved
