"""Run records are never lost or silently replaced: unreadable files are named and kept, failures are visible."""

from __future__ import annotations

import json
import os
import stat

import pytest

from kronbench import sweep
from kronbench.results import UnreadableRecord, read_record, record_state, write_record
from kronbench.run import run
from tests.conftest import DATA_DIR, compose_config, needs_shared

QUICK = [
    f"data_dir={DATA_DIR}",
    "model=tiny-bert",
    "method=krona",
    "method.factor_shape=[4,8]",
    "task=glue/rte",
    "train=demo",
    "train.max_steps=2",
    "train.max_train_samples=16",
    "train.max_eval_samples=16",
    "train.progress_bar=false",
]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"status": "completed", "metrics": {"sc', "not valid JSON"),
        (b'{"status": "completed", "note": "\xff\xfe"}', "not UTF-8"),
        (b"[1, 2, 3]", "not a run record"),
    ],
)
def test_unreadable_records_are_named_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "seed0.json"
    path.write_bytes(content)
    with pytest.raises(UnreadableRecord, match=reason) as err:
        read_record(path)
    assert str(path) in str(err.value)
    assert record_state(path) == ("unreadable", str(err.value))


def test_record_states(tmp_path):
    path = tmp_path / "seed0.json"
    assert record_state(path) == ("pending", "")
    write_record(path, {"status": "failed", "error": {"message": "CUDA out of memory\nmore"}})
    assert record_state(path) == ("failed", "CUDA out of memory")
    write_record(path, {"status": "completed"})
    assert record_state(path) == ("done", "") and not path.with_name("seed0.failed.json").exists()


def test_records_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_record(tmp_path / "seed0.json", {"status": "completed"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_run_over_an_unreadable_record_keeps_it(tmp_path):
    path = tmp_path / "seed0.json"
    path.write_bytes(b'{"status": "comp')
    assert write_record(path, {"status": "failed"}) == tmp_path / "seed0.failed.json"
    assert path.read_bytes() == b'{"status": "comp'


@needs_shared
def test_run_refuses_to_train_over_an_unreadable_record_unless_forced(tmp_path):
    cfg = compose_config(*QUICK, f"output_dir={tmp_path}")
    record = run(cfg)
    (path,) = tmp_path.glob("glue/rte/tiny-bert/krona/*/seed0.json")
    assert record["status"] == "completed"
    path.write_bytes(path.read_bytes()[:100])  # truncated, e.g. a disk that filled up
    truncated = path.read_bytes()
    with pytest.raises(UnreadableRecord, match=f"{path}.*force=true"):
        run(cfg)
    assert path.read_bytes() == truncated  # nothing trained, nothing written over it
    run(compose_config(*QUICK, f"output_dir={tmp_path}", "force=true"))
    assert json.loads(path.read_text())["status"] == "completed"


@needs_shared
def test_sweep_lists_failed_and_unreadable_runs(tmp_path, capsys):
    args = [*QUICK, f"output_dir={tmp_path}", "seed=0,1,2"]
    (job0, job1, job2) = [sweep.job_state(o) for o in sweep.sweep_overrides(args)]
    write_record(job0.path, {"status": "failed", "error": {"message": "boom"}})
    job1.path.parent.mkdir(parents=True, exist_ok=True)
    job1.path.write_bytes(b"\xff\xfe garbage")
    counts = sweep.main([*args, "--list"])
    out = capsys.readouterr().out
    assert counts["failed"] == 1 and counts["unreadable"] == 1 and counts["pending"] == 1
    assert (
        f"[failed] {job0.path}  (boom)" in out and f"[unreadable] {job1.path}" in out and "not UTF-8" in out
    )
    assert job2.state == "pending"


def test_two_runs_started_in_the_same_second_get_their_own_hydra_directories():
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        first, second = (compose("config", return_hydra_config=True).hydra for _ in range(2))
    assert first.run.dir != second.run.dir and first.sweep.dir != second.sweep.dir


def test_code_fingerprint_names_the_code_and_configs_by_content(tmp_path):
    """The record's `code_fingerprint` changes with any kronbench module or config, and with nothing else: it
    identifies the code where a GPU machine's git metadata (`git_sha`) may be stale."""
    from kronbench.results import code_fingerprint, environment, tree_fingerprint

    package, configs = tmp_path / "package", tmp_path / "configs"
    (package / "methods").mkdir(parents=True)
    (configs / "train").mkdir(parents=True)
    (package / "methods" / "krona.py").write_text("x = 1\n")
    (configs / "train" / "gpu.yaml").write_text("lr: 1e-3\n")
    first = tree_fingerprint(package, configs)
    (package / "README.md").write_text("docs only")
    (configs / "notes.txt").write_text("not a config")
    assert tree_fingerprint(package, configs) == first
    (configs / "train" / "gpu.yaml").write_text("lr: 2e-3\n")
    second = tree_fingerprint(package, configs)
    (package / "methods" / "krona.py").write_text("x = 2\n")
    assert len({first, second, tree_fingerprint(package, configs)}) == 3
    assert len(first) == 16 and int(first, 16) >= 0
    assert environment()["code_fingerprint"] == code_fingerprint()
