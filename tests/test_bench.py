"""`make bench` harness on CPU with tiny models: interleaved rounds, valid schema-2 records, ratios and their
spread, skips and failures, `max_resident` chunks, rendering (bench --render and make tables); no timing claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kronbench import bench, tables
from kronbench.bench import load_plan, main, render_tables, run_plan
from tests.conftest import CONF_DIR

TINY = CONF_DIR / "bench" / "tiny.yaml"
ROUNDS = 2  # conf/bench/tiny.yaml: train.rounds and inference.krona.rounds


def tiny_plan(out: Path, *overrides: str) -> dict:
    fast = ["models=[tiny-bert]", "factor_sweep.shapes=[]", "flops=false", "train.warmup=0"]
    return load_plan(TINY, [f"output_dir={out}", *fast, *overrides])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """One tiny interleaved run (records under `<root>/bench`, as in results/), shared by the tests below."""
    root = tmp_path_factory.mktemp("results")
    plan = load_plan(
        TINY,
        [
            f"output_dir={root / 'bench'}",
            "models=[tiny-bert]",
            "only=[lora, krona, krona-merged, lokr, not_a_method, krona-A2x16]",
            "train_methods=[full, lora, krona, lokr, not_a_method]",
            "infer_methods=[krona, {method: krona, merged: true}]",
            "factor_sweep.shapes=[[2, 16]]",
            "factor_sweep.methods=[krona]",
        ],
    )
    return root, run_plan(plan)


def test_tiny_plan_writes_valid_records(tiny_run):
    root, records = tiny_run
    by = {(r["kind"], r["name"]): r for r in records}
    assert set(by) == {
        ("train", n) for n in ("full", "lora", "krona", "lokr", "not_a_method", "krona-A2x16")
    } | {("infer", n) for n in ("base", "krona", "krona-merged")}
    full, krona = by[("train", "full")], by[("train", "krona")]
    assert full["status"] == "completed" and "ratios" not in full
    assert krona["status"] == "completed" and krona["reference"] == "full"
    m = krona["metrics"]
    assert m["step_ms"] > 0 and m["samples_per_s"] > 0 and m["flops_per_step"] > 0
    assert m["params"]["trainable"] < full["metrics"]["params"]["trainable"]
    assert krona["ratios"]["step_ms"] > 0 and 0 < krona["ratios"]["flops_per_step"] < 1
    assert by[("train", "not_a_method")]["status"] == "skipped"
    assert "not registered" in by[("train", "not_a_method")]["reason"]
    assert by[("train", "krona-A2x16")]["status"] == "completed"
    merged = by[("infer", "krona-merged")]
    assert merged["status"] == "completed" and merged["metrics"]["merged"] and merged["reference"] == "base"
    for rec in (r for r in records if r["status"] == "completed"):  # schema 2: interleaved rounds
        m, key = rec["metrics"], "step_ms" if rec["kind"] == "train" else "latency_ms"
        assert (
            rec["schema"] == 2 and m["protocol"]["interleaved"] is True and m["protocol"]["rounds"] == ROUNDS
        )
        assert "peak_mem_mb" in m and "own footprint" in m["protocol"]["peak_mem"]  # None on the CPU
        per_round = m["step_ms_rounds"] if rec["kind"] == "train" else m["latency_ms_repeats"]
        assert len(per_round) == ROUNDS and all(x > 0 for x in per_round)
        if rec["name"] in ("full", "base"):
            assert "ratio_spread" not in rec
            continue
        lo, hi = rec["ratio_spread"][key]
        ref = by[(rec["kind"], rec["reference"])]["metrics"]
        ref_rounds = ref["step_ms_rounds"] if rec["kind"] == "train" else ref["latency_ms_repeats"]
        assert [lo, hi] == pytest.approx(sorted(a / b for a, b in zip(per_round, ref_rounds, strict=True)))
        assert rec["ratios"][key] == pytest.approx(m[key] / ref[key])
    files = list((root / "bench").rglob("*.json"))
    assert len(files) == len(records)
    rec = json.loads((root / "bench" / "tiny-bert" / "fp32-eager" / "train" / "krona.json").read_text())
    assert rec["status"] == "completed" and rec["env"]["device"] == "cpu" and rec["schema"] == 2
    table = render_tables([json.loads(p.read_text()) for p in files])
    assert "tiny-bert, fp32, eager" in table
    assert re.search(r"\| krona \| \d+ \| [\d.]+ \([\d.]+, [\d.]+–[\d.]+\) \|", table)  # ratio and its spread


def test_interleaved_rounds_rotate(monkeypatch, tmp_path):
    order: list[str] = []
    original = bench.Runner.run_round

    def spy(self):
        order.append(self.name)
        original(self)

    monkeypatch.setattr(bench.Runner, "run_round", spy)
    plan = tiny_plan(tmp_path, "train_methods=[full, lora, krona]", "inference={}", "train.rounds=3")
    run_plan(plan)
    rounds = [order[i : i + 3] for i in range(0, 9, 3)]
    assert all(sorted(r) == ["full", "krona", "lora"] for r in rounds)  # every entry in every round
    assert len({r[0] for r in rounds}) > 1 and len({tuple(r) for r in rounds}) == 3  # the order changes


def test_failing_entry_is_recorded_and_the_others_complete(monkeypatch, tmp_path):
    prepare, run_round = bench.Runner.prepare, bench.Runner.run_round

    def failing_prepare(self):
        if self.name == "krona-bad":
            raise RuntimeError("broken in phase 1")
        prepare(self)

    def failing_round(self):
        if self.name == "lora" and len(self.times) == 1:
            raise RuntimeError("broken in round 2")
        run_round(self)

    monkeypatch.setattr(bench.Runner, "prepare", failing_prepare)
    monkeypatch.setattr(bench.Runner, "run_round", failing_round)
    plan = tiny_plan(
        tmp_path,
        "train_methods=[full, lora, {method: krona, name: krona-bad}, krona]",
        "infer_methods=[lora]",
    )
    by = {(r["kind"], r["name"]): r for r in run_plan(plan)}
    for kind in ("train", "infer"):
        lora = by[(kind, "lora")]
        assert lora["status"] == "failed" and "broken in round 2" in lora["reason"] and "metrics" not in lora
    krona = by[("train", "krona")]
    assert krona["status"] == "completed" and len(krona["metrics"]["step_ms_rounds"]) == ROUNDS
    bad = by[("train", "krona-bad")]
    assert bad["status"] == "failed" and "broken in phase 1" in bad["reason"] and "traceback" in bad
    assert by[("train", "full")]["status"] == by[("infer", "base")]["status"] == "completed"
    assert json.loads((tmp_path / "tiny-bert" / "fp32-eager" / "train" / "lora.json").read_text())[
        "status"
    ] == ("failed")


def test_max_resident_chunks_cover_every_entry(monkeypatch, tmp_path):
    chunks: list[list[str]] = []
    run_chunk = bench.run_chunk

    def spy(kind, entries, ctx):
        chunks.append([bench.entry_name(e) for e in entries])
        return run_chunk(kind, entries, ctx)

    monkeypatch.setattr(bench, "run_chunk", spy)
    plan = tiny_plan(
        tmp_path, "max_resident=2", "train_methods=[full, lora, krona]", "infer_methods=[lora, krona]"
    )
    records = run_plan(plan)
    assert chunks == [["full", "lora"], ["full", "krona"], ["base", "lora"], ["base", "krona"]]
    names = sorted((r["kind"], r["name"]) for r in records)  # the references recorded once
    assert names == sorted(
        [("train", n) for n in ("full", "lora", "krona")] + [("infer", n) for n in ("base", "lora", "krona")]
    )
    for rec in records:
        assert rec["status"] == "completed"
        if rec["name"] not in ("full", "base"):
            key = "step_ms" if rec["kind"] == "train" else "latency_ms"
            assert rec["reference"] in ("full", "base") and rec["reference_metrics"][key] > 0
            assert rec["ratios"][key] == pytest.approx(rec["metrics"][key] / rec["reference_metrics"][key])


def test_make_tables_renders_the_bench(tiny_run, tmp_path):
    root, _ = tiny_run
    specs = tmp_path / "specs"
    specs.mkdir()
    written = tables.render_all(root, specs, root / "tables", plots=False)
    path = root / "tables" / "bench_tiny-bert_fp32-eager.md"
    assert path in written
    text = path.read_text()
    rows = [
        line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert rows == [
        "method",
        "full",
        "base",
        "krona",
        "krona-merged",
        "lokr",
        "lora",
        "not_a_method",
        "krona-A2x16",
    ]
    header = next(line for line in text.splitlines() if line.startswith("| method"))
    assert (
        "step ms (×full, rounds)" in header and "GFLOP/step (×full)" in header and "krona ms (×base" in header
    )
    krona = next(line for line in text.splitlines() if line.startswith("| krona |"))
    cells = [c.strip() for c in krona.strip("|").split("|")]
    assert len(cells) == 7 and re.fullmatch(
        r"[\d.]+ \([\d.]+, [\d.]+–[\d.]+\)", cells[2]
    )  # step ms and spread
    assert re.fullmatch(r"[\d.]+ \([\d.]+, [\d.]+–[\d.]+\)", cells[6])  # latency × base and spread
    assert "| skipped |" in text  # not_a_method
    index = (root / "README.md").read_text()
    assert "(tables/bench_tiny-bert_fp32-eager.md)" in index


def test_t5_seq2seq_and_render_cli(tmp_path, capsys):
    out = f"output_dir={tmp_path}"
    main(["--config", str(TINY), out, "models=[tiny-t5]", "train_methods=[full, krona]", "infer_methods=[krona]",
          "factor_sweep.shapes=[]"])  # fmt: skip
    assert json.loads((tmp_path / "tiny-t5" / "fp32-eager" / "train" / "krona.json").read_text())[
        "status"
    ] == ("completed")
    main(["--config", str(TINY), out, "--render"])
    assert "tiny-t5, fp32, eager" in capsys.readouterr().out


def test_gpu_kernel_time_columns_appear_with_cuda_records(tiny_run):
    """Records from a CUDA run carry the profiler's GPU kernel time: the table grows a column per kind."""
    _, records = tiny_run
    fake = json.loads(json.dumps([r for r in records if r["status"] == "completed"]))
    for rec in fake:
        rec["metrics"]["gpu_kernel_ms"] = 2.0 if rec["name"] in ("full", "base") else 3.0
        rec["ratios"] = rec.get("ratios", {}) | (
            {} if rec["name"] in ("full", "base") else {"gpu_kernel_ms": 1.5}
        )
    text = render_tables(fake)
    assert "GPU ms/step (×full)" in text and "krona GPU ms (×base)" in text
    krona = next(line for line in text.splitlines() if line.startswith("| krona |"))
    assert "3.00 (1.50)" in krona


def test_rows_from_another_run_are_marked(tiny_run):
    """A record whose ratio used another run's reference gets a † on its time and the table a footnote."""
    _, records = tiny_run
    fake = json.loads(json.dumps([r for r in records if r["status"] == "completed"]))
    krona = next(r for r in fake if r["kind"] == "train" and r["name"] == "krona")
    krona["reference_metrics"]["step_ms"] = 123.0  # the reference of an earlier run
    text = render_tables(fake)
    row = next(line for line in text.splitlines() if line.startswith("| krona |"))
    assert row.count("†") == 1 and "ratio to the reference measured in" in text
    assert "†" not in next(line for line in text.splitlines() if line.startswith("| lora |"))
