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
    for spec in plan["scenarios"].values():
        assert spec["reference"] in spec["methods"]


@pytest.mark.parametrize("plan_file", ["trainer.yaml", "trainer_cuda_graphs_probe.yaml"])
def test_every_shipped_scenario_entry_composes_into_a_valid_run_config(plan_file):
    """Each (scenario, method, mode) of the shipped trainer-bench plans is a config the trainer accepts."""
    from hydra import compose, initialize_config_dir

    from kronbench.bench import load_plan
    from kronbench.config import register_schemas, validate_config

    register_schemas()
    plan = load_plan(CONF_DIR / "bench" / plan_file, [])
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for name, spec in plan["scenarios"].items():
            for method, extra in spec["methods"].items():
                for mode in bench_trainer.MODES.values():
                    overrides = [*spec["overrides"], *plan["overrides"], *extra, *mode]
                    run_cfg = validate_config(compose("config", overrides=overrides))
                    assert run_cfg.train.profile_steps == 20, (name, method)
                    assert run_cfg.method.name == extra[0].split("=")[1], (name, method)


@needs_shared
def test_tiny_plan_writes_one_record_per_method_and_mode(tmp_path):
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
