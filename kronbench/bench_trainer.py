"""`make bench-trainer`: the speed of the real trainer, eager vs compiled — not of a kernel in isolation.

Each scenario (a model and a task: BERT-base random weights on RTE text, MiniLM on GLUE) runs every listed method
through `kronbench.run.run` — the same data loading, optimizer, accelerate and evaluation code a user runs — for a
fixed schedule, in each of `MODES`: eagerly, compiled block by block, and compiled whole as CUDA graphs. Runs are
repeated in `rounds` with the order rotating, so host-side drift lands on every entry alike; a record per
(scenario, method, mode) holds the median over rounds of the steady-state step time and samples per second (the
trainer's own `timing`), their spread, the compile state and the ratio to the scenario's reference method in the
same mode.

Run: python -m kronbench.bench_trainer [--config conf/bench/trainer.yaml] [key=value ...]
Records: <output_dir>/trainer/<scenario>/<method>-<eager|compiled|cudagraphs>.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from kronbench.bench import load_plan
from kronbench.config import register_schemas
from kronbench.paths import CONF_DIR, project_dir
from kronbench.results import environment, write_json_atomic

DEFAULT_CONFIG = CONF_DIR / "bench" / "trainer.yaml"
# how a run executes: eagerly; compiled block by block (train.compile's default); the whole model compiled and
# replayed as CUDA graphs, which a host-bound step needs to launch a few graphs instead of ~900 kernels
MODES = {
    "eager": ["train.compile=false"],
    "compiled": ["train.compile=true"],
    "cudagraphs": ["train.compile=true", "train.compile_scope=model", "train.compile_mode=reduce-overhead"],
}
COMPILED_MODES = ("compiled", "cudagraphs")


def run_once(overrides: list[str], output_dir: Path) -> dict[str, Any]:
    """One real run (forced, in a scratch output folder) and its record."""
    from kronbench.run import run

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"output_dir={output_dir}", "force=true"])
    return run(cfg)


WARM_UP_STEPS = 2  # enough to compile a run's training and (at its end) evaluation variants


def warm_compile_cache(overrides: list[list[str]], processes: int, scratch: Path) -> None:
    """Compile every compiled entry once, `processes` short runs at a time, before anything is timed.

    Inductor and AOT autograd keep what they compile in an on-disk cache shared by processes, so the timed rounds
    that follow trace their graphs again but load the compiled kernels (as a sweep's later runs do): a scenario of
    many methods compiles in parallel instead of one cold compile after another inside the timed sequence.
    """
    pending = list(enumerate(overrides))
    running: list[tuple[subprocess.Popen, Path]] = []
    failed: list[str] = []
    while pending or running:
        while pending and len(running) < processes:
            index, entry = pending.pop(0)
            run_overrides = [*entry, f"train.max_steps={WARM_UP_STEPS}", "train.profile_steps=0"]
            log_path = scratch / f"warm-{index}.log"
            command = [sys.executable, "-m", "kronbench.bench_trainer", "--warm-run", json.dumps(run_overrides),
                       "--warm-dir", str(scratch / f"warm-{index}")]  # fmt: skip
            with log_path.open("w") as log_file:
                process = subprocess.Popen(
                    command, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ.copy()
                )
            running.append((process, log_path))
        process, log_path = running.pop(0)
        if process.wait() != 0:
            failed.append(f"{log_path}: {log_path.read_text()[-2000:]}")
    # the timed run of the same entry would fail the same way: say so now, with the compiler's words
    if failed:
        raise RuntimeError("compile warm-up failed:\n" + "\n".join(failed))


def spread(values: list[float]) -> list[float]:
    return [round(min(values), 4), round(max(values), 4)] if values else []


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of the trainer's steady step time and throughput, with their min/max."""
    steps = [r["timing"].get("steady_step_ms") for r in records]
    steps = [s for s in steps if s is not None]
    rates = [r["timing"]["train_samples_per_second"] for r in records]
    scores = [r["metrics"]["score"] for r in records]
    compiles = [r["timing"].get("compile") or {} for r in records]
    profiles = [r["timing"].get("profile") or {} for r in records]
    kernel = [p["gpu_kernel_ms_per_step"] for p in profiles if p.get("gpu_kernel_ms_per_step")]
    step_ms = round(statistics.median(steps), 4) if steps else None
    kernel_ms = round(statistics.median(kernel), 4) if kernel else None
    return {
        "steady_step_ms": step_ms,
        "steady_step_ms_spread": spread(steps),
        # the device's own kernel time per step (train.profile_steps): a step far above it is host-bound
        "gpu_kernel_ms": kernel_ms,
        "gpu_kernel_ms_spread": spread(kernel),
        "step_over_kernel": round(step_ms / kernel_ms, 4) if step_ms and kernel_ms else None,
        "kernel_launches_per_step": profiles[-1].get("kernel_launches_per_step"),
        "train_samples_per_second": round(statistics.median(rates), 3),
        "train_samples_per_second_spread": spread(rates),
        # the whole run: model and data loading, compilation, training and evaluation
        "run_seconds": round(statistics.median(r["timing"]["wall_seconds"] for r in records), 2),
        "run_seconds_spread": spread([r["timing"]["wall_seconds"] for r in records]),
        "compile": compiles[-1],
        # every round compiled, and no frame fell back to eager past Dynamo's recompile limit
        "compiled_every_round": all(c.get("used") and not c.get("recompile_limit_hits") for c in compiles),
        "trainable": records[-1].get("params", {}).get("trainable"),
        "score": round(statistics.median(scores), 4),
        "scores": [round(v, 4) for v in scores],  # per round (its seed: `seeds` when seed_per_round)
        "seeds": [r.get("seed") for r in records],
        "rounds": len(records),
    }


def bench_scenario(
    name: str, spec: dict[str, Any], plan: dict[str, Any], scratch: Path
) -> list[dict[str, Any]]:
    """Every (method, mode) of one scenario, in interleaved rounds; one record dict each."""
    methods: dict[str, list[str]] = spec["methods"]
    wanted = plan.get("methods_to_run")  # a subset of the scenario's methods (one device call each), else all
    if wanted:
        unknown = sorted(set(wanted) - set(methods))
        if unknown:
            raise ValueError(f"methods_to_run {unknown} not in scenario {name!r}; valid: {sorted(methods)}")
        methods = {m: methods[m] for m in methods if m in wanted}
    modes = list(plan.get("modes", list(MODES)))
    if unknown_modes := sorted(set(modes) - set(MODES)):
        raise ValueError(f"modes {unknown_modes} are not valid; choose from {list(MODES)}")
    entries = [(method, mode) for method in methods for mode in modes]

    def entry_overrides(method: str, mode: str) -> list[str]:
        return [*spec["overrides"], *plan.get("overrides", []), *methods[method], *MODES[mode]]

    warm_processes = int(plan.get("warm_compile_processes", 0))
    compiled = [entry_overrides(method, mode) for method, mode in entries if mode in COMPILED_MODES]
    if warm_processes and compiled:
        warm_dir = scratch / f"{name}-warm"
        warm_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        warm_compile_cache(compiled, warm_processes, warm_dir)
        print(
            f"{name}: compile warm-up of {len(compiled)} entries took {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {e: [] for e in entries}
    for round_index in range(int(plan.get("rounds", 3))):
        shift = round_index % len(entries)
        for method, mode in entries[shift:] + entries[:shift]:
            overrides = entry_overrides(method, mode)
            if spec.get("seed_per_round"):  # round i trains with seed i: scores over rounds show seed noise
                overrides.append(f"seed={round_index}")
            record = run_once(overrides, scratch / f"{name}-{method}-{mode}")
            runs[(method, mode)].append(record)
            timing = record["timing"]
            print(  # progress: a long bench shows its runs as they finish
                f"round {round_index + 1} {name} {method} {mode}: step {timing.get('steady_step_ms')} ms, "
                f"run {timing['wall_seconds']} s, compile {timing.get('compile')}",
                flush=True,
            )
    summaries = {entry: summarise(records) for entry, records in runs.items()}
    reference = spec.get("reference", next(iter(methods)))
    out = []
    for (method, mode), summary in summaries.items():
        ref = summaries.get((reference, mode), {}).get("steady_step_ms")
        eager = summaries.get((method, "eager"), {}).get("steady_step_ms")
        ratio = None if not ref or summary["steady_step_ms"] is None else summary["steady_step_ms"] / ref
        speedup = (
            None if not eager or summary["steady_step_ms"] is None else eager / summary["steady_step_ms"]
        )
        out.append(
            {
                "scenario": name,
                "method": method,
                "mode": mode,
                "reference": reference,
                **summary,
                "ratio_to_reference": None if ratio is None else round(ratio, 4),
                "speedup_over_eager": None if speedup is None else round(speedup, 4),
                "overrides": entry_overrides(method, mode),
            }
        )
    return out


NOTE = (
    "Each row: the real trainer (`python -m kronbench`) for a fixed schedule; medians over "
    "interleaved rounds with [min, max]. *step* is the steady wall time of an optimizer step, *kernel* the GPU "
    "kernel time of the same step (profiler window, `train.profile_steps`), *×ref* the step over the scenario's "
    "reference method in the same mode, *×eager* the eager step over this one, *compiled* whether every round "
    "ran compiled (no fallback, no frame left eager at Dynamo's recompile limit), *run s* the whole run (loading, "
    "compilation, training, evaluation)."
)


def _num(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(records: list[dict[str, Any]]) -> dict[str, str]:
    """Markdown per scenario from `make bench-trainer` records (kind "trainer"), methods in record order."""
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_scenario.setdefault(rec["scenario"], []).append(rec)
    out = {}
    for scenario, recs in by_scenario.items():
        gpu = (recs[0].get("env") or {}).get("gpu") or "no GPU"
        lines = [
            f"{gpu}; reference {recs[0].get('reference')}; {recs[0].get('rounds')} rounds.",
            "",
            "| method | mode | step ms [min, max] | kernel ms | step / kernel | samples/s | ×ref | ×eager "
            "| compiled | run s | score per round |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(recs, key=lambda r: (r["method"], r["mode"])):
            lo_hi = r.get("steady_step_ms_spread") or []
            spread_text = f" [{_num(lo_hi[0])}, {_num(lo_hi[1])}]" if len(lo_hi) == 2 else ""
            compiled = r.get("compiled_every_round", (r.get("compile") or {}).get("used"))
            scores = " / ".join(_num(v, 1) for v in r.get("scores") or [r.get("score")])
            lines.append(
                f"| {r['method']} | {r['mode']} | {_num(r['steady_step_ms'])}{spread_text} "
                f"| {_num(r.get('gpu_kernel_ms'))} | {_num(r.get('step_over_kernel'))} "
                f"| {_num(r.get('train_samples_per_second'), 0)} | {_num(r.get('ratio_to_reference'), 3)} "
                f"| {_num(r.get('speedup_over_eager'), 2)} | {'yes' if compiled else 'no'} "
                f"| {_num(r.get('run_seconds'), 0)} | {scores} |"
            )
        out[scenario] = "\n".join(lines) + "\n"
    return out


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(
        prog="python -m kronbench.bench_trainer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the plan (YAML values)")
    # internal: one short run of a compiled entry (warm_compile_cache starts these in parallel)
    parser.add_argument("--warm-run", help=argparse.SUPPRESS)
    parser.add_argument("--warm-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    register_schemas()
    from kronbench import methods as _methods  # noqa: F401  (registers method schemas)

    if args.warm_run:
        run_once(json.loads(args.warm_run), args.warm_dir)
        return []
    plan = load_plan(args.config, args.overrides)
    if unknown := sorted(set(plan["scenarios_to_run"]) - set(plan["scenarios"])):
        raise ValueError(
            f"scenarios_to_run {unknown} are not in the plan; valid: {sorted(plan['scenarios'])}"
        )
    out_dir = project_dir() / plan.get("output_dir", "outputs/bench") / "trainer"
    env = environment()
    written = []
    with tempfile.TemporaryDirectory(prefix="kronbench-bench-trainer-") as scratch:
        for name in plan["scenarios_to_run"]:
            for record in bench_scenario(name, plan["scenarios"][name], plan, Path(scratch)):
                path = out_dir / name / f"{record['method']}-{record['mode']}.json"
                write_json_atomic(path, {"kind": "trainer", "schema_version": 1, **record, "env": env})
                written.append(path)
                print(
                    f"{name:<16} {record['method']:<10} {record['mode']:<9} "
                    f"step {record['steady_step_ms']} ms  {record['train_samples_per_second']} samples/s  "
                    f"x{record['ratio_to_reference']} of {record['reference']}  speedup {record['speedup_over_eager']}"
                )
    return written


def cli() -> None:
    """The `kronbench-bench-trainer` console command (a console script exits with what it returns: nothing)."""
    main()


if __name__ == "__main__":
    cli()
