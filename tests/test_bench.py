"""`make bench` harness on CPU with tiny models: valid records, ratios, skips, rendering (no timing claims)."""

from __future__ import annotations

import json

from kronbench.bench import load_plan, main, render_tables, run_plan
from tests.conftest import CONF_DIR

TINY = CONF_DIR / "bench" / "tiny.yaml"


def test_tiny_plan_writes_valid_records(tmp_path):
    plan = load_plan(
        TINY,
        [
            f"output_dir={tmp_path}",
            "models=[tiny-bert]",
            "only=[lora, krona, krona-merged, lokr, not_a_method, krona-A2x16]",
            "train_methods=[full, lora, krona, lokr, not_a_method]",
            "infer_methods=[krona, {method: krona, merged: true}]",
            "factor_sweep.shapes=[[2, 16]]",
            "factor_sweep.methods=[krona]",
        ],
    )
    records = run_plan(plan)
    by = {(r["kind"], r["name"]): r for r in records}
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
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == len(records)
    rec = json.loads((tmp_path / "tiny-bert" / "fp32-eager" / "train" / "krona.json").read_text())
    assert rec["status"] == "completed" and rec["env"]["device"] == "cpu"
    table = render_tables([json.loads(p.read_text()) for p in files])
    assert "| krona |" in table and "tiny-bert, fp32, eager" in table


def test_t5_seq2seq_and_render_cli(tmp_path, capsys):
    out = f"output_dir={tmp_path}"
    main(["--config", str(TINY), out, "models=[tiny-t5]", "train_methods=[full, krona]", "infer_methods=[krona]",
          "factor_sweep.shapes=[]"])  # fmt: skip
    assert json.loads((tmp_path / "tiny-t5" / "fp32-eager" / "train" / "krona.json").read_text())[
        "status"
    ] == ("completed")
    main(["--config", str(TINY), out, "--render"])
    assert "tiny-t5, fp32, eager" in capsys.readouterr().out
