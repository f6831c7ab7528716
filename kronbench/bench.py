"""`make bench`: training step time, throughput, peak memory, FLOPs and inference latency per method.

`python -m kronbench.bench [--config conf/bench/default.yaml] [key=value ...]` (values parsed as YAML, e.g.
`models=[bert-base] precisions=[bf16] compile=[false] quick=true`). No Hydra composition: the plan is one YAML file.

For each model (random weights of the real size), precision (fp32 / bf16 autocast) and compile setting, in one
process: the reference first (full fine-tuning for training, the bare model for inference), then every method,
each on a freshly built model. Every figure is also a ratio to that reference, so records compare across machines.
Methods resolve through the registry by name; one not registered yet is recorded as `skipped` with the reason.
One JSON record per benchmark under `output_dir` (`<model>/<precision>-<mode>/<kind>/<name>.json`).
"""

from __future__ import annotations

import argparse
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
from kronbench.config import ModelConfig, SiteConfig
from kronbench.registry import METHOD_SCHEMAS, METHODS, get_method
from kronbench.results import environment, write_json_atomic

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"
DEFAULT_CONFIG = CONF_DIR / "bench" / "default.yaml"
BENCH_SCHEMA = 1
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


def peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


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


def bench_train(
    entry: dict[str, Any],
    spec: dict[str, Any],
    mcfg: ModelConfig,
    plan: dict[str, Any],
    setting: dict[str, Any],
) -> dict[str, Any]:
    device, dtype, compiled = setting["device"], setting["dtype"], setting["compile"]
    tcfg = plan["train"]
    model, method, params = prepare(entry, spec, mcfg, device)
    model.train()
    batch = make_batch(spec, tcfg["batch_size"], tcfg["seq_len"], device, train=True)
    step, set_forward = train_step_fn(model, method, batch, dtype)
    flops = count_flops(step) if plan.get("flops", True) else None
    if compiled:
        set_forward(torch.compile(model))
    for _ in range(tcfg["warmup"]):
        step()
    sync(device)
    reset_peak(device)
    times = []
    gc.collect()
    gc.disable()  # a collection inside the timed loop would land on one method at random
    try:
        for _ in range(tcfg["steps"]):
            t0 = time.perf_counter()
            step()
            sync(device)
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    med = statistics.median(times)
    return {
        "params": params,
        "step_ms": med * 1e3,
        "step_ms_mean": statistics.fmean(times) * 1e3,
        "step_ms_p10": sorted(times)[len(times) // 10] * 1e3,
        "samples_per_s": tcfg["batch_size"] / med,
        "peak_mem_mb": peak_mb(device),
        "flops_per_step": flops,
        "two_pass": bool(method is not None and method.two_pass),
        "protocol": {k: tcfg[k] for k in ("batch_size", "seq_len", "warmup", "steps")}
        | {"optimizer": "adamw"},
    }


def bench_infer(
    entry: dict[str, Any],
    spec: dict[str, Any],
    mcfg: ModelConfig,
    proto: dict[str, Any],
    setting: dict[str, Any],
) -> dict[str, Any]:
    device, dtype, compiled = setting["device"], setting["dtype"], setting["compile"]
    model, method, params = prepare(entry, spec, mcfg, device)
    model.eval()
    if entry.get("merged"):
        if method is None or not method.mergeable:
            raise Skip(f"method {entry['method']!r} is not mergeable")
        with torch.no_grad():
            model = method.merge_and_unload(model)  # the deployable model: the base architecture exactly
    forward = torch.compile(model) if compiled else model
    batch = make_batch(spec, proto["batch_size"], proto["seq_len"], device, train=False)
    lat = []
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
    ):
        for _ in range(proto["warmup"]):
            forward(**batch)
        for _ in range(proto.get("repeats", 1)):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(proto["iters"]):
                forward(**batch)
            sync(device)
            lat.append((time.perf_counter() - t0) / proto["iters"])
    return {
        "params": params,
        "latency_ms": statistics.fmean(lat) * 1e3,
        "latency_ms_repeats": [x * 1e3 for x in lat],
        "merged": bool(entry.get("merged")),
        "protocol": dict(proto),
    }


# ------------------------------------------------------------------------------------------------- the plan
RATIO_KEYS = {
    "train": ("step_ms", "peak_mem_mb", "flops_per_step", "samples_per_s"),
    "infer": ("latency_ms",),
}


def entry_name(entry: dict[str, Any]) -> str:
    name = entry.get("name") or entry["method"]
    return name + ("-merged" if entry.get("merged") else "")


def run_one(
    kind: str, entry: dict[str, Any], ctx: dict[str, Any], ref: dict[str, Any] | None, out_dir: Path
) -> dict[str, Any]:
    """Run one benchmark (recording skips and failures) and write its record with ratios to `ref`."""
    setting, plan, model_name = ctx["setting"], ctx["plan"], ctx["model_name"]
    record: dict[str, Any] = {
        "schema": BENCH_SCHEMA,
        "kind": kind,
        "model": model_name,
        "method": entry["method"],
        "name": entry_name(entry),
        "group": entry.get("group", "main"),
        "method_overrides": entry.get("overrides", {}),
        "precision": setting["precision"],
        "compile": setting["compile"],
        "model_config": ctx["spec"].get("config", {}),
    }
    t0 = time.perf_counter()
    try:
        if kind == "train":
            record["metrics"] = bench_train(entry, ctx["spec"], ctx["mcfg"], plan, setting)
        else:
            record["protocol_name"] = ctx["proto_name"]
            record["metrics"] = bench_infer(entry, ctx["spec"], ctx["mcfg"], ctx["proto"], setting)
        record["status"] = "completed"
    except Skip as err:
        record.update(status="skipped", reason=str(err))
    except Exception as err:  # noqa: BLE001  (one failing method must not stop the bench)
        record.update(
            status="failed", reason=f"{type(err).__name__}: {err}", traceback=traceback.format_exc()
        )
    record["wall_s"] = time.perf_counter() - t0
    if record["status"] == "completed" and ref and ref.get("status") == "completed":
        ratios = {}
        for key in RATIO_KEYS[kind]:
            ours, theirs = record["metrics"].get(key), ref["metrics"].get(key)
            if ours is not None and theirs:
                ratios[key] = ours / theirs
        record["ratios"] = ratios
        record["reference"] = ref["name"]
    record["env"] = ctx["env"]
    sub = f"{setting['precision']}-{'compile' if setting['compile'] else 'eager'}"
    proto = f"-{ctx['proto_name']}" if kind == "infer" else ""
    write_json_atomic(out_dir / model_name / sub / f"{kind}{proto}" / f"{record['name']}.json", record)
    gc.collect()
    if setting["device"].type == "cuda":
        torch.cuda.empty_cache()
    status = record["status"]
    fig = ""
    if status == "completed":
        m = record["metrics"]
        fig = f"{m['step_ms']:.2f} ms/step" if kind == "train" else f"{m['latency_ms']:.3f} ms"
        if record.get("ratios"):
            fig += f" ({next(iter(record['ratios'].values())):.3f}x)"
    print(
        f"[bench] {model_name} {sub} {kind}{proto} {record['name']}: {status} {fig} {record.get('reason', '')}"
    )
    return record


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


def selected(name: str, wanted: list[str] | None) -> bool:
    return wanted is None or name in wanted


def run_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Run every benchmark of the plan; return the records."""
    device = torch.device(plan.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(plan.get("tf32", True))
        torch.backends.cudnn.allow_tf32 = bool(plan.get("tf32", True))
    out_dir = Path(plan.get("output_dir", "results/bench"))
    if not out_dir.is_absolute():
        out_dir = REPO / out_dir
    env = environment() | {"tf32": bool(plan.get("tf32", True))}
    records = []
    only = plan.get("only")  # restrict to these entry names (quick runs)
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
                restrict = (plan.get("compile_methods") or None) if compiled else None
                restrict_p = plan.get("fp32_methods") if precision == "fp32" else None
                ctx = {"setting": setting, "plan": plan, "model_name": model_name, "spec": spec, "mcfg": mcfg}
                ctx["env"] = env
                train = expand_entries(plan, "train_methods")
                if precision == plan.get("sweep_precision", "bf16") and not compiled:
                    train += sweep_entries(plan)
                ref = None
                for entry in train:
                    name = entry_name(entry)
                    if entry["method"] != TRAIN_REF and not (
                        selected(name, restrict) and selected(name, restrict_p) and selected(name, only)
                    ):
                        continue
                    rec = run_one("train", entry, ctx, ref, out_dir)
                    ref = rec if entry["method"] == TRAIN_REF else ref
                    records.append(rec)
                for proto_name, proto in plan.get("inference", {}).items():
                    ctx |= {"proto_name": proto_name, "proto": proto}
                    ref = None
                    for entry in [{"method": INFER_REF}] + expand_entries(plan, "infer_methods"):
                        name = entry_name(entry)
                        if entry["method"] != INFER_REF and not (
                            selected(name, restrict) and selected(name, restrict_p) and selected(name, only)
                        ):
                            continue
                        rec = run_one("infer", entry, ctx, ref, out_dir)
                        ref = rec if entry["method"] == INFER_REF else ref
                        records.append(rec)
    return records


# -------------------------------------------------------------------------------------------------- tables
def load_records(out_dir: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(p.read_text()) for p in sorted(out_dir.rglob("*.json"))]


def _fmt(rec: dict[str, Any], key: str, ratio: bool = True, digits: int = 2) -> str:
    if rec.get("status") != "completed":
        return rec.get("status", "—")
    value = rec["metrics"].get(key)
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    if ratio and key in rec.get("ratios", {}):
        text += f" ({rec['ratios'][key]:.2f})"
    return text


def render_tables(records: list[dict[str, Any]]) -> str:
    """Markdown: per model/precision/mode, training and inference side by side (Table 2 style, ratios)."""
    lines = []
    keyed: dict[tuple, dict[str, dict]] = {}
    for rec in records:
        key = (rec["model"], rec["precision"], "compile" if rec["compile"] else "eager")
        slot = rec["kind"] if rec["kind"] == "train" else f"infer-{rec.get('protocol_name')}"
        keyed.setdefault(key, {}).setdefault(rec["name"], {})[slot] = rec
    for (model, precision, mode), by_name in keyed.items():
        protos = sorted({s for d in by_name.values() for s in d if s.startswith("infer-")})
        lines += [f"\n#### {model}, {precision}, {mode}\n"]
        head = "| method | trainable | step ms (×full) | samples/s | peak MB (×full) | GFLOP/step (×full) |"
        head += "".join(f" {p[6:]} ms (×base) |" for p in protos)
        lines += [head, "|" + "---|" * (6 + len(protos))]
        for name, slots in by_name.items():
            tr = slots.get("train")
            row = f"| {name} | "
            if tr:
                params = tr.get("metrics", {}).get("params", {})
                row += f"{params.get('trainable', '—')} | {_fmt(tr, 'step_ms')} | {_fmt(tr, 'samples_per_s', False, 1)}"
                row += f" | {_fmt(tr, 'peak_mem_mb', True, 0)} | "
                fl = tr.get("metrics", {}).get("flops_per_step")
                row += (
                    f"{fl / 1e9:.0f} ({tr.get('ratios', {}).get('flops_per_step', 0):.2f}) |" if fl else "— |"
                )
            else:
                row += "| | | | |"
            for p in protos:
                rec = slots.get(p)
                row += f" {_fmt(rec, 'latency_ms', True, 3) if rec else ''} |"
            lines.append(row)
    return "\n".join(lines) + "\n"


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
        out_dir = Path(plan.get("output_dir", "results/bench"))
        print(render_tables(load_records(out_dir if out_dir.is_absolute() else REPO / out_dir)))
        return
    t0 = time.perf_counter()
    records = run_plan(plan)
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    print(f"[bench] {len(records)} records in {time.perf_counter() - t0:.0f} s: {counts}")


if __name__ == "__main__":
    main()
