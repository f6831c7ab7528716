"""The real-trainer bench: interleaved rounds of actual runs, eager vs compiled, one record per entry."""

from __future__ import annotations

import json

import pytest
import yaml

from kronbench import bench_trainer
from tests.conftest import CONF_DIR, DATA_DIR, needs_shared


def test_the_shipped_plan_names_scenarios_that_exist():
    plan = yaml.safe_load((CONF_DIR / "bench" / "trainer.yaml").read_text())
    assert set(plan["scenarios_to_run"]) <= set(plan["scenarios"])
    for name, spec in plan["scenarios"].items():
        assert spec["reference"] in spec["methods"]
        assert bench_trainer.scenario_entries(
            name, spec, plan
        )  # methods, modes and per-method references valid


@pytest.mark.parametrize("plan_file", ["trainer.yaml", "trainer_cuda_graphs_probe.yaml"])
def test_every_shipped_scenario_entry_composes_into_a_valid_run_config(plan_file):
    """Each (scenario, method, mode) the shipped trainer-bench plans run is a config the trainer accepts: every
    method in its scenario's modes, and every mode (a command line's `modes=`) with the scenario's first method."""
    from hydra import compose, initialize_config_dir

    from kronbench.bench import load_plan
    from kronbench.config import register_schemas, validate_config

    register_schemas()
    plan = load_plan(CONF_DIR / "bench" / plan_file, [])
    checked = set()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for name, spec in plan["scenarios"].items():
            first = next(iter(spec["methods"]))
            entries = {
                *bench_trainer.scenario_entries(name, spec, plan),
                *((first, m) for m in bench_trainer.MODES),
            }
            for method, mode in sorted(entries):
                overrides = bench_trainer.entry_overrides(spec, plan, method, mode)
                if tuple(overrides) in checked:  # the same run in two scenarios
                    continue
                checked.add(tuple(overrides))
                run_cfg = validate_config(compose("config", overrides=overrides))
                assert run_cfg.train.profile_steps == 20, (name, method)
                assert run_cfg.method.name == spec["methods"][method][0].split("=")[1], (name, method)
                assert run_cfg.train.compile == (mode != "eager"), (name, method, mode)


@needs_shared
def test_tiny_plan_writes_one_record_per_method_and_mode(tmp_path, capsys):
    plan = {
        "output_dir": str(tmp_path / "bench"),
        "rounds": 1,
        "modes": ["eager", "compiled"],
        "warm_compile_processes": 2,
        "overrides": [
            f"data_dir={DATA_DIR}",
            "train=demo",
            "train.max_train_samples=32",
            "train.max_eval_samples=16",
            "train.batch_size=8",
            "train.progress_bar=false",
            "train.compile_backend=aot_eager",
            "train.pad_to_multiple_of=32",
            "train.profile_steps=2",
        ],
        "scenarios_to_run": ["tiny"],
        "scenarios": {
            "tiny": {
                "reference": "lora",
                "overrides": ["model=tiny-bert", "task=glue/rte", "train.max_steps=3"],
                "methods": {"lora": ["method=lora"], "krona": ["method=krona", "method.factor_shape=[4,8]"]},
            }
        },
    }
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(plan))
    written = bench_trainer.main(["--config", str(config)])
    assert sorted(p.name for p in written) == [
        "krona-compiled.json", "krona-eager.json", "lora-compiled.json", "lora-eager.json"
    ]  # fmt: skip
    records = {p.name: json.loads(p.read_text()) for p in written}
    assert all(r["rounds"] == 1 and r["train_samples_per_second"] > 0 for r in records.values())
    assert all(r["steady_step_ms"] > 0 for r in records.values())
    assert all(r["kernel_launches_per_step"] is not None for r in records.values())  # the profiler window ran
    assert records["lora-compiled.json"]["compile"]["used"] is True
    assert records["lora-eager.json"]["compile"]["requested"] is False
    assert records["krona-eager.json"]["trainable"] < records["lora-eager.json"]["trainable"]
    assert records["lora-compiled.json"]["runs"] == ["runs/lora-compiled-round1.json"]
    # run again: every run is kept from its record (same overrides, code, GPU), nothing trains, same summaries
    capsys.readouterr()
    again = bench_trainer.main(["--config", str(config)])
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("round 1 tiny")]
    assert len(progress) == 4 and all("(kept from an earlier call)" in line for line in progress)
    assert {p.name: json.loads(p.read_text())["steady_step_ms"] for p in again} == {
        name: r["steady_step_ms"] for name, r in records.items()
    }


@needs_shared
def test_a_failing_warm_up_run_stops_the_bench_before_timing_and_shows_its_log(tmp_path):
    good = [f"data_dir={DATA_DIR}", "model=tiny-bert", "task=glue/rte", "train=demo", "train.max_train_samples=8",
            "train.max_eval_samples=4", "train.batch_size=4", "train.progress_bar=false", "method=lora"]  # fmt: skip
    entries = [good, ["method=no_such_method"]]
    with pytest.raises(RuntimeError, match="compile warm-up failed") as caught:
        bench_trainer.warm_compile_cache(entries, processes=2, scratch=tmp_path)
    assert "warm-1.log" in str(caught.value) and "no_such_method" in str(caught.value)
    assert "warm-0.log" not in str(caught.value)


def test_step_clock_leaves_out_pauses_and_the_warm_up():
    from kronbench.train import StepClock

    clock = StepClock()
    clock.durations = [5.0] * 10 + [0.02] * 90  # compile-time steps first
    assert clock.steady_ms() == 20.0
    clock.durations = [0.5, 0.01, 0.01]  # short runs: no warm-up to drop
    assert clock.steady_ms() == 10.0
    ticks = StepClock()
    ticks.tick()
    ticks.pause()  # an evaluation between two steps is not a step's time
    ticks.tick()
    assert ticks.durations == [] and StepClock().steady_ms() is None


def test_trainer_bench_records_render_in_make_tables(tmp_path):
    """`make tables` reads bench-trainer records (kind "trainer") and writes one table per scenario."""
    from kronbench import tables

    record = {
        "kind": "trainer", "schema_version": 1, "scenario": "bert-base-rte", "method": "lora", "mode": "compiled",
        "reference": "lora", "steady_step_ms": 12.5, "steady_step_ms_spread": [12.1, 13.0], "gpu_kernel_ms": 10.0,
        "step_over_kernel": 1.25, "train_samples_per_second": 2560.0, "ratio_to_reference": 1.0,
        "speedup_over_eager": 3.2, "compile": {"used": True}, "compiled_every_round": True, "run_seconds": 21.4,
        "score": 52.7, "scores": [52.7, 53.1, 51.9], "rounds": 3, "env": {"gpu": "NVIDIA H100 80GB HBM3"},
    }  # fmt: skip
    path = tmp_path / "results" / "bench" / "trainer" / "bert-base-rte" / "lora-compiled.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    records = tables.load_records(tmp_path / "results")
    assert not records.excluded and len(records.trainer_bench) == 1
    written = tables.write_bench_tables(records, tmp_path)
    text = (tmp_path / "bench_trainer_bert-base-rte.md").read_text()
    assert written == [tmp_path / "bench_trainer_bert-base-rte.md"]
    assert (
        "| lora | compiled | 12.50 [12.10, 13.00] | 10.00 | 1.25 | 2560 | 1.000 | 3.20 | yes | 21 "
        "| 52.7 / 53.1 / 51.9 |" in text
    )
    assert "NVIDIA H100 80GB HBM3" in text


def test_methods_to_run_selects_a_subset_and_names_a_bad_one(tmp_path):
    """One device call runs a subset of a scenario's methods; a name the scenario lacks fails before any run."""
    spec = {
        "reference": "lora",
        "overrides": [],
        "methods": {"lora": ["method=lora"], "krona": ["method=krona"]},
    }
    plan = {"rounds": 1, "modes": ["eager"], "methods_to_run": ["krona", "pfeifer"]}
    with pytest.raises(
        ValueError, match=r"methods_to_run \['pfeifer'\] not in scenario 'core'; valid: \['krona'"
    ):
        bench_trainer.bench_scenario("core", spec, plan, tmp_path)
    with pytest.raises(
        ValueError, match=r"scenarios_to_run \['bert-base-table9'\] are not in the plan; valid: "
    ):
        bench_trainer.main(["scenarios_to_run=[bert-base-table9]"])
    with pytest.raises(ValueError, match=r"modes \['cudagraph'\] are not valid; choose from \['eager'"):
        bench_trainer.bench_scenario("core", spec, {"rounds": 1, "modes": ["cudagraph"]}, tmp_path)


def fake_record(overrides: list[str], step_ms: float, score: float) -> dict:
    seed = next((int(o.split("=")[1]) for o in overrides if o.startswith("seed=")), 0)
    compiled = "train.compile=true" in overrides
    return {
        "seed": seed,
        "metrics": {"score": score},
        "params": {"trainable": 10},
        "timing": {
            "steady_step_ms": step_ms,
            "train_samples_per_second": 1000 / step_ms,
            "wall_seconds": 3.0,
            "compile": {"used": compiled, "recompile_limit_hits": 0} if compiled else {"used": False},
            "profile": {"gpu_kernel_ms_per_step": 4.0, "kernel_launches_per_step": 100},
        },
    }


def test_rounds_interleave_and_seed_per_round_trains_seed_i_in_round_i(tmp_path, monkeypatch):
    """Round i's runs use seed i (seed_per_round); the order rotates each round; medians, spreads, per-round scores
    and the ratios come from the rounds' records."""
    calls: list[tuple[str, str, int]] = []
    step_ms = {("lora", "eager"): [40.0, 44.0, 42.0], ("krona", "eager"): [46.0, 41.0, 43.0],
               ("lora", "compiled"): [10.0, 11.0, 12.0], ("krona", "compiled"): [10.5, 10.0, 13.0]}  # fmt: skip

    def run_once(overrides, output_dir):
        method = "krona" if "method=krona" in overrides else "lora"
        mode = "compiled" if "train.compile=true" in overrides else "eager"
        record = fake_record(overrides, step_ms[(method, mode)].pop(0), 50.0 + len(calls))
        calls.append((method, mode, record["seed"]))
        return record

    monkeypatch.setattr(bench_trainer, "run_once", run_once)
    spec = {
        "reference": "lora",
        "seed_per_round": True,
        "overrides": [],
        "methods": {"lora": ["method=lora"], "krona": ["method=krona"]},
    }
    out = {
        (r["method"], r["mode"]): r
        for r in bench_trainer.bench_scenario(
            "s", spec, {"rounds": 3, "modes": ["eager", "compiled"]}, tmp_path
        )
    }
    assert [c[2] for c in calls] == [0] * 4 + [1] * 4 + [2] * 4
    assert calls[:4] == [
        ("lora", "eager", 0),
        ("lora", "compiled", 0),
        ("krona", "eager", 0),
        ("krona", "compiled", 0),
    ]
    assert calls[4] == ("lora", "compiled", 1)  # the second round starts one entry later
    lora, krona = out[("lora", "compiled")], out[("krona", "compiled")]
    assert lora["steady_step_ms"] == 11.0 and lora["steady_step_ms_spread"] == [10.0, 12.0]
    assert krona["ratio_to_reference"] == round(10.5 / 11.0, 4)
    assert out[("lora", "eager")]["speedup_over_eager"] == 1.0 and lora["speedup_over_eager"] == round(
        42 / 11, 4
    )
    assert lora["seeds"] == [0, 1, 2] and len(lora["scores"]) == 3
    assert lora["compiled_every_round"] and not out[("lora", "eager")]["compiled_every_round"]
    assert lora["step_over_kernel"] == round(11.0 / 4.0, 4)


def counting_run_once(calls: list, fail_at: int | None = None):
    """A stand-in for one real run: counts calls, can fail at call number `fail_at` (a cut-short bench)."""

    def run_once(overrides, output_dir):
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("the device call ran out of time")
        calls.append(overrides)
        return fake_record(overrides, 10.0 + len(calls), 50.0)

    return run_once


TWO_METHODS = {
    "reference": "lora",
    "overrides": [],
    "methods": {"lora": ["method=lora"], "krona": ["method=krona"]},
}
ENV = {"gpu": "NVIDIA H100 80GB HBM3", "code_fingerprint": "abc", "machine": "boot-1"}


def test_a_cut_short_bench_resumes_from_its_run_records(tmp_path, monkeypatch):
    """Each run leaves a record; a second call runs only what is missing, and each summary names its runs."""
    plan, runs_dir = {"rounds": 2, "modes": ["eager"]}, tmp_path / "runs"
    calls: list = []
    monkeypatch.setattr(bench_trainer, "run_once", counting_run_once(calls, fail_at=3))
    with pytest.raises(RuntimeError, match="ran out of time"):
        bench_trainer.bench_scenario("s", TWO_METHODS, plan, tmp_path, runs_dir, ENV)
    assert sorted(p.name for p in runs_dir.glob("*.json")) == [
        "krona-eager-round1.json",
        "krona-eager-round2.json",
        "lora-eager-round1.json",
    ]  # fmt: skip (round 2 starts with KronA: the order rotates)
    calls.clear()
    monkeypatch.setattr(bench_trainer, "run_once", counting_run_once(calls))
    restarted = {**ENV, "machine": "boot-2"}  # the next call got another machine of the same GPU model
    summaries = bench_trainer.bench_scenario("s", TWO_METHODS, plan, tmp_path, runs_dir, restarted)
    out = {r["method"]: r for r in summaries}
    assert calls == [["method=lora", "train.compile=false"]]  # only round 2's LoRA ran
    assert out["krona"]["runs"] == ["runs/krona-eager-round1.json", "runs/krona-eager-round2.json"]
    assert out["lora"]["rounds"] == 2 and out["lora"]["machines"] == ["boot-1", "boot-2"]
    assert out["krona"]["machines"] == ["boot-1"]
    assert "on 2 machines;" in bench_trainer.render(summaries)["s"].splitlines()[0]
    kept = json.loads((runs_dir / "lora-eager-round1.json").read_text())
    assert kept["kind"] == "trainer_run" and kept["round"] == 1 and kept["env"] == ENV


@pytest.mark.parametrize(
    ("change", "reruns", "reason"),
    [
        ({}, 0, None),
        ({"env": {**ENV, "code_fingerprint": "changed"}}, 4, "not kept (other code (fingerprint abc))"),
        ({"env": {**ENV, "gpu": "NVIDIA H200"}}, 4, "not kept (another GPU model (NVIDIA H100 80GB HBM3))"),
        ({"env": {**ENV, "machine": "boot-2"}}, 0, None),  # the same GPU model after a restart: kept
        ({"plan": {"force": True}}, 4, None),  # force: nothing is read back
        ({"spec": {"overrides": ["train.lr=1e-4"]}}, 4, "not kept (other overrides)"),
    ],
)
def test_a_run_record_is_kept_only_for_the_same_overrides_code_and_gpu(
    tmp_path, monkeypatch, capsys, change, reruns, reason
):
    """A record is read back only for the same overrides, code and GPU model; one that is not says why."""
    plan, runs_dir = {"rounds": 2, "modes": ["eager"]}, tmp_path / "runs"
    calls: list = []
    monkeypatch.setattr(bench_trainer, "run_once", counting_run_once(calls))
    bench_trainer.bench_scenario("s", TWO_METHODS, plan, tmp_path, runs_dir, ENV)
    calls.clear()
    capsys.readouterr()
    out = bench_trainer.bench_scenario(
        "s", {**TWO_METHODS, **change.get("spec", {})}, {**plan, **change.get("plan", {})}, tmp_path, runs_dir,
        change.get("env", ENV),
    )  # fmt: skip
    assert len(calls) == reruns
    stale = [line for line in capsys.readouterr().out.splitlines() if "not kept" in line]
    assert len(stale) == (4 if reason else 0) and all(reason in line for line in stale)
    assert out[0]["machines"] == ["boot-1"]  # kept runs ran on boot 1, and so do the reruns here


def test_each_method_is_compared_with_its_own_reference_and_a_bad_one_is_named(tmp_path, monkeypatch):
    """AdaKron against Pfeiffer, KronA against LoRA, in one scenario; a reference outside it fails before runs."""
    steps = {"lora": 10.0, "krona": 10.4, "pfeiffer": 8.0, "adakron": 8.2}

    def run_once(overrides, output_dir):
        method = next(o.split("=")[1] for o in overrides if o.startswith("method="))
        return fake_record(overrides, steps[method], 50.0)

    monkeypatch.setattr(bench_trainer, "run_once", run_once)
    spec = {"reference": "lora", "references": {"adakron": "pfeiffer"}, "overrides": [],
            "methods": {m: [f"method={m}"] for m in steps}}  # fmt: skip
    out = {
        r["method"]: r
        for r in bench_trainer.bench_scenario("s", spec, {"rounds": 1, "modes": ["eager"]}, tmp_path)
    }
    assert out["adakron"]["reference"] == "pfeiffer" and out["adakron"]["ratio_to_reference"] == round(
        8.2 / 8.0, 4
    )
    assert out["krona"]["reference"] == "lora" and out["krona"]["ratio_to_reference"] == 1.04
    header = bench_trainer.render(list(out.values()))["s"].splitlines()[0]
    assert "reference lora (adakron: pfeiffer)" in header
    bad = {**spec, "references": {"adakron": "pfeifer"}}
    with pytest.raises(ValueError, match=r"reference 'pfeifer' of 'adakron' is not one of its methods"):
        bench_trainer.bench_scenario("s", bad, {"rounds": 1, "modes": ["eager"]}, tmp_path)


def test_a_scenario_runs_its_own_modes_unless_the_plan_names_modes():
    spec = {**TWO_METHODS, "modes": ["cudagraphs"]}
    assert bench_trainer.scenario_entries("s", spec, {"modes": None}) == [
        ("lora", "cudagraphs"),
        ("krona", "cudagraphs"),
    ]
    assert bench_trainer.scenario_entries("s", spec, {"modes": ["eager"]}) == [
        ("lora", "eager"),
        ("krona", "eager"),
    ]
    assert len(bench_trainer.scenario_entries("s", TWO_METHODS, {})) == 2 * len(bench_trainer.DEFAULT_MODES)
    with pytest.raises(ValueError, match=r"modes \['graphs'\] are not valid"):
        bench_trainer.scenario_entries("s", {**TWO_METHODS, "modes": ["graphs"]}, {})


def test_warm_only_compiles_every_scenarios_entries_still_to_run_and_nothing_else(tmp_path, monkeypatch):
    warmed: list = []
    monkeypatch.setattr(
        bench_trainer, "warm_compile_cache", lambda entries, processes, scratch: warmed.extend(entries)
    )
    plan = {"rounds": 1, "warm_compile_processes": 4, "scenarios_to_run": ["a", "b"], "scenarios": {
        "a": {**TWO_METHODS, "modes": ["eager", "cudagraphs"]}, "b": {**TWO_METHODS, "modes": ["compiled"]}}}  # fmt: skip
    done = tmp_path / "trainer" / "b" / "runs"  # b's KronA already ran: not warmed again
    overrides = bench_trainer.round_overrides(plan["scenarios"]["b"], plan, "krona", "compiled", 0)
    bench_trainer.write_json_atomic(
        bench_trainer.run_file(done, "krona", "compiled", 0),
        bench_trainer.run_record(
            "b", "krona", "compiled", 0, overrides, fake_record(overrides, 9.0, 50.0), ENV
        ),
    )
    bench_trainer.warm_every_scenario(plan, tmp_path / "trainer", ENV, tmp_path)
    assert warmed == [["method=lora", *bench_trainer.MODES["cudagraphs"]], ["method=krona", *bench_trainer.MODES["cudagraphs"]],
                      ["method=lora", *bench_trainer.MODES["compiled"]]]  # fmt: skip
    with pytest.raises(ValueError, match="warm_only=true needs warm_compile_processes > 0"):
        bench_trainer.warm_every_scenario({**plan, "warm_compile_processes": 0}, tmp_path, ENV, tmp_path)


def test_devices_are_null_all_or_a_list_of_gpu_ids(monkeypatch):
    assert bench_trainer.resolve_devices(None) == [] and bench_trainer.resolve_devices([0, 1]) == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert bench_trainer.resolve_devices("all") == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match="devices=all: no GPU is visible"):
        bench_trainer.resolve_devices("all")
    with pytest.raises(
        ValueError, match=r"devices='some' is not valid; give null, 'all' or a list of GPU ids"
    ):
        bench_trainer.resolve_devices("some")


@needs_shared
def test_scenarios_run_side_by_side_one_process_per_device_and_a_failure_is_named(tmp_path, capfd):
    """`devices`: each scenario in its own pinned process; one failing scenario leaves the other's records."""
    plan = {
        "output_dir": str(tmp_path / "bench"), "rounds": 1, "modes": ["eager"], "warm_compile_processes": 0,
        "overrides": [f"data_dir={DATA_DIR}", "train=demo", "train.max_train_samples=16", "train.max_eval_samples=8",
                      "train.batch_size=8", "train.progress_bar=false", "train.max_steps=2", "model=tiny-bert",
                      "task=glue/rte"],
        "scenarios_to_run": ["good", "bad"],
        "scenarios": {"good": {"reference": "lora", "overrides": [], "methods": {"lora": ["method=lora"]}},
                      "bad": {"reference": "lora", "overrides": ["train.lr=-1"], "methods": {"lora": ["method=lora"]}}},
    }  # fmt: skip
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(plan))
    with pytest.raises(RuntimeError, match=r"bench scenarios failed .*: bad \(GPU 1\): exit 1"):
        bench_trainer.main(["--config", str(config), "devices=[0, 1]"])
    out = capfd.readouterr().out
    assert (
        "[good] on GPU 0" in out and "[bad] on GPU 1" in out and "[good] round 1 good lora eager (ran)" in out
    )
    good = json.loads((tmp_path / "bench" / "trainer" / "good" / "lora-eager.json").read_text())
    assert good["env"]["cuda_visible_devices"] == "0" and good["runs"] == ["runs/lora-eager-round1.json"]
    assert not (tmp_path / "bench" / "trainer" / "bad").exists()


def test_make_tables_reads_run_records_and_excludes_a_summary_whose_runs_are_missing(tmp_path):
    """A trainer-bench summary names its run records; `make tables` keeps it only when every one is there."""
    from kronbench import tables

    folder = tmp_path / "results" / "bench" / "trainer" / "s"
    overrides = ["method=lora", "train.compile=false"]
    run = bench_trainer.run_record("s", "lora", "eager", 0, overrides, fake_record(overrides, 9.0, 50.0), ENV)
    bench_trainer.write_json_atomic(folder / "runs" / "lora-eager-round1.json", run)
    summary = {
        "kind": "trainer",
        "schema_version": 1,
        "scenario": "s",
        "mode": "eager",
        "steady_step_ms": 9.0,
    }
    for method, runs in (
        ("lora", ["runs/lora-eager-round1.json"]),
        ("krona", ["runs/krona-eager-round1.json"]),
    ):
        bench_trainer.write_json_atomic(
            folder / f"{method}-eager.json", {**summary, "method": method, "runs": runs}
        )
    records = tables.load_records(tmp_path / "results")
    assert [r["method"] for r in records.trainer_bench] == ["lora"] and len(records.trainer_runs) == 1
    assert [(e.path, e.reason) for e in records.excluded] == [
        ("bench/trainer/s/krona-eager.json",
         "names run records it comes from that are missing: runs/krona-eager-round1.json")
    ]  # fmt: skip


@pytest.mark.parametrize("piece", ["warm", "32x128", "64x256", "minilm", "rte", "autotune"])
def test_each_gpu_script_piece_names_a_valid_plan(piece, tmp_path):
    """`scripts/gpu/bench_trainer.sh <piece>` (its command printed, not run): its plan overrides name real
    scenarios whose entries are valid."""
    import subprocess

    from kronbench.bench import load_plan
    from tests.conftest import REPO

    show = tmp_path / "show-args"
    show.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
    show.chmod(0o755)
    shown = subprocess.run(["bash", "scripts/gpu/bench_trainer.sh", piece], cwd=REPO, env={"PY": str(show), "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    words = shown.splitlines()
    assert words[:2] == ["-m", "kronbench.bench_trainer"] and "output_dir=results/bench" in words
    plan = load_plan(CONF_DIR / "bench" / "trainer.yaml", words[2:])
    assert plan["scenarios_to_run"] and set(plan["scenarios_to_run"]) <= set(plan["scenarios"])
    for name in plan["scenarios_to_run"]:
        assert bench_trainer.scenario_entries(name, plan["scenarios"][name], plan)


def test_the_gpu_script_refuses_an_unknown_piece():
    import subprocess

    from tests.conftest import REPO

    done = subprocess.run(
        ["bash", "scripts/gpu/bench_trainer.sh", "table9"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage:" in done.stderr and "32x128" in done.stderr


def test_a_table_of_rows_from_several_code_versions_says_so():
    row = {"scenario": "s", "mode": "eager", "steady_step_ms": 9.0, "reference": "lora", "rounds": 3}
    same = [{**row, "method": m, "env": {"code_fingerprint": "a"}} for m in ("lora", "krona")]
    assert "code versions" not in bench_trainer.render(same)["s"]
    mixed = [same[0], {**same[1], "env": {"code_fingerprint": "b"}}]
    assert "Rows from 2 code versions: compare them with care." in bench_trainer.render(mixed)["s"]


def test_the_profile_lists_the_top_kernels_per_step_and_a_slow_row_names_its_extra_kernels():
    """`kernel_summary` keeps each kernel's device time and count per step (top by time); a row over 1.05× its
    reference lists the kernels that take the extra time, so the table shows why a target is missed."""
    from types import SimpleNamespace

    import torch

    from kronbench import profiling

    cuda, cpu = torch.autograd.DeviceType.CUDA, torch.autograd.DeviceType.CPU

    def event(key, us, count, device=cuda):
        return SimpleNamespace(key=key, self_device_time_total=us, count=count, device_type=device)

    events = [event("sm90_gemm_bf16", 4000.0, 48), event("triton_poi_fused_copy", 1000.0, 96),
              event("cudaLaunchKernel", 0.0, 10, cpu), event("idle", 0.0, 4)]  # fmt: skip
    summary = profiling.kernel_summary(SimpleNamespace(key_averages=lambda: events), calls=2)
    assert summary["gpu_kernel_ms"] == 2.5 and summary["kernel_launches"] == 5
    assert summary["top_kernels"] == [
        {"name": "sm90_gemm_bf16", "us": 2000.0, "count": 24.0},
        {"name": "triton_poi_fused_copy", "us": 500.0, "count": 48.0},
    ]
    lora = {
        "scenario": "s",
        "method": "lora",
        "mode": "cudagraphs",
        "reference": "lora",
        "steady_step_ms": 6.0,
        "gpu_kernel_ms": 6.7,
        "ratio_to_reference": 1.0,
        "rounds": 3,
        "top_kernels": [
            {"name": "gemm", "us": 3000.0, "count": 96},
            {"name": "add", "us": 200.0, "count": 24},
        ],
    }
    krona = {**lora, "method": "krona", "steady_step_ms": 7.0, "gpu_kernel_ms": 8.4, "ratio_to_reference": 1.17,
             "top_kernels": [{"name": "gemm", "us": 3400.0, "count": 120}, {"name": "copy", "us": 900.0, "count": 48},
                             {"name": "add", "us": 150.0, "count": 24}]}  # fmt: skip
    assert bench_trainer.kernel_difference(krona, lora) == [("copy", 900.0), ("gemm", 400.0)]
    text = bench_trainer.render([lora, krona])["s"]
    assert "- **krona** (cudagraphs) is 1.170× lora; kernel time +1.70 ms a step." in text
    assert "`copy` +900 µs; `gemm` +400 µs" in text and "**lora**" not in text
