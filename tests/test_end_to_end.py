"""Real runs on real data: MiniLM + KronA on GLUE RTE from ../shared, a few steps, a valid record; skip and force."""

from __future__ import annotations

import json

import pytest
import torch

from kronbench.run import run
from tests.conftest import DATA_DIR, MINILM_FP16, RECORD_SECTIONS, compose_config, needs_shared

pytestmark = needs_shared

QUICK = [
    f"data_dir={DATA_DIR}",
    "train=demo",
    "train.max_steps=4",
    "train.max_train_samples=64",
    "train.max_eval_samples=32",
    "train.batch_size=8",
    "train.progress_bar=false",
]


TINY = ["model=tiny-bert", "method.factor_shape=[4,8]"]  # hidden 32: A (4, 8), B (8, 4)


def minilm_overrides() -> list[str]:
    return [f"model.path={MINILM_FP16}"] if MINILM_FP16.exists() else []


def test_minilm_krona_rte_writes_record_then_skips_then_forces(tmp_path):
    cfg = compose_config(
        "method=krona", "task=glue/rte", f"output_dir={tmp_path}", *QUICK, *minilm_overrides()
    )
    record = run(cfg, run_dir=tmp_path)
    paths = list(tmp_path.glob("glue/rte/minilm/krona/*/seed0.json"))
    assert len(paths) == 1
    on_disk = json.loads(paths[0].read_text())
    assert on_disk["status"] == "completed" and record["status"] == "completed"
    for section in RECORD_SECTIONS:
        assert section in on_disk, section
    assert on_disk["params"]["targets"] == [
        f"bert.encoder.layer.{i}.attention.self.{m}" for i in range(6) for m in ("query", "value")
    ]
    assert 0 < on_disk["params"]["trainable"] < on_disk["params"]["total"]
    # 12 targets × (A 32×24 + B 12×16) + classifier (384×2 + 2)
    assert on_disk["params"]["method"] == 12 * (32 * 24 + 12 * 16)
    assert on_disk["data"]["source"].startswith("local:") and on_disk["data"]["used_sizes"]["train"] == 64
    assert on_disk["data"]["split_protocol"] == "halve_dev" and on_disk["data"]["reported_split"] == "test"
    assert 0.0 <= on_disk["metrics"]["score"] <= 100.0
    assert on_disk["metrics"]["report"]["merged"] is True
    assert on_disk["timing"]["optimizer_steps"] == 4

    mtime = paths[0].stat().st_mtime_ns
    skipped = run(cfg, run_dir=tmp_path)
    assert skipped["started"] == on_disk["started"] and paths[0].stat().st_mtime_ns == mtime

    forced = compose_config(
        "method=krona", "task=glue/rte", f"output_dir={tmp_path}", "force=true", *QUICK, *minilm_overrides()
    )
    run(forced, run_dir=tmp_path)
    assert paths[0].stat().st_mtime_ns != mtime


def test_same_seed_twice_gives_identical_metrics(tmp_path):
    scores = []
    for i in range(2):
        cfg = compose_config(
            "method=krona", "task=glue/rte", f"output_dir={tmp_path / str(i)}", *TINY, *QUICK
        )
        scores.append(run(cfg)["metrics"])
    assert scores[0]["evals"] == scores[1]["evals"] and scores[0]["report"] == scores[1]["report"]


def test_different_seeds_differ(tmp_path):
    records = [
        run(
            compose_config(
                "method=krona", "task=glue/rte", f"output_dir={tmp_path}", *TINY, f"seed={s}", *QUICK
            )
        )
        for s in (0, 1)
    ]
    assert records[0]["metrics"]["evals"][0]["train_loss"] != records[1]["metrics"]["evals"][0]["train_loss"]


def test_missing_data_file_names_the_path_and_writes_failed_record(tmp_path):
    cfg = compose_config(
        "task=glue/rte",
        f"data_dir={tmp_path / 'nowhere'}",
        f"output_dir={tmp_path}",
        "model=tiny-bert",
        "train=demo",
    )
    with pytest.raises(FileNotFoundError, match=r"nowhere/glue/rte/train\.jsonl"):
        run(cfg)
    (failed,) = tmp_path.glob("glue/rte/tiny-bert/krona/*/seed0.json")
    assert json.loads(failed.read_text())["status"] == "failed"


def test_failed_rerun_never_overwrites_a_completed_record(tmp_path):
    good = compose_config("method=krona", "task=glue/rte", f"output_dir={tmp_path}", *TINY, *QUICK)
    run(good)
    (path,) = tmp_path.glob("glue/rte/tiny-bert/krona/*/seed0.json")
    # same variant (explicit), forced, but the data folder is gone: the failure goes beside the record
    variant = path.parent.name
    bad = compose_config(
        "method=krona",
        "task=glue/rte",
        f"output_dir={tmp_path}",
        *TINY,
        *QUICK,
        f"method.variant={variant}",
        "force=true",
        f"data_dir={tmp_path / 'gone'}",
    )
    with pytest.raises(FileNotFoundError):
        run(bad)
    assert json.loads(path.read_text())["status"] == "completed"
    assert json.loads(path.with_name("seed0.failed.json").read_text())["status"] == "failed"


def test_bad_factor_shape_at_attach_names_layer(tmp_path):
    cfg = compose_config("method=krona", f"output_dir={tmp_path}", *TINY, "method.factor_shape=[5,7]", *QUICK)
    with pytest.raises(
        ValueError, match=r"encoder\.layer\.0\.attention\.self\.query.*d_out=32.*Valid shapes"
    ):
        run(cfg)


@pytest.mark.parametrize("method", ["krona", "lora"])
def test_merged_and_unmerged_logits_are_equal(method):
    from kronbench.models import load_model
    from kronbench.registry import get_method
    from kronbench.run import to_run_config

    cfg = to_run_config(
        compose_config(
            f"method={method}",
            "model=tiny-bert",
            *(["method.factor_shape=[4,8]"] if method == "krona" else []),
        )
    )
    torch.manual_seed(0)
    model, tok = load_model(cfg.model, cfg.task)
    m = get_method(method)(cfg.method, cfg.model)
    m.apply(model)
    with torch.no_grad():  # move away from the zero init so the update is not trivially zero
        for name, p in model.named_parameters():
            if p.requires_grad and "classifier" not in name:
                p.add_(0.05 * torch.randn_like(p))
    model.eval()
    batch = tok(
        ["a short sentence", "and another, longer one"],
        ["hypothesis one", "two"],
        return_tensors="pt",
        padding=True,
    )
    unmerged = model(**batch).logits
    m.merge(model)
    merged = model(**batch).logits
    m.unmerge(model)
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmerged, torch.zeros_like(unmerged))


def test_wandb_offline_logging_writes_a_local_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_config(
        "method=krona",
        f"output_dir={tmp_path / 'res'}",
        *TINY,
        *QUICK,
        "train.wandb=true",
        "train.wandb_mode=offline",
    )
    record = run(cfg, run_dir=tmp_path)
    assert record["status"] == "completed"
    assert list((tmp_path / "wandb").glob("offline-run-*")), "no offline W&B run directory was written"


@pytest.mark.parametrize("method", ["krona", "lora", "cdka"])
def test_merge_and_unload_gives_the_base_architecture_with_equal_logits(method):
    from kronbench.models import load_model
    from kronbench.registry import get_method
    from kronbench.run import to_run_config

    extra = ["method.factor_shape=[4,8]"] if method == "krona" else []
    cfg = to_run_config(compose_config(f"method={method}", "model=tiny-bert", *extra))
    torch.manual_seed(0)
    model, tok = load_model(cfg.model, cfg.task)
    reference_types = [type(m) for m in model.modules()]
    m = get_method(method)(cfg.method, cfg.model)
    m.apply(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and "classifier" not in name:
                p.add_(0.05 * torch.randn_like(p))
    model.eval()
    batch = tok(["a short sentence", "and another"], ["one", "two"], return_tensors="pt", padding=True)
    before = model(**batch).logits
    unloaded = m.merge_and_unload(model)
    assert [type(x) for x in unloaded.modules()] == reference_types
    torch.testing.assert_close(unloaded(**batch).logits, before, rtol=1e-5, atol=1e-5)


def test_records_count_deployed_parameters_of_mixtures():
    """MAdaKron trains n experts but deploys their average: its deployed count equals AdaKron's."""
    from kronbench.models import load_model
    from kronbench.registry import get_method
    from kronbench.run import to_run_config

    counts = {}
    for name in ("adakron", "madakron_partial", "madakron_full"):
        cfg = to_run_config(compose_config(f"method={name}", "model=tiny-bert"))
        model, _ = load_model(cfg.model, cfg.task)
        counts[name] = get_method(name)(cfg.method, cfg.model).apply(model).as_dict()
    assert counts["madakron_partial"]["trainable"] > counts["adakron"]["trainable"]
    assert counts["madakron_full"]["trainable"] > counts["madakron_partial"]["trainable"]
    assert {c["inference"] for c in counts.values()} == {counts["adakron"]["trainable"]}
