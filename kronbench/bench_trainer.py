"""`make bench-trainer`: the speed of the real trainer, eager vs compiled — not of a kernel in isolation.

Each scenario (a model and a task: BERT-base random weights on RTE text, MiniLM on GLUE) runs every listed method
through `kronbench.run.run` — the same data loading, optimizer, accelerate and evaluation code a user runs — for a
fixed schedule, in each of its `MODES`: eagerly, compiled block by block, and compiled whole as CUDA graphs. Runs
are repeated in `rounds` with the order rotating, so host-side drift lands on every entry alike; a record per
(scenario, method, mode) holds the median over rounds of the steady-state step time and samples per second (the
trainer's own `timing`), their spread, the compile state and the ratio to the method's reference in the same mode.

Every run also leaves its own record (`runs/<method>-<mode>-round<i>.json`): a summary names exactly the runs it
comes from, and a bench cut short (a time limit, a lost machine) resumes where it stopped — a run whose record
exists for the same overrides, code and GPU is not run again (`force=true`: rerun all). `devices` spreads the
scenarios over several GPUs of one host, one scenario per GPU at a time.

Run: python -m kronbench.bench_trainer [--config conf/bench/trainer.yaml] [key=value ...]
Records: <output_dir>/trainer/<scenario>/<method>-<mode>.json and <output_dir>/trainer/<scenario>/runs/
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from kronbench.bench import load_plan
from kronbench.config import register_schemas
from kronbench.launch import visible_gpus
from kronbench.paths import CONF_DIR, project_dir
from kronbench.results import environment, write_json_atomic
from kronbench.tables.records import TRAINER_RUN_KIND, read_json

DEFAULT_CONFIG = CONF_DIR / "bench" / "trainer.yaml"
# how a run executes: eagerly; compiled block by block (train.compile's default); the whole model compiled and
# replayed as CUDA graphs, which a host-bound step needs to launch a few graphs instead of ~900 kernels
MODES = {
    "eager": ["train.compile=false"],
    "compiled": ["train.compile=true"],
    "cudagraphs": ["train.compile=true", "train.compile_scope=model", "train.compile_mode=reduce-overhead"],
    # CUDA graphs with inductor's autotuned Triton matmuls (on request: `modes=[cudagraphs, autotune]`); its warm-up
    # benchmarks kernel choices, so give it `warm_compile_processes=1` (parallel warm-ups share the GPU)
    "autotune": ["train.compile=true", "train.compile_scope=model", "train.compile_mode=max-autotune"],
}
COMPILED_MODES = ("compiled", "cudagraphs", "autotune")
DEFAULT_MODES = ("eager", "compiled", "cudagraphs")  # a scenario that names no modes


def run_once(overrides: list[str], output_dir: Path) -> dict[str, Any]:
    """One real run (forced, in a scratch output folder) and its record."""
    from kronbench.run import run

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"output_dir={output_dir}", "force=true"])
    return run(cfg)


WARM_UP_STEPS = 2  # enough to compile a run's training and (at its end) evaluation variants


def run_processes(
    jobs: list[Any], slots: list[Any], start: Callable[[Any, Any], subprocess.Popen]
) -> list[tuple[Any, Any, subprocess.Popen]]:
    """Run `start(job, slot)` for every job, one process per free slot at a time, a job starting as soon as any
    process ends; return (job, slot, finished process) for each job, in the order they finished."""
    pending, free = list(jobs), list(slots)
    running: list[tuple[Any, Any, subprocess.Popen]] = []
    finished: list[tuple[Any, Any, subprocess.Popen]] = []
    while pending or running:
        while pending and free:
            job, slot = pending.pop(0), free.pop(0)
            running.append((job, slot, start(job, slot)))
        time.sleep(0.2)
        for item in [r for r in running if r[2].poll() is not None]:
            running.remove(item)
            free.append(item[1])
            finished.append(item)
    return finished


def warm_compile_cache(overrides: list[list[str]], processes: int, scratch: Path) -> None:
    """Compile every compiled entry once, `processes` short runs at a time, before anything is timed.

    Inductor and AOT autograd keep what they compile in an on-disk cache shared by processes, so the timed rounds
    that follow trace their graphs again but load the compiled kernels (as a sweep's later runs do): a scenario of
    many methods compiles in parallel instead of one cold compile after another inside the timed sequence.
    """

    def start(job: tuple[int, list[str]], slot: int) -> subprocess.Popen:
        index, entry = job
        run_overrides = [*entry, f"train.max_steps={WARM_UP_STEPS}", "train.profile_steps=0"]
        command = [sys.executable, "-m", "kronbench.bench_trainer", "--warm-run", json.dumps(run_overrides),
                   "--warm-dir", str(scratch / f"warm-{index}")]  # fmt: skip
        with (scratch / f"warm-{index}.log").open("w") as log_file:
            return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ.copy())

    finished = run_processes(list(enumerate(overrides)), list(range(processes)), start)
    logs = [scratch / f"warm-{index}.log" for (index, _), _, process in sorted(finished, key=lambda f: f[0][0])
            if process.returncode != 0]  # fmt: skip
    # the timed run of the same entry would fail the same way: say so now, with the compiler's words
    if logs:
        raise RuntimeError(
            "compile warm-up failed:\n" + "\n".join(f"{p}: {p.read_text()[-2000:]}" for p in logs)
        )


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
        # the last round's kernels with the most device time per step: where the kernel time goes
        "top_kernels": profiles[-1].get("top_kernels"),
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


def machine_id() -> str | None:
    """This boot of this machine (Linux's boot id): the runs of one summary say how many machines they ran on."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def bench_environment() -> dict[str, Any]:
    return {**environment(), "machine": machine_id()}


def run_file(runs_dir: Path, method: str, mode: str, round_index: int) -> Path:
    return runs_dir / f"{method}-{mode}-round{round_index + 1}.json"


def run_record(
    scenario: str, method: str, mode: str, round_index: int, overrides: list[str], record: dict[str, Any],
    env: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """What a summary needs of one run, with what it ran (overrides, code, GPU, machine)."""
    return {
        "kind": TRAINER_RUN_KIND,
        "schema_version": 1,
        "scenario": scenario,
        "method": method,
        "mode": mode,
        "round": round_index + 1,
        "overrides": overrides,
        "seed": record.get("seed"),
        "metrics": {"score": record["metrics"]["score"]},
        "params": {"trainable": record.get("params", {}).get("trainable")},
        "timing": record["timing"],
        "memory": record.get("memory"),
        "env": env,
    }


def reusable_run(
    path: Path, overrides: list[str], env: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """(the run record at `path`, None) when it ran these overrides with this code on this GPU model; else (None,
    why not) — (None, None) when there is no record."""
    if not path.exists():
        return None, None
    data, problem = read_json(path)
    if problem is not None or not isinstance(data, dict) or data.get("kind") != TRAINER_RUN_KIND:
        return None, problem or "not a trainer-bench run record"
    old_env = data.get("env") or {}
    if data.get("overrides") != overrides:
        return None, "other overrides"
    if old_env.get("code_fingerprint") != env.get("code_fingerprint"):
        return None, f"other code (fingerprint {old_env.get('code_fingerprint')})"
    if old_env.get("gpu") != env.get("gpu"):
        return None, f"another GPU model ({old_env.get('gpu')})"
    return data, None


def scenario_modes(spec: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    """The plan's `modes` when given (a command-line choice), else the scenario's own, else `DEFAULT_MODES`."""
    modes = list(plan.get("modes") or spec.get("modes") or DEFAULT_MODES)
    if unknown_modes := sorted(set(modes) - set(MODES)):
        raise ValueError(f"modes {unknown_modes} are not valid; choose from {list(MODES)}")
    return modes


def method_reference(spec: dict[str, Any], method: str) -> str:
    """The method a ratio is taken against: `references[method]` (AdaKron: Pfeiffer), else `reference`."""
    return (spec.get("references") or {}).get(method, spec.get("reference", next(iter(spec["methods"]))))


def scenario_entries(name: str, spec: dict[str, Any], plan: dict[str, Any]) -> list[tuple[str, str]]:
    """The scenario's (method, mode) entries to run — `methods_to_run` or all methods, in each of its modes — or an
    error naming the bad method, mode or reference."""
    methods: dict[str, list[str]] = spec["methods"]
    wanted = plan.get("methods_to_run")  # a subset of the scenario's methods (one device call each), else all
    if wanted:
        unknown = sorted(set(wanted) - set(methods))
        if unknown:
            raise ValueError(f"methods_to_run {unknown} not in scenario {name!r}; valid: {sorted(methods)}")
        methods = {m: methods[m] for m in methods if m in wanted}
    for method in methods:
        if (reference := method_reference(spec, method)) not in spec["methods"]:
            raise ValueError(
                f"scenario {name!r}: reference {reference!r} of {method!r} is not one of its methods "
                f"{sorted(spec['methods'])}"
            )
    return [(method, mode) for method in methods for mode in scenario_modes(spec, plan)]


def entry_overrides(spec: dict[str, Any], plan: dict[str, Any], method: str, mode: str) -> list[str]:
    """A (method, mode) entry's run overrides: the scenario's, the plan's, the method's, the mode's."""
    return [*spec["overrides"], *plan.get("overrides", []), *spec["methods"][method], *MODES[mode]]


def round_overrides(
    spec: dict[str, Any], plan: dict[str, Any], method: str, mode: str, round_index: int
) -> list[str]:
    """The entry's overrides in one round (`seed_per_round`: round i trains with seed i, so the scores over rounds
    show seed noise)."""
    seed = [f"seed={round_index}"] if spec.get("seed_per_round") else []
    return [*entry_overrides(spec, plan, method, mode), *seed]


def kept_runs(
    spec: dict[str, Any], plan: dict[str, Any], entries: list[tuple[str, str]], runs_dir: Path | None,
    env: dict[str, Any],
) -> dict[tuple[int, str, str], dict[str, Any]]:  # fmt: skip
    """The (round, method, mode) runs whose records `runs_dir` already holds for this code and GPU model."""
    done: dict[tuple[int, str, str], dict[str, Any]] = {}
    if runs_dir is None or plan.get("force"):
        return done
    for round_index in range(int(plan.get("rounds", 3))):
        for method, mode in entries:
            path = run_file(runs_dir, method, mode, round_index)
            found, stale = reusable_run(path, round_overrides(spec, plan, method, mode, round_index), env)
            if found is not None:
                done[(round_index, method, mode)] = found
            elif stale:
                print(f"{path}: not kept ({stale}); this run is made again", flush=True)
    return done


def entries_to_compile(
    spec: dict[str, Any], plan: dict[str, Any], entries: list[tuple[str, str]],
    done: dict[tuple[int, str, str], dict[str, Any]],
) -> list[list[str]]:  # fmt: skip
    """The overrides of every compiled entry with a run still to make (what the compile warm-up runs)."""
    rounds = range(int(plan.get("rounds", 3)))
    return [
        round_overrides(spec, plan, method, mode, 0)
        for method, mode in entries
        if mode in COMPILED_MODES and any((r, method, mode) not in done for r in rounds)
    ]


def warm_up(name: str, compiled: list[list[str]], plan: dict[str, Any], scratch: Path) -> None:
    """`warm_compile_cache` of `compiled` with the plan's process count (0: no warm-up), timed."""
    processes = int(plan.get("warm_compile_processes", 0))
    if not processes or not compiled:
        return
    warm_dir = scratch / f"{name}-warm"
    warm_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    warm_compile_cache(compiled, processes, warm_dir)
    print(
        f"{name}: compile warm-up of {len(compiled)} entries took {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def bench_scenario(
    name: str,
    spec: dict[str, Any],
    plan: dict[str, Any],
    scratch: Path,
    runs_dir: Path | None = None,
    env: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every (method, mode) of one scenario, in interleaved rounds; one record dict each.

    `runs_dir`: where each run's record is written, and read back instead of running again when it ran the same
    overrides with the same code on the same GPU model (unless the plan says `force: true`); None: not kept.
    """
    entries = scenario_entries(name, spec, plan)
    rounds = int(plan.get("rounds", 3))
    env = env if env is not None else bench_environment()
    done = kept_runs(spec, plan, entries, runs_dir, env)
    warm_up(name, entries_to_compile(spec, plan, entries, done), plan, scratch)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {e: [] for e in entries}
    run_names: dict[tuple[str, str], list[str]] = {e: [] for e in entries}
    for round_index in range(rounds):
        shift = round_index % len(entries)
        for method, mode in entries[shift:] + entries[:shift]:
            overrides = round_overrides(spec, plan, method, mode, round_index)
            record = done.get((round_index, method, mode))
            how = "kept from an earlier call"
            if record is None:
                result = run_once(overrides, scratch / f"{name}-{method}-{mode}")
                record = run_record(name, method, mode, round_index, overrides, result, env)
                how = "ran"
                if runs_dir is not None:
                    write_json_atomic(run_file(runs_dir, method, mode, round_index), record)
            runs[(method, mode)].append(record)
            run_names[(method, mode)].append(run_file(Path("runs"), method, mode, round_index).as_posix())
            timing = record["timing"]
            print(  # progress: a long bench shows its runs as they finish
                f"round {round_index + 1} {name} {method} {mode} ({how}): step {timing.get('steady_step_ms')} "
                f"ms, run {timing['wall_seconds']} s, compile {timing.get('compile')}",
                flush=True,
            )
    summaries = {entry: summarise(records) for entry, records in runs.items()}
    out = []
    for (method, mode), summary in summaries.items():
        reference = method_reference(spec, method)
        ref = summaries.get((reference, mode), {}).get("steady_step_ms")
        eager = summaries.get((method, "eager"), {}).get("steady_step_ms")
        ratio = None if not ref or summary["steady_step_ms"] is None else summary["steady_step_ms"] / ref
        speedup = (
            None if not eager or summary["steady_step_ms"] is None else eager / summary["steady_step_ms"]
        )
        machines = {(r.get("env") or {}).get("machine") for r in runs[(method, mode)]}
        out.append(
            {
                "scenario": name,
                "method": method,
                "mode": mode,
                "reference": reference,
                **summary,
                "ratio_to_reference": None if ratio is None else round(ratio, 4),
                "speedup_over_eager": None if speedup is None else round(speedup, 4),
                "overrides": entry_overrides(spec, plan, method, mode),
                # the run records this summary comes from (relative to the scenario's folder), one per round
                "runs": run_names[(method, mode)] if runs_dir is not None else [],
                "machines": sorted(machines - {None}),  # the machines (boot ids) its rounds ran on
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


def reference_text(records: list[dict[str, Any]]) -> str:
    """`reference lora` or, where some methods have their own, `reference lora (adakron: pfeiffer)`."""
    references = [r.get("reference") for r in records]
    common = max(set(references), key=references.count)
    own = sorted({f"{r['method']}: {r.get('reference')}" for r in records if r.get("reference") != common})
    return f"reference {common}" + (f" ({', '.join(own)})" if own else "")


OVER_TARGET = 1.05  # a method's step over its reference's above this gets its kernel difference listed
KERNELS_LISTED = 6


def kernel_difference(record: dict[str, Any], reference: dict[str, Any]) -> list[tuple[str, float]]:
    """The kernels (by name) that take more device time per step in `record` than in `reference`, most first:
    (name, extra µs per step). From each record's `top_kernels`; a kernel outside the reference's top list counts
    whole."""
    mine = {k["name"]: k["us"] for k in record.get("top_kernels") or []}
    theirs = {k["name"]: k["us"] for k in reference.get("top_kernels") or []}
    extra = [(name, round(us - theirs.get(name, 0.0), 2)) for name, us in mine.items()]
    return sorted([e for e in extra if e[1] > 0], key=lambda e: -e[1])[:KERNELS_LISTED]


def kernel_difference_lines(recs: list[dict[str, Any]]) -> list[str]:
    """Markdown: for every row over `OVER_TARGET` × its reference, the kernels that take the extra time."""
    by_entry = {(r["method"], r["mode"]): r for r in recs}
    lines: list[str] = []
    for r in sorted(recs, key=lambda r: (r["method"], r["mode"])):
        reference = by_entry.get((r.get("reference"), r["mode"]))
        ratio = r.get("ratio_to_reference")
        if reference is None or ratio is None or ratio <= OVER_TARGET or not r.get("top_kernels"):
            continue
        extra = kernel_difference(r, reference)
        kernel_gap = (r.get("gpu_kernel_ms") or 0) - (reference.get("gpu_kernel_ms") or 0)
        lines.append(
            f"- **{r['method']}** ({r['mode']}) is {ratio:.3f}× {r['reference']}; kernel time "
            f"{kernel_gap:+.2f} ms a step. Kernels with more time per step than in {r['reference']}: "
            + "; ".join(f"`{name}` +{us:.0f} µs" for name, us in extra)
        )
    if lines:
        lines = ["", f"Where the kernel time goes, for rows above {OVER_TARGET}× their reference (the last "
                 "round's profile, top kernels by device time):", "", *lines]  # fmt: skip
    return lines


def render(records: list[dict[str, Any]]) -> dict[str, str]:
    """Markdown per scenario from `make bench-trainer` records (kind "trainer"), methods in record order."""
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_scenario.setdefault(rec["scenario"], []).append(rec)
    out = {}
    for scenario, recs in by_scenario.items():
        gpu = (recs[0].get("env") or {}).get("gpu") or "no GPU"
        machines = {m for r in recs for m in r.get("machines") or []}
        on = f" on {len(machines)} machine{'s' if len(machines) > 1 else ''}" if machines else ""
        runs = sum(len(r.get("runs") or []) for r in recs)
        from_runs = f" From the {runs} run records under `runs/`." if runs else ""
        # rows from several bench invocations (a partial rerun) may differ in code or plan: say so
        versions = {
            (r.get("env") or {}).get("code_fingerprint") or (r.get("env") or {}).get("git_sha") for r in recs
        }
        mixed = (
            f" Rows from {len(versions)} code versions: compare them with care." if len(versions) > 1 else ""
        )
        lines = [
            f"{gpu}{on}; {reference_text(recs)}; {recs[0].get('rounds')} rounds.{from_runs}{mixed}",
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
        lines += kernel_difference_lines(recs)
        out[scenario] = "\n".join(lines) + "\n"
    return out


def resolve_devices(devices: Any) -> list[str]:
    """`devices` of the plan: null (this process, no pinning), "all" (every visible GPU) or a list of GPU ids."""
    if devices is None:
        return []
    if devices == "all":
        found = visible_gpus()
        if not found:
            raise ValueError(
                "devices=all: no GPU is visible (CUDA_VISIBLE_DEVICES or torch.cuda.device_count())"
            )
        return found
    if isinstance(devices, list) and devices and all(isinstance(d, (int, str)) for d in devices):
        return [str(d) for d in devices]
    raise ValueError(
        f"devices={devices!r} is not valid; give null, 'all' or a list of GPU ids such as [0, 1]"
    )


def forward_lines(prefix: str, stream: Any) -> None:
    for line in stream:
        print(f"[{prefix}] {line}", end="", flush=True)


def run_on_devices(config: Path, overrides: list[str], scenarios: list[str], devices: list[str]) -> None:
    """Each scenario in its own bench process pinned to one GPU (CUDA_VISIBLE_DEVICES), one per GPU at a time.

    Scenarios are independent (their own records, interleaved rounds within each), so a node of several GPUs runs
    them side by side; a scenario's rounds never spread over GPUs. Output lines are prefixed with the scenario;
    every scenario runs even when another fails, and the failures are raised together at the end.
    """
    import threading

    printers: list[threading.Thread] = []

    def start(name: str, device: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "kronbench.bench_trainer", "--config", str(config), *overrides,
                   f"scenarios_to_run=[{name}]", "devices=null"]  # fmt: skip
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device, "PYTHONUNBUFFERED": "1"}
        print(f"[{name}] on GPU {device}: {' '.join(command[1:])}", flush=True)
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        printers.append(threading.Thread(target=forward_lines, args=(name, process.stdout), daemon=True))
        printers[-1].start()
        return process

    finished = run_processes(scenarios, devices, start)
    for printer in printers:  # every line printed before the verdict
        printer.join()
    failed = [
        f"{name} (GPU {device}): exit {p.returncode}" for name, device, p in finished if p.returncode != 0
    ]
    if failed:
        raise RuntimeError("bench scenarios failed (their output is above, prefixed): " + "; ".join(failed))


def warm_every_scenario(plan: dict[str, Any], out_dir: Path, env: dict[str, Any], scratch: Path) -> None:
    """`warm_only`: one compile warm-up of every scenario's compiled entries that still need runs; nothing timed.

    A device call of its own: the timed calls that follow on the same machine load every kernel from the cache.
    """
    if not int(plan.get("warm_compile_processes", 0)):
        raise ValueError("warm_only=true needs warm_compile_processes > 0 (the parallel warm-up runs)")
    compiled = []
    for name in plan["scenarios_to_run"]:
        spec = plan["scenarios"][name]
        entries = scenario_entries(name, spec, plan)
        compiled += entries_to_compile(
            spec, plan, entries, kept_runs(spec, plan, entries, out_dir / name / "runs", env)
        )
    warm_up("+".join(plan["scenarios_to_run"]), compiled, plan, scratch)


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
    for name in plan["scenarios_to_run"]:  # every scenario's methods, modes and references, before any run
        scenario_entries(name, plan["scenarios"][name], plan)
    out_dir = project_dir() / plan.get("output_dir", "outputs/bench") / "trainer"
    devices = resolve_devices(plan.get("devices"))
    if devices:
        run_on_devices(args.config, args.overrides, plan["scenarios_to_run"], devices)
        return sorted(p for name in plan["scenarios_to_run"] for p in (out_dir / name).glob("*.json"))
    env = bench_environment()
    written = []
    with tempfile.TemporaryDirectory(prefix="kronbench-bench-trainer-") as scratch:
        if plan.get("warm_only"):
            warm_every_scenario(plan, out_dir, env, Path(scratch))
            return []
        for name in plan["scenarios_to_run"]:
            runs_dir = out_dir / name / "runs"
            for record in bench_scenario(name, plan["scenarios"][name], plan, Path(scratch), runs_dir, env):
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
