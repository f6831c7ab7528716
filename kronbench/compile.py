"""Compiled training and evaluation steps: `torch.compile` of the model, with batch shapes bucketed.

Eager PyTorch steps of BERT-base-sized models are host-bound on an H100/H200 (the GPU idles 75–85% of a step, see
docs/BENCH.md): `torch.compile` fuses the many small kernels and cuts the Python overhead. It recompiles for every
new input shape, so batches are padded to a multiple of `train.pad_to_multiple_of` (with a max length of 128 and a
multiple of 32 there are at most four sequence lengths). Padding is masked, so it changes no result beyond the
rounding of a different kernel schedule.

Each new shape or mode (sequence bucket × batch size — full and last partial, train and eval — × grad mode) is one
more compiled variant of the blocks' shared frame. Dynamo's default allows 8 per frame and silently runs the frame
eagerly beyond that, so a "compiled" run could be mostly eager: `compile_model` raises the limit to
`RECOMPILE_LIMIT` and the record counts the frames that still hit it (`recompile_limit_hits`).

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
# compiled variants allowed per frame: 4 sequence buckets x 4 batch sizes x 2 grad modes = 32, twice over for the
# encoder and decoder stacks of T5 (one code object, `nn.Module._call_impl`, serves every block)
RECOMPILE_LIMIT = 64
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
    scope: str | None = None  # "blocks": each repeated block compiled; "model": the whole model
    blocks: int = 0  # how many blocks were compiled (scope "blocks")
    # the process-wide count of recompile-limit hits when this model was compiled
    limit_hits_at_start: int = 0
    # Dynamo's process-wide graph and graph-break counts when this model was compiled
    graphs_at_start: int = 0
    graph_breaks_at_start: int = 0

    @property
    def recompile_limit_hits(self) -> int:
        """Frames that hit Dynamo's recompile limit since this model was compiled: they ran eagerly from then on."""
        return RECOMPILE_LIMIT_WATCH.hits - self.limit_hits_at_start if self.requested else 0

    @property
    def graphs(self) -> int:
        """Graphs Dynamo compiled for this model (a variant per shape and grad mode, a piece per graph break)."""
        return dynamo_counts()[0] - self.graphs_at_start if self.requested else 0

    @property
    def graph_breaks(self) -> int:
        """Graph breaks Dynamo met: each one runs eagerly between two compiled pieces."""
        return dynamo_counts()[1] - self.graph_breaks_at_start if self.requested else 0

    def as_record(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "used": self.used,
            "mode": self.mode,
            "fallback": self.fallback_reason,
            "scope": self.scope,
            "blocks": self.blocks,
            "recompile_limit_hits": self.recompile_limit_hits,
            "graphs": self.graphs,
            "graph_breaks": self.graph_breaks,
        }


def dynamo_counts() -> tuple[int, int]:
    """(graphs compiled, graph breaks) so far in this process, from Dynamo's counters (`reset` keeps them)."""
    counters = torch._dynamo.utils.counters
    return counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


class RecompileLimitWatch(logging.Handler):
    """Counts Dynamo's "hit config.recompile_limit" warnings: Dynamo only logs them, then runs the frame eagerly."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.hits = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "hit config." in message and "recompile_limit" in message:
            self.hits += 1

    def install(self) -> None:
        logger = logging.getLogger("torch._dynamo.convert_frame")
        if self not in logger.handlers:
            logger.addHandler(self)


RECOMPILE_LIMIT_WATCH = RecompileLimitWatch()


def allow_recompiles(limit: int) -> None:
    """Let every compiled frame hold at least `limit` variants (shapes, modes) before Dynamo gives up on it."""
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, limit)
    config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, 4 * limit)


def describe_failure(err: BaseException) -> str:
    """`Outer: Root: first line` — the compiler's own error, which Dynamo wraps (BackendCompilerFailed)."""
    root = err
    while (inner := getattr(root, "inner_exception", None) or root.__cause__) is not None:
        root = inner
    first = (str(root).strip().splitlines() or [""])[0]
    outer = "" if root is err else f"{type(err).__name__}: "
    return f"{outer}{type(root).__name__}: {first}"


def repeated_blocks(model: nn.Module) -> list[nn.Module]:
    """The blocks of the model's outermost stacks: the members of every `nn.ModuleList` of two or more modules of
    one class that lies inside no other such list (BERT's `encoder.layer`, T5's `block`s, GPT-2's `h`).

    Adapters and experts inside a block are compiled with it; lists nested in a block are not stacks of their own.
    """
    stacks: list[str] = []
    blocks: list[nn.Module] = []
    for name, module in model.named_modules():
        if any(name.startswith(f"{stack}.") for stack in stacks):
            continue
        if isinstance(module, nn.ModuleList) and len(module) >= 2 and len({type(m) for m in module}) == 1:
            stacks.append(name)
            blocks.extend(module)
    return blocks


def _guard(module: nn.Module, state: CompileState, mode: str, backend: Any) -> None:
    """Compile `module`'s call in place (what `nn.Module.compile` sets), falling back to eager for good — for every
    module of this state — at the first compile error of a forward."""
    compiled = torch.compile(
        module._call_impl, mode=None if mode == "default" else mode, backend=backend, dynamic=False
    )

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not state.used:
            return module._call_impl(*args, **kwargs)
        try:
            return compiled(*args, **kwargs)
        except Exception as err:
            state.used = False
            state.fallback_reason = describe_failure(err)
            log.warning("torch.compile failed, running eager instead (%s)", state.fallback_reason)
            return module._call_impl(*args, **kwargs)

    # the attribute nn.Module.compile sets and nn.Module.__call__ reads (torch >= 2.2)
    module._compiled_call_impl = guarded


def compile_model(
    model: nn.Module, mode: str = "default", backend: str = "inductor", scope: str = "model"
) -> CompileState:
    """Compile `model` in place: same object, same parameter names for merging and saving.

    `scope="blocks"` compiles each repeated block (`repeated_blocks`) and leaves embeddings, heads and the loss
    eager: identical blocks share one compiled graph, so a 12- or 24-layer model compiles about as fast as one
    layer, while the blocks — nearly all of a step's work — still run fused. A model without such a stack is
    compiled whole. `scope="model"` compiles the whole forward as one graph.

    Dynamo is reset first, so earlier compiled models of the process are dropped (one run trains one model).
    The compiled calls are guarded: if compiling fails at a forward (a missing backend or compiler, an unsupported
    op), the model runs eagerly from then on and the returned state says why. Errors of the backward's compilation
    surface where they happen.
    """
    if scope not in ("blocks", "model"):
        raise ValueError(f"train.compile_scope={scope!r} is not valid; choose 'blocks' or 'model'")
    blocks = repeated_blocks(model) if scope == "blocks" else []
    # a clean Dynamo state, as in a fresh process: the compiled variants of earlier runs of this process (a
    # multirun, the trainer bench) share the blocks' frame and would count against this run's limit
    torch._dynamo.reset()
    allow_recompiles(RECOMPILE_LIMIT)
    RECOMPILE_LIMIT_WATCH.install()
    graphs, breaks = dynamo_counts()
    state = CompileState(
        requested=True,
        used=True,
        mode=mode,
        scope="blocks" if blocks else "model",
        limit_hits_at_start=RECOMPILE_LIMIT_WATCH.hits,
        graphs_at_start=graphs,
        graph_breaks_at_start=breaks,
    )
    for module in blocks or [model]:
        _guard(module, state, mode, backend)
    state.blocks = len(blocks)
    return state


def uncompile(model: nn.Module) -> None:
    """Back to the eager forward for good (the model and every compiled block in it)."""
    for module in model.modules():
        module._compiled_call_impl = None


@contextmanager
def eager(model: nn.Module) -> Iterator[None]:
    """Run `model` eagerly inside the block (autoregressive decoding: one new shape per generated token)."""
    saved = {m: m._compiled_call_impl for m in model.modules() if getattr(m, "_compiled_call_impl", None)}
    for module in saved:
        module._compiled_call_impl = None
    try:
        yield
    finally:
        for module, compiled in saved.items():
            module._compiled_call_impl = compiled
