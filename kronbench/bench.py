"""`make bench`: training step time, throughput, peak memory, FLOPs and inference latency per method.

`python -m kronbench.bench [--config conf/bench/default.yaml] [key=value ...]` (values parsed as YAML, e.g.
`models=[bert-base] precisions=[bf16] compile=[false] quick=true`). No Hydra composition: the plan is one YAML file.

For each model (random weights of the real size), precision (fp32 / bf16 autocast) and compile setting, in one
process, and for training and each inference protocol separately, the methods are timed interleaved: phase 1
builds every entry on a fresh model (the reference included: full fine-tuning for training, the bare model for
inference), warms it up and takes its own peak memory, all staying resident; phase 2 runs `rounds` rounds in
which every entry takes its share of steps in turn (rotating order), so host-side drift lands on every method
alike. Every figure is also a ratio to the reference of the same rounds, with the spread of the per-round ratios.
`max_resident` caps how many entries are resident at once (chunks, each re-measuring the reference).
Methods resolve through the registry by name; one not registered yet is recorded as `skipped` with the reason.
One JSON record per benchmark under `output_dir` (`<model>/<precision>-<mode>/<kind>/<name>.json`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from kronbench import methods as _methods  # noqa: F401  (registers every method)
from kronbench.compile import allow_recompiles
from kronbench.config import ModelConfig, SiteConfig
from kronbench.paths import CONF_DIR, project_dir
from kronbench.profiling import gpu_profile
from kronbench.registry import METHOD_SCHEMAS, METHODS, get_method
from kronbench.results import environment, write_json_atomic

DEFAULT_CONFIG = CONF_DIR / "bench" / "default.yaml"
BENCH_SCHEMA = 2
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
TRAIN_REF, INFER_REF = "full", "base"


# ---------------------------------------------------------------------------------------------- configuration
def load_plan(path: Path, overrides: list[str]) -> dict[str, Any]:
    """The bench plan: the YAML file (following `base:` includes) with `key=value` overrides (dotted keys)."""
    plan = yaml.safe_load(Path(path).read_text()) or {}
    base = plan.pop("base", None)
    if base:
        parent = load_plan(Path(path).parent / base, [])
        parent.update(plan)
        plan = parent
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        node = plan
        *heads, last = key.split(".")
        for head in heads:
            node = node.setdefault(head, {})
        node[last] = yaml.safe_load(value)
    return plan


def model_config(name: str, spec: dict[str, Any]) -> ModelConfig:
    """A `ModelConfig` for a randomly initialised model from the family's YAML (targets, sites, head)."""
    family = yaml.safe_load((CONF_DIR / "model" / "family" / f"{spec['family']}.yaml").read_text())
    family.pop("defaults", None)
    sites = {k: SiteConfig(**v) for k, v in family.pop("sites", {}).items()}
    family.update({k: v for k, v in spec.items() if k in ("head_modules", "attention_targets")})
    known = {f.name for f in fields(ModelConfig)}
    kwargs = {k: v for k, v in family.items() if k in known}
    return ModelConfig(
        **kwargs, name=name, pretrained="random", init="random", sites=sites,
        config_overrides=dict(spec.get("config", {})),
    )  # fmt: skip


def build_model(spec: dict[str, Any], device: torch.device) -> nn.Module:
    """A randomly initialised model of the spec's size, built directly on `device` (fp32 weights)."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

    model_type = {"bert": "bert", "roberta": "roberta", "t5": "t5", "deberta": "deberta-v2"}[spec["family"]]
    config = AutoConfig.for_model(model_type, **spec.get("config", {}))
    config.num_labels = 2
    if spec["family"] == "t5":
        config.decoder_start_token_id = 0
        config.pad_token_id = 0
    torch.manual_seed(0)
    with torch.device(device):
        cls = AutoModelForSeq2SeqLM if spec["family"] == "t5" else AutoModelForSequenceClassification
        model = cls.from_config(config)
    return model


def method_config(name: str, overrides: dict[str, Any]) -> Any:
    """The method's dataclass config: `conf/method/<name>.yaml` values, then the bench's overrides."""
    values: dict[str, Any] = {}
    path = CONF_DIR / "method" / f"{name}.yaml"
    if path.exists():
        values = yaml.safe_load(path.read_text()) or {}
        values.pop("defaults", None)
    # interpolations resolve against a composed run (e.g. the consistency weight per task type): here the schema
    # default stands in for them
    values = {k: v for k, v in values.items() if not (isinstance(v, str) and v.startswith("${"))}
    values.update(overrides)
    schema = METHOD_SCHEMAS[name]
    known = {f.name for f in fields(schema)}
    return schema(**{k: v for k, v in values.items() if k in known})


# ---------------------------------------------------------------------------------- PEFT LoKr (fallback only)
def attach_peft_lokr(model: nn.Module, mcfg: ModelConfig, a_shape: tuple[int, int]) -> dict[str, Any]:
    """PEFT's LoKr with KronA's factors `A (a1×a2) ⊗ B`, used only while no `lokr` method is registered.

    PEFT's own factorisation ties the input and output splits, so its `w1`/`w2` are replaced by A (Kaiming)
    and B (zero) of the requested shapes; its forward (`torch.kron` of the two, then a full GEMM) is unchanged.
    """
    from peft import LoKrConfig, inject_adapter_in_model

    from kronbench.inject import count_parameters, freeze_all, match_modules

    freeze_all(model)
    names = match_modules(model, mcfg.attention_targets, None, None)
    inject_adapter_in_model(
        LoKrConfig(r=4096, alpha=4096, target_modules=names), model, adapter_name="default"
    )
    modules = dict(model.named_modules())
    for name in names:
        layer = modules[name]
        d_out, d_in = layer.get_base_layer().weight.shape
        dev = layer.get_base_layer().weight.device
        a = nn.Parameter(torch.empty(*a_shape, device=dev))
        b = nn.Parameter(torch.zeros(d_out // a_shape[0], d_in // a_shape[1], device=dev))
        nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        layer.lokr_w1["default"], layer.lokr_w2["default"] = a, b
    model.to(next(iter(model.parameters())).device)
    return count_parameters(model, mcfg.head_modules, names).as_dict()


# ------------------------------------------------------------------------------------------------ benchmarks
class Skip(Exception):
    """A benchmark that cannot run here (method not registered, not mergeable, ...)."""


def prepare(
    entry: dict[str, Any], spec: dict[str, Any], mcfg: ModelConfig, device: torch.device
) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Build a fresh model and attach the entry's method; return (model, method or None, param counts)."""
    name = entry["method"]
    model = build_model(spec, device)
    if name == INFER_REF:
        return model, None, {"trainable": 0, "total": sum(p.numel() for p in model.parameters())}
    if name not in METHODS:
        if name == "lokr" and entry.get("overrides", {}).get("factor_shape"):
            a1, a2 = entry["overrides"]["factor_shape"]
            return (
                model,
                None,
                attach_peft_lokr(model, mcfg, (a1, a2)) | {"impl": "bench fallback (PEFT LoKr)"},
            )
        raise Skip(f"method {name!r} is not registered yet (registered: {sorted(METHODS)})")
    method = get_method(name)(method_config(name, entry.get("overrides", {})), mcfg)
    report = method.apply(model)
    model.to(device)  # block-level adapters are built on the CPU
    return model, method, report.as_dict()


def make_batch(
    spec: dict[str, Any], batch: int, seq: int, device: torch.device, train: bool
) -> dict[str, torch.Tensor]:
    """Random token ids (never zeros), full attention mask, labels (train) / decoder start (T5 inference)."""
    g = torch.Generator().manual_seed(1234)
    vocab = int(spec.get("config", {}).get("vocab_size", 30522 if spec["family"] != "t5" else 32128))
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if spec["family"] == "t5":
        dec = int(spec.get("decoder_len", 4))
        target = torch.randint(5, vocab, (batch, dec), generator=g)
        out["labels" if train else "decoder_input_ids"] = target
    elif train:
        out["labels"] = torch.randint(0, 2, (batch,), generator=g)
    return {k: v.to(device) for k, v in out.items()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def allocated(device: torch.device) -> int | None:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else None


def own_peak_mb(device: torch.device, before: int | None) -> float | None:
    """Peak allocated memory since the last reset, less what was allocated before this model was built."""
    if device.type != "cuda" or before is None:
        return None
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def train_step_fn(model: nn.Module, method: Any, batch: dict[str, torch.Tensor], dtype: torch.dtype | None):
    """One optimizer step (AdamW on the trainable parameters), two passes for two-pass methods."""
    from kronbench.train import training_loss

    params = [p for p in model.parameters() if p.requires_grad]
    device_type = next(model.parameters()).device.type
    opt = torch.optim.AdamW(params, lr=1e-5, fused=device_type == "cuda")  # fewest launches for every method
    forward = model

    def loss_fn() -> torch.Tensor:
        if method is not None:
            return training_loss(forward, method, batch)
        return forward(**batch).loss

    def step() -> None:
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_fn()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def set_forward(f: Callable) -> None:
        nonlocal forward
        forward = f

    return step, set_forward


def count_flops(fn: Callable[[], None]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def entry_name(entry: dict[str, Any]) -> str:
    name = entry.get("name") or entry["method"]
    return name + ("-merged" if entry.get("merged") else "")


def rounds_of(cfg: dict[str, Any]) -> int:
    """Timed rounds of a protocol: `rounds`; an inference protocol's older `repeats` means the same."""
    return max(1, int(cfg.get("rounds", cfg.get("repeats", 1))))


# ---------------------------------------------------------------------------------------------- runners
PEAK_STEPS = 3  # steps (inference: iterations) after warm-up over which the peak memory is taken
PEAK_PROTOCOL = "own footprint = max allocated − allocated before the model was built"


class Runner:
    """One entry of one kind in one setting: `prepare()` (phase 1), `run_round()` (phase 2), `metrics()`.

    Timing is the same for every kind: a round's share is `samples` timings of `block` steps each, CUDA-synchronised
    around every timing (training: one step per timing; inference: `iters` iterations timed as one block).
    """

    kind = ""
    ref_method = ""
    main_key = ""  # the metric whose per-round ratios to the reference give `ratio_spread`

    def __init__(self, entry: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.entry, self.ctx = entry, ctx
        self.name = entry_name(entry)
        self.device: torch.device = ctx["setting"]["device"]
        self.model: nn.Module | None = None
        self.step: Callable[[], Any] | None = None
        self.params: dict[str, Any] = {}
        self.peak_mem_mb: float | None = None
        self.gpu: dict[str, float] = {}  # GPU kernel ms and launches per call (profiler; CUDA only)
        self.times: list[list[float]] = []  # seconds per timed step, one list per round
        self.wall_s = 0.0
        self.record = base_record(self, ctx)

    @property
    def cfg(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def is_ref(self) -> bool:
        return self.entry["method"] == self.ref_method

    def build(self, method: Any) -> Callable[[], Any]:
        """Set up `self.model` for this kind; return one step (training) or one forward (inference)."""
        raise NotImplementedError

    def share(self) -> tuple[int, int]:
        """(timings per round, steps per timing)."""
        raise NotImplementedError

    def context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def prepare(self) -> None:
        """Phase 1: build the model and method, warm up, and take the peak memory of a few more steps."""
        t0 = time.perf_counter()
        gc.collect()  # what a dropped entry left behind must not count as resident
        before = allocated(self.device)  # the entries built before this one stay resident
        self.model, method, self.params = prepare(self.entry, self.ctx["spec"], self.ctx["mcfg"], self.device)
        self.step = self.build(method)
        with self.context():
            for _ in range(self.cfg["warmup"]):
                self.step()
            sync(self.device)
            reset_peak(self.device)
            for _ in range(PEAK_STEPS):
                self.step()
            sync(self.device)
            self.peak_mem_mb = own_peak_mb(self.device, before)
            self.gpu = gpu_profile(self.step, self.profile_calls()) if self.profiled() else {}
        self.wall_s += time.perf_counter() - t0

    def profiled(self) -> bool:
        on = bool(self.ctx["plan"].get("profile", True)) and self.profile_calls() > 0
        return self.device.type == "cuda" and on

    def profile_calls(self) -> int:
        """Steps / forwards under the profiler (few: its overhead is per event)."""
        return int(self.cfg.get("profile_calls", 2))

    def run_round(self) -> None:
        """Phase 2: time this entry's share of one round."""
        t0 = time.perf_counter()
        samples, block = self.share()
        times = []
        with self.context():
            for _ in range(samples):
                sync(self.device)
                start = time.perf_counter()
                for _ in range(block):
                    self.step()
                sync(self.device)
                times.append((time.perf_counter() - start) / block)
        self.times.append(times)
        self.wall_s += time.perf_counter() - t0

    def round_ms(self) -> list[float]:
        """The median timing of each round, ms."""
        return [statistics.median(t) * 1e3 for t in self.times]

    def protocol(self) -> dict[str, Any]:
        return {"rounds": rounds_of(self.cfg), "interleaved": True, "peak_mem": PEAK_PROTOCOL}

    def metrics(self) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Drop the model and everything the step holds (optimizer state, compiled graph)."""
        self.model = self.step = None


class TrainRunner(Runner):
    kind, ref_method, main_key = "train", TRAIN_REF, "step_ms"

    @property
    def cfg(self) -> dict[str, Any]:
        return self.ctx["plan"]["train"]

    def build(self, method: Any) -> Callable[[], Any]:
        setting = self.ctx["setting"]
        self.model.train()
        batch = make_batch(
            self.ctx["spec"], self.cfg["batch_size"], self.cfg["seq_len"], self.device, train=True
        )
        step, set_forward = train_step_fn(self.model, method, batch, setting["dtype"])
        self.flops = count_flops(step) if self.ctx["plan"].get("flops", True) else None  # before compiling
        self.two_pass = bool(method is not None and method.two_pass)
        if setting["compile"]:
            set_forward(torch.compile(self.model))
        return step

    def share(self) -> tuple[int, int]:
        return math.ceil(self.cfg["steps"] / rounds_of(self.cfg)), 1

    def metrics(self) -> dict[str, Any]:
        times = sorted(t for r in self.times for t in r)
        med = statistics.median(times)
        keys = ("batch_size", "seq_len", "warmup", "steps")
        return {
            "params": self.params,
            "step_ms": med * 1e3,
            "step_ms_mean": statistics.fmean(times) * 1e3,
            "step_ms_p10": times[len(times) // 10] * 1e3,
            "step_ms_rounds": self.round_ms(),
            "samples_per_s": self.cfg["batch_size"] / med,
            "peak_mem_mb": self.peak_mem_mb,
            "flops_per_step": self.flops,
            **self.gpu,
            "two_pass": self.two_pass,
            "protocol": {k: self.cfg[k] for k in keys}
            | {"steps_per_round": self.share()[0], "optimizer": "adamw"}
            | self.protocol(),
        }


class InferRunner(Runner):
    kind, ref_method, main_key = "infer", INFER_REF, "latency_ms"

    @property
    def cfg(self) -> dict[str, Any]:
        return self.ctx["proto"]

    def build(self, method: Any) -> Callable[[], Any]:
        self.model.eval()
        if self.entry.get("merged"):
            if method is None or not method.mergeable:
                raise Skip(f"method {self.entry['method']!r} is not mergeable")
            with torch.no_grad():  # the deployable model: the base architecture exactly
                self.model = method.merge_and_unload(self.model)
        forward = torch.compile(self.model) if self.ctx["setting"]["compile"] else self.model
        batch = make_batch(
            self.ctx["spec"], self.cfg["batch_size"], self.cfg["seq_len"], self.device, train=False
        )
        return lambda: forward(**batch)

    def context(self) -> contextlib.AbstractContextManager:
        dtype = self.ctx["setting"]["dtype"]
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(
            torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
        )
        return stack

    def share(self) -> tuple[int, int]:
        return 1, self.cfg["iters"]

    def metrics(self) -> dict[str, Any]:
        rounds = self.round_ms()
        return {
            "params": self.params,
            "latency_ms": statistics.fmean(rounds),
            "latency_ms_repeats": rounds,
            "peak_mem_mb": self.peak_mem_mb,
            **self.gpu,
            "merged": bool(self.entry.get("merged")),
            "protocol": dict(self.cfg) | self.protocol(),
        }


RUNNERS: dict[str, type[Runner]] = {"train": TrainRunner, "infer": InferRunner}
RATIO_KEYS = {
    "train": (
        "step_ms",
        "peak_mem_mb",
        "flops_per_step",
        "samples_per_s",
        "gpu_kernel_ms",
        "kernel_launches",
    ),
    "infer": ("latency_ms", "gpu_kernel_ms", "kernel_launches"),
}


# ---------------------------------------------------------------------------------------------- records
def base_record(runner: Runner, ctx: dict[str, Any]) -> dict[str, Any]:
    """The identifying fields of a record (status and figures come later)."""
    entry, setting = runner.entry, ctx["setting"]
    record: dict[str, Any] = {
        "schema": BENCH_SCHEMA,
        "kind": runner.kind,
        "model": ctx["model_name"],
        "method": entry["method"],
        "name": runner.name,
        "group": entry.get("group", "main"),
        "method_overrides": entry.get("overrides", {}),
        "precision": setting["precision"],
        "compile": setting["compile"],
        "model_config": ctx["spec"].get("config", {}),
    }
    if runner.kind == "infer":
        record["protocol_name"] = ctx["proto_name"]
    return record


def attempt(runner: Runner, fn: Callable[[], None]) -> bool:
    """Run one phase of one entry; on a skip or an error record it, free the entry and return False."""
    try:
        fn()
        return True
    except Skip as err:
        runner.record.update(status="skipped", reason=str(err))
    except Exception as err:  # noqa: BLE001  (one failing method must not stop the bench)
        runner.record.update(
            status="failed", reason=f"{type(err).__name__}: {err}", traceback=traceback.format_exc()
        )
    runner.close()
    return False


def ratio_spread(ours: list[float], ref: list[float]) -> list[float]:
    """[min, max] over rounds of our round median ÷ the reference's round median."""
    ratios = [a / b for a, b in zip(ours, ref, strict=True) if b]
    return [min(ratios), max(ratios)] if ratios else []


def complete(runner: Runner, ref: Runner | None) -> None:
    """Fill a surviving entry's record: metrics, and ratios to the reference measured in the same rounds."""
    record = runner.record
    record.update(status="completed", metrics=runner.metrics())
    if ref is None or ref is runner:
        return
    ours, theirs = record["metrics"], ref.record["metrics"]
    record["ratios"] = {
        k: ours[k] / theirs[k] for k in RATIO_KEYS[runner.kind] if ours.get(k) is not None and theirs.get(k)
    }
    record["ratio_spread"] = {runner.main_key: ratio_spread(runner.round_ms(), ref.round_ms())}
    record["reference"] = ref.name
    record["reference_metrics"] = {k: theirs.get(k) for k in RATIO_KEYS[runner.kind]}


def write_record(record: dict[str, Any], ctx: dict[str, Any], out_dir: Path) -> None:
    setting = ctx["setting"]
    sub = f"{setting['precision']}-{'compile' if setting['compile'] else 'eager'}"
    kind = record["kind"] + (f"-{ctx['proto_name']}" if record["kind"] == "infer" else "")
    write_json_atomic(out_dir / ctx["model_name"] / sub / kind / f"{record['name']}.json", record)
    fig = ""
    if record["status"] == "completed":
        key = RUNNERS[record["kind"]].main_key
        fig = f"{record['metrics'][key]:.3f} ms"
        if key in record.get("ratios", {}):
            lo, hi = record["ratio_spread"][key] or (math.nan, math.nan)
            fig += f" ({record['ratios'][key]:.3f}x, rounds {lo:.3f}-{hi:.3f})"
    print(
        f"[bench] {ctx['model_name']} {sub} {kind} {record['name']}: {record['status']} {fig} "
        f"{record.get('reason', '')}"
    )


# ------------------------------------------------------------------------------------------------- the plan
def round_order(live: list[Runner], index: int) -> list[Runner]:
    """Round `index`'s order: the start rotates every round and odd rounds run backwards, so no entry always
    follows the same neighbour."""
    order = live if index % 2 == 0 else live[::-1]
    start = index % len(order) if order else 0
    return order[start:] + order[:start]


def free_memory(setting: dict[str, Any]) -> None:
    """After a chunk: release its models, their cached blocks and (compiled) their compiled graphs."""
    if setting["compile"]:
        torch._dynamo.reset()
    gc.collect()
    if setting["device"].type == "cuda":
        torch.cuda.empty_cache()


def run_chunk(kind: str, entries: list[dict[str, Any]], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Interleaved benchmark of `entries` (all resident at once): phase 1 prepares them one at a time, phase 2
    times `rounds` rounds, each entry taking its share in turn; return their records (not yet written)."""
    if ctx["setting"]["compile"]:  # each resident structure keeps its own graph: never fall back to eager
        allow_recompiles(2 * len(entries))
    runners = [RUNNERS[kind](entry, ctx) for entry in entries]
    live = [r for r in runners if attempt(r, r.prepare)]
    for index in range(rounds_of(runners[0].cfg) if runners else 0):
        gc.collect()
        gc.disable()  # a collection inside a timed share would land on one entry at random
        try:
            for runner in round_order(live, index):
                if not attempt(runner, runner.run_round):
                    live.remove(runner)
        finally:
            gc.enable()
    ref = next((r for r in live if r.is_ref), None)
    for runner in sorted(live, key=lambda r: r is not ref):  # the reference's metrics first
        complete(runner, ref)
    records = []
    for runner in runners:
        records.append(runner.record | {"wall_s": runner.wall_s, "env": ctx["env"]})
        runner.close()
    free_memory(ctx["setting"])
    return records


def chunk_entries(entries: list[dict[str, Any]], ref_method: str, size: int | None) -> list[list[dict]]:
    """Groups of at most `size` entries resident at once, each with the reference (None: one group)."""
    ref = next((e for e in entries if e["method"] == ref_method), None)
    head, rest = ([ref] if ref else []), [e for e in entries if e is not ref]
    if not size or not rest:
        return [entries]
    step = max(size - len(head), 1)
    return [head + rest[i : i + step] for i in range(0, len(rest), step)]


def run_kind(kind: str, entries: list[dict[str, Any]], ctx: dict[str, Any], out_dir: Path) -> list[dict]:
    """One kind in one setting, in chunks of `max_resident` entries (the reference re-measured in each chunk,
    its record written from the first); write and return the records."""
    records = []
    chunks = chunk_entries(entries, RUNNERS[kind].ref_method, ctx["plan"].get("max_resident"))
    for index, chunk in enumerate(chunks):
        for record in run_chunk(kind, chunk, ctx):
            if index and record["method"] == RUNNERS[kind].ref_method:
                continue
            write_record(record, ctx, out_dir)
            records.append(record)
    return records


def expand_entries(plan: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """Method entries of a section (strings or dicts), with the plan's per-method `method_overrides` under them."""
    entries = []
    common = plan.get("method_overrides") or {}
    for item in plan.get(section, []):
        entry = {"method": item} if isinstance(item, str) else dict(item)
        entry["overrides"] = dict(common.get(entry["method"], {})) | dict(entry.get("overrides", {}))
        entries.append(entry)
    return entries


def sweep_entries(plan: dict[str, Any]) -> list[dict[str, Any]]:
    sweep = plan.get("factor_sweep") or {}
    out = []
    for shape in sweep.get("shapes", []):
        for method in sweep.get("methods", []):
            out.append(
                {
                    "method": method,
                    "name": f"{method}-A{shape[0]}x{shape[1]}",
                    "group": "factor_sweep",
                    "overrides": {"factor_shape": list(shape)},
                }
            )
    return out


def selected_entries(
    entries: list[dict[str, Any]], ref_method: str, plan: dict[str, Any], setting: dict[str, Any]
) -> list[dict[str, Any]]:
    """The reference (always) and the entries that pass `only`, `compile_methods` (compiled) and `fp32_methods`."""
    filters = [
        plan.get("only"),
        (plan.get("compile_methods") or None) if setting["compile"] else None,
        plan.get("fp32_methods") if setting["precision"] == "fp32" else None,
    ]
    return [
        e
        for e in entries
        if e["method"] == ref_method or all(f is None or entry_name(e) in f for f in filters)
    ]


def run_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Run every benchmark of the plan; return the records."""
    device = torch.device(plan.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(plan.get("tf32", True))
        torch.backends.cudnn.allow_tf32 = bool(plan.get("tf32", True))
    out_dir = Path(plan.get("output_dir", "outputs/bench"))
    if not out_dir.is_absolute():
        out_dir = project_dir() / out_dir
    env = environment() | {"tf32": bool(plan.get("tf32", True))}
    gc.freeze()  # the bench's frequent collections then skip every object alive now (imported modules)
    try:
        return run_settings(plan, device, env, out_dir)
    finally:
        gc.unfreeze()


def run_settings(
    plan: dict[str, Any], device: torch.device, env: dict, out_dir: Path
) -> list[dict[str, Any]]:
    """Every (model, precision, compile) setting of the plan: training, then each inference protocol."""
    records = []
    for model_name in plan["models"]:
        spec = plan["model_specs"][model_name]
        mcfg = model_config(model_name, spec)
        for precision in plan["precisions"]:
            for compiled in plan["compile"]:
                setting = {
                    "device": device,
                    "dtype": PRECISIONS[precision],
                    "precision": precision,
                    "compile": bool(compiled),
                }
                ctx = {"setting": setting, "plan": plan, "model_name": model_name, "spec": spec, "mcfg": mcfg}
                ctx["env"] = env
                train = expand_entries(plan, "train_methods")
                if precision == plan.get("sweep_precision", "bf16") and not compiled:
                    train += sweep_entries(plan)
                records += run_kind("train", selected_entries(train, TRAIN_REF, plan, setting), ctx, out_dir)
                for proto_name, proto in plan.get("inference", {}).items():
                    infer = [{"method": INFER_REF}] + expand_entries(plan, "infer_methods")
                    infer = selected_entries(infer, INFER_REF, plan, setting)
                    records += run_kind(
                        "infer", infer, ctx | {"proto_name": proto_name, "proto": proto}, out_dir
                    )
    return records


# -------------------------------------------------------------------------------------------------- tables
TABLE_NOTE = (
    "Training: median step (ms); in brackets the ratio to full fine-tuning, then the lowest–highest ratio of the "
    "per-round medians (the noise of the ratio; records timed in interleaved rounds, schema 2). Peak MB: the "
    "method's own footprint. Inference: mean latency over rounds (ms), ratio to the bare model (base) of the same "
    "process and setting. Protocol: docs/BENCH.md."
)


def load_records(out_dir: Path) -> list[dict[str, Any]]:
    """Every bench record under `out_dir` (files holding a list of records too), sorted by path; a file that
    cannot be read is named on stderr with the reason (`kronbench.tables.records.read_json`), never dropped quietly."""
    import sys

    from kronbench.tables.records import read_json

    out: list[Any] = []
    for path in sorted(out_dir.rglob("*.json")) if out_dir.is_dir() else []:
        data, reason = read_json(path)
        if reason is not None:
            print(f"bench: skipped {path}: {reason}", file=sys.stderr)
            continue
        out += data if isinstance(data, list) else [data]
    return [d for d in out if isinstance(d, dict) and d.get("method") and d.get("kind") != "trainer"]


def _fmt(
    rec: dict[str, Any] | None, key: str, ratio: bool = True, digits: int = 2, scale: float = 1.0
) -> str:
    """`value (ratio, lo–hi)`: the ratio to the reference and the spread of the per-round ratios where recorded."""
    if rec is None:
        return ""
    if rec.get("status") != "completed":
        return rec.get("status", "—")
    value = rec["metrics"].get(key)
    if value is None:
        return "—"
    other_run = rec.get("other_run") and key == RUNNERS[rec["kind"]].main_key
    text = f"{value / scale:.{digits}f}" + (" †" if other_run else "")
    if ratio and key in rec.get("ratios", {}):
        spread = (rec.get("ratio_spread") or {}).get(key)
        extra = f", {spread[0]:.2f}–{spread[1]:.2f}" if spread else ""
        text += f" ({rec['ratios'][key]:.2f}{extra})"
    return text


def _row_order(name: str, slots: dict[str, dict]) -> tuple:
    """References first (full, base), then the main methods, then the factor sweep; by name within each."""
    rec = next(iter(slots.values()))
    ref = [TRAIN_REF, INFER_REF].index(name) if name in (TRAIN_REF, INFER_REF) else 2
    return ref, rec.get("group", "main") != "main", name


def bench_tables(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """Table 2 style markdown per (model, precision, mode): one row per record name (merged variants too),
    training figures × full and one latency column per inference protocol × base; GPU kernel-time columns
    when the records have them (CUDA runs)."""
    keyed: dict[tuple[str, str, str], dict[str, dict[str, dict]]] = {}
    for rec in records:
        key = (rec["model"], rec["precision"], "compile" if rec["compile"] else "eager")
        slot = rec["kind"] if rec["kind"] == "train" else f"infer-{rec.get('protocol_name')}"
        keyed.setdefault(key, {}).setdefault(rec["name"], {})[slot] = rec
    out = {}
    for key, by_name in keyed.items():
        protos = sorted({s for d in by_name.values() for s in d if s.startswith("infer-")})
        head = ["method", "trainable", "step ms (×full, rounds)", "samples/s", "peak MB (×full)"]
        gpu = any("gpu_kernel_ms" in r.get("metrics", {}) for d in by_name.values() for r in d.values())
        head += ["GFLOP/step (×full)"] + (["GPU ms/step (×full)"] if gpu else [])
        head += [f"{p[6:]} ms (×base, rounds)" for p in protos]
        head += [f"{p[6:]} GPU ms (×base)" for p in protos] if gpu else []
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        refs = {
            slot: recs[slot] for name, recs in by_name.items() if name in ("full", "base") for slot in recs
        }
        other_run = False
        for name, slots in sorted(by_name.items(), key=lambda kv: _row_order(*kv)):
            other_run |= _mark_other_run(slots, refs)
            tr = slots.get("train")
            trainable = tr.get("metrics", {}).get("params", {}).get("trainable", "—") if tr else ""
            cells = [name, str(trainable), _fmt(tr, "step_ms"), _fmt(tr, "samples_per_s", False, 1)]
            cells += [_fmt(tr, "peak_mem_mb", True, 0), _fmt(tr, "flops_per_step", True, 0, 1e9)]
            cells += [_fmt(tr, "gpu_kernel_ms", True, 2)] if gpu else []
            cells += [_fmt(slots.get(p), "latency_ms", True, 3) for p in protos]
            cells += [_fmt(slots.get(p), "gpu_kernel_ms", True, 3) for p in protos] if gpu else []
            lines.append("| " + " | ".join(cells) + " |")
        note = "\n† ratio to the reference measured in that record's own (another) run\n" if other_run else ""
        out[key] = "\n".join(lines) + "\n" + note
    return out


def _mark_other_run(slots: dict[str, dict], refs: dict[str, dict]) -> bool:
    """Flag (`name †`) records whose ratios used a reference from another run than the reference row shown:
    absolute times of different runs do not compare on a noisy host, ratios do."""
    marked = False
    for slot, rec in slots.items():
        ref = refs.get(slot)
        theirs = rec.get("reference_metrics") or {}
        if ref is None or rec is ref or not theirs or ref.get("status") != "completed":
            continue
        key = RUNNERS[rec["kind"]].main_key
        if theirs.get(key) != ref["metrics"].get(key):
            rec["other_run"] = True
            marked = True
    return marked


def render_tables(records: list[dict[str, Any]]) -> str:
    """Markdown: per model/precision/mode, training and inference side by side (Table 2 style, ratios)."""
    return "".join(
        f"\n#### {model}, {precision}, {mode}\n\n{table}"
        for (model, precision, mode), table in bench_tables(records).items()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kronbench.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="bench plan YAML (conf/bench/*.yaml)")
    parser.add_argument(
        "--render", action="store_true", help="print the markdown tables of output_dir's records"
    )
    parser.add_argument("overrides", nargs="*", help="key=value (YAML values), dotted keys for nested fields")
    args = parser.parse_args(argv)
    plan = load_plan(Path(args.config), args.overrides)
    if args.render:
        out_dir = Path(plan.get("output_dir", "outputs/bench"))
        print(render_tables(load_records(project_dir() / out_dir)))
        return
    t0 = time.perf_counter()
    records = run_plan(plan)
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    print(f"[bench] {len(records)} records in {time.perf_counter() - t0:.0f} s: {counts}")


if __name__ == "__main__":
    main()
