"""The one training loop: accelerate-based, the same code on CPU, one GPU, `accelerate launch` or `torchrun`.

AdamW or Adafactor, linear warmup/decay, gradient accumulation, mixed precision, evaluation every epoch or every
N steps, best-checkpoint selection on the task's main metric, and — for methods that ask for it — the two-pass
step with the symmetric-KL consistency loss of `kronbench.consistency` (MAdaKron, AdaMix).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.data_loader import get_sampler
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers.trainer_pt_utils import LengthGroupedSampler

from kronbench.checkpointing import RunState
from kronbench.compile import BucketPadding, CompileState, compile_model, eager
from kronbench.config import TrainConfig
from kronbench.consistency import Consistency, run_consistency
from kronbench.distributed import BatchLayout
from kronbench.export import save_adapter
from kronbench.methods.base import Method
from kronbench.metrics import is_better
from kronbench.optim import build_optimizer
from kronbench.profiling import StepProfiler, warm_up_steps
from kronbench.report import eval_line
from kronbench.tasks.base import Task

log = logging.getLogger("kronbench")


@dataclass
class EvalSplit:
    """A preprocessed split with its raw rows (some tasks need them to score, e.g. SQuAD contexts)."""

    name: str
    data: Dataset
    raw: Dataset


@dataclass
class TrainResult:
    evals: list[dict[str, Any]] = field(default_factory=list)  # one entry per evaluation during training
    best: dict[str, Any] = field(default_factory=dict)  # the evaluation with the best main metric
    final: dict[str, Any] = field(default_factory=dict)  # last evaluation during training
    report: dict[str, Any] = field(default_factory=dict)  # best checkpoint re-evaluated (merged if asked)
    timing: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float | None] = field(default_factory=dict)
    steps: int = 0
    checkpoint: str | None = None
    distributed: dict[str, Any] = field(default_factory=dict)  # processes, per-device and global batch


def total_optimizer_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """Optimizer steps of a run whose (sharded) loader yields `batches_per_epoch` micro-batches per epoch."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    return max(1, math.ceil(math.ceil(batches_per_epoch / cfg.grad_accum) * cfg.epochs))


def training_loss(
    model: nn.Module, method: Method, batch: dict[str, torch.Tensor], consistency: Consistency | None = None
) -> torch.Tensor:
    """Loss of one batch: one pass, or two passes + the consistency term (kronbench.consistency) for `two_pass`
    methods; `consistency` defaults to the method's NLU protocol for a non-causal model."""
    out = model(**batch)
    loss = out.loss
    extra = method.extra_loss(model)
    if method.two_pass:
        out_b = model(**batch)  # independent random routing / dropout in the second pass
        consistency = consistency or run_consistency(method, generation=False, causal_lm=False)
        if consistency.weight > 0:
            loss = loss + consistency(out.logits, out_b.logits, batch.get("labels"))
        extra_b = method.extra_loss(model)
        if extra_b is not None:
            extra = extra_b if extra is None else extra + extra_b
    return loss if extra is None else loss + extra


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device))


def shuffle_generators(loader: DataLoader) -> list[torch.Generator]:
    """The generators that decide a (prepared) loader's order — its own and its sampler's — each once."""
    found = [getattr(loader, "generator", None), getattr(get_sampler(loader), "generator", None)]
    unique: list[torch.Generator] = []
    for generator in found:
        if generator is not None and all(generator is not g for g in unique):
            unique.append(generator)
    return unique


def loss_values(losses: list[torch.Tensor]) -> list[float]:
    """The per-batch losses as floats, in one device-to-host copy.

    The loop keeps each batch's loss on the device: reading it (`.item()`) every step would wait for the GPU and
    stop the host from queueing the next step's kernels, which costs a host-bound step its overlap.
    """
    return torch.stack(losses).tolist() if losses else []


def mean_over_processes(accelerator: Accelerator, values: list[float]) -> float | None:
    """Mean of each process's mean of `values` (equal batch counts: the global mean); None when empty."""
    if not values:
        return None
    local = torch.tensor(sum(values) / len(values), dtype=torch.float64, device=accelerator.device)
    return float(accelerator.reduce(local, "mean").item())


def peak_memory_gb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


class StepClock:
    """Wall time between consecutive optimizer steps, evaluations and epoch starts left out.

    The median after a warm-up (the first tenth of the steps, at least 10 when there are 20 or more; compilation
    happens there) is the trainer's steady step time: what `make bench-trainer` compares, eager vs compiled. On a
    GPU the host runs ahead of the device only by a bounded queue, so in a steady state this is the step's time.
    """

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.last: float | None = None

    def pause(self) -> None:
        self.last = None

    def tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.durations.append(now - self.last)
        self.last = now

    def steady_ms(self) -> float | None:
        steady = self.durations[warm_up_steps(len(self.durations)) :]
        return round(1000 * statistics.median(steady), 4) if steady else None


class Trainer:
    """Runs training and evaluation of a method-equipped model on a task."""

    def __init__(
        self,
        model: nn.Module,
        method: Method,
        task: Task,
        cfg: TrainConfig,
        main_metric: str,
        accelerator: Accelerator,
        run_dir: Path | None = None,
        tracking: bool = False,
        state_dir: Path | None = None,
    ) -> None:
        """`state_dir`: where the run's resumable state lives (kronbench.checkpointing); None: not saved."""
        self.method = method
        self.task = task
        self.cfg = cfg
        self.main_metric = main_metric
        self.accelerator = accelerator
        self.run_dir = run_dir
        self.state_dir = state_dir
        self.tracking = tracking  # accelerate trackers were initialised (kronbench/tracking.py)
        self.model = model

    def loader(self, ds: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
        """Batches of `ds`: shuffled by a seeded generator (or grouped by length), padded (to a bucket)."""
        generator = torch.Generator().manual_seed(seed)
        collate = self.task.collate
        if self.cfg.pad_to_multiple_of:
            pad_id = self.task.tokenizer.pad_token_id or 0
            collate = BucketPadding(collate, pad_id, self.cfg.pad_to_multiple_of)
        sampler = None
        if shuffle and self.cfg.group_by_length:  # transformers' sampler: random megabatches sorted by length
            lengths = [len(ids) for ids in ds["input_ids"]]
            sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
        return DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.cfg.num_workers,
            pin_memory=self.cfg.pin_memory and self.accelerator.device.type == "cuda",
            generator=generator if shuffle and sampler is None else None,
        )

    def evaluate(self, split: EvalSplit) -> dict[str, float]:
        loader = self.accelerator.prepare(self.loader(split.data, self.cfg.eval_batch_size, shuffle=False))
        shown = self.cfg.progress_bar and self.accelerator.is_local_main_process
        action = "generate" if self.task.generates else "evaluate"  # beam search is the slow part: say so
        batches = tqdm(loader, desc=f"{action} {split.name}", leave=False, disable=not shown)
        self.model.eval()
        # autoregressive decoding meets a new shape per generated token: it always runs eagerly
        run_eagerly = self.task.generates or (self.cfg.compile and not self.cfg.compile_eval)
        with eager(self.accelerator.unwrap_model(self.model)) if run_eagerly else nullcontext():
            metrics = self.task.evaluate(self.model, split.data, split.raw, batches, self.accelerator)
        self.model.train()
        return metrics

    def fit(self, train: Dataset, validation: EvalSplit, report_split: EvalSplit, seed: int) -> TrainResult:
        cfg, acc = self.cfg, self.accelerator
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"method {self.method.config.name!r} left no trainable parameter")
        layout = BatchLayout.of(cfg, acc.num_processes)
        train_loader = self.loader(train, layout.per_device_batch_size, shuffle=True, seed=seed)
        train_loader = acc.prepare(train_loader)
        # counted on the sharded loader: each process's micro-batches per epoch are a one-process run's
        steps_per_epoch = max(1, math.ceil(len(train_loader) / cfg.grad_accum))
        steps = total_optimizer_steps(cfg, len(train_loader))
        self.method.on_train_begin(self.model, steps)
        consistency = run_consistency(
            self.method,
            generation=self.task.cfg.type == "generation",
            causal_lm=not getattr(self.model.config, "is_encoder_decoder", False),
        )
        optimizer, scheduler = build_optimizer(self.model, cfg, steps)  # warmup/decay/weight decay: optim.py
        self.model, optimizer, scheduler = acc.prepare(self.model, optimizer, scheduler)
        # the bare model, once: `unwrap_model` walks every module (a host cost of ~1 ms a step on a 12-layer model)
        bare_model = acc.unwrap_model(self.model)
        compiled = (
            compile_model(bare_model, cfg.compile_mode, cfg.compile_backend, cfg.compile_scope)
            if cfg.compile
            else CompileState()
        )
        if acc.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(acc.device)

        result = TrainResult(
            steps=steps, distributed={**layout.as_record(), "type": acc.distributed_type.value}
        )
        best_value: float | None = None
        best_state: dict[str, torch.Tensor] | None = None
        train_seconds = eval_seconds = state_seconds = 0.0
        step, epoch, seen_samples = 0, 0, 0
        running: list[torch.Tensor] = []  # this epoch's batch losses, on the device (loss_values reads them)
        step_clock = StepClock()
        profiler = StepProfiler(cfg.profile_steps, steps)
        generators = shuffle_generators(train_loader)
        state = None
        if self.state_dir is not None and cfg.save_state:
            state = RunState(self.state_dir, acc)
            acc.register_for_checkpointing(self.method)  # its own training state (AdaLoRA's scores), if any
        resumed = state.load(self.model, layout.as_record()) if state is not None else None
        resume_batches: int | None = None  # micro-batches of the current epoch consumed before the restart
        resumed_at: list[int] = []
        if resumed is not None:
            p = resumed.progress
            step, epoch, seen_samples = p["step"], p["epoch"] - 1, p["seen_samples"]
            running = [torch.tensor(v, device=acc.device) for v in p["running"]]
            train_seconds, eval_seconds, state_seconds = (
                p["train_seconds"],
                p["eval_seconds"],
                p["state_seconds"],
            )
            result.evals, result.best, best_value = p["evals"], p["best"], p["best_value"]
            best_state, resume_batches, resumed_at = (
                resumed.best,
                p["batches_in_epoch"],
                [*p["resumed_at"], step],
            )
            for generator, saved in zip(generators, resumed.generators, strict=True):
                generator.set_state(
                    saved
                )  # the epoch's shuffle is drawn again, then its done batches skipped
            log.info("resuming from %s (optimizer step %d of %d)", resumed.folder, step, steps)
        bar = tqdm(
            total=steps,
            initial=step,
            disable=not (cfg.progress_bar and acc.is_local_main_process),
            desc="train",
        )
        self.model.train()

        def run_eval() -> None:
            nonlocal best_value, best_state, eval_seconds
            t0 = time.perf_counter()
            metrics = self.evaluate(validation)
            eval_seconds += time.perf_counter() - t0
            value = metrics[self.main_metric]
            entry = {"step": step, "epoch": round(step / steps_per_epoch, 4), "validation": metrics}
            entry["train_loss"] = mean_over_processes(acc, loss_values(running))
            entry["lr"] = optimizer.param_groups[0]["lr"]  # after this step's scheduler update
            result.evals.append(entry)
            if best_value is None or is_better(value, best_value, self.main_metric):
                best_value, best_state = value, trainable_state(bare_model)
                result.best = entry
            bar.set_postfix({"loss": entry["train_loss"], self.main_metric: round(value, 3)})
            if acc.is_main_process:
                log.info(eval_line(entry, "validation", entry["lr"]))
            if self.tracking:
                acc.log({f"eval/{k}": v for k, v in metrics.items()}, step=step)

        def save_state(batches_in_epoch: int, epoch_start: list[torch.Tensor]) -> None:
            nonlocal state_seconds
            if state is None:
                return
            t0 = time.perf_counter()
            progress = {
                "step": step,
                "epoch": epoch,
                "batches_in_epoch": batches_in_epoch,
                "running": loss_values(running),
                "seen_samples": seen_samples,
                "train_seconds": train_seconds,
                "eval_seconds": eval_seconds,
                "state_seconds": state_seconds,
                "evals": result.evals,
                "best": result.best,
                "best_value": best_value,
                "resumed_at": resumed_at,
                "layout": layout.as_record(),
            }
            state.save(step, progress, best_state, epoch_start)
            state_seconds += time.perf_counter() - t0

        while step < steps:
            epoch += 1
            epoch_start = [g.get_state() for g in generators]
            batches, done = train_loader, 0
            if resume_batches is not None:
                batches, done = acc.skip_first_batches(train_loader, resume_batches), resume_batches
                resume_batches = None
            t_epoch = time.perf_counter()
            step_clock.pause()  # the first batch of an epoch waits for the loader's workers
            for batch in batches:
                with acc.accumulate(self.model):
                    loss = training_loss(self.model, self.method, batch, consistency)
                    acc.backward(loss)
                    if acc.sync_gradients and cfg.max_grad_norm > 0:
                        acc.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
                    if acc.sync_gradients:  # before zero_grad: AdaLoRA's allocation reads the gradients
                        if scheduler is not None and not acc.optimizer_step_was_skipped:
                            scheduler.step()  # once per optimizer step, whatever the number of processes
                        self.method.on_optimizer_step(bare_model, step + 1)
                    optimizer.zero_grad(set_to_none=True)
                # a copy: a CUDA-graph replay (compile_mode=reduce-overhead) overwrites the loss the graph returned
                running.append(loss.detach().to(torch.float32, copy=True))
                seen_samples += batch["input_ids"].shape[0] * acc.num_processes
                done += 1
                if not acc.sync_gradients:
                    continue
                step += 1
                step_clock.tick()
                profiler.after_step(step)
                bar.update(1)
                if step % cfg.log_every == 0:
                    window = running[-cfg.log_every * cfg.grad_accum :]  # the micro-batches of the last steps
                    values = loss_values(window)
                    window_loss = sum(values) / len(values)
                    bar.set_postfix({"loss": round(window_loss, 4)})
                    if self.tracking:
                        acc.log(
                            {"train/loss": window_loss, "train/lr": optimizer.param_groups[0]["lr"]},
                            step=step,
                        )
                if cfg.eval_strategy == "steps" and step % cfg.eval_steps == 0:
                    train_seconds += time.perf_counter() - t_epoch
                    run_eval()
                    save_state(done, epoch_start)
                    t_epoch = time.perf_counter()
                    step_clock.pause()
                if step >= steps:
                    break
            train_seconds += time.perf_counter() - t_epoch
            already_evaluated = bool(result.evals) and result.evals[-1]["step"] == step
            if (cfg.eval_strategy == "epoch" or step >= steps) and not already_evaluated:
                run_eval()
                save_state(done, epoch_start)
            running = []
        bar.close()

        result.final = result.evals[-1]
        model = bare_model
        if best_state is not None:
            load_trainable_state(model, best_state)
            if cfg.save_checkpoint and self.run_dir is not None and acc.is_main_process:
                adapter = save_adapter(model, self.method, self.task.cfg, self.run_dir / "best_adapter", seed)
                result.checkpoint = str(adapter)  # safetensors + config: kronbench.export.load_adapter
        merged = bool(cfg.merged_eval and self.method.mergeable)
        t0 = time.perf_counter()
        if merged:
            self.method.merge(model)
        result.report = {"split": report_split.name, "merged": merged, "metrics": self.evaluate(report_split)}
        if merged:
            self.method.unmerge(model)
        eval_seconds += time.perf_counter() - t0
        result.timing = {
            "train_seconds": round(train_seconds, 3),
            "eval_seconds": round(eval_seconds, 3),
            "state_seconds": round(state_seconds, 3),
            "optimizer_steps": step,
            "epochs_run": epoch,
            "train_samples_per_second": round(seen_samples / max(train_seconds, 1e-9), 2),
            "steady_step_ms": step_clock.steady_ms(),
            "resumed_at_steps": resumed_at,
            "compile": compiled.as_record(),
            "profile": profiler.close(),
        }
        result.memory = {"peak_gpu_gb": peak_memory_gb(acc.device)}
        return result
