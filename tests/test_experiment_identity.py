"""Every run knows its experiment cell (preset + one value per sweep axis) and its identity includes cell and data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from kronbench.experiment import ExperimentCell, experiment_cell
from kronbench.identity import data_fingerprint, identify
from kronbench.run import to_run_config
from tests.conftest import CONF_DIR, DATA_DIR, REPO, needs_shared


def composed_identity(*overrides: str):
    """Compose as one job of `python -m kronbench -m ...` would, and identify it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        full = compose("config", overrides=list(overrides), return_hydra_config=True)
    hydra_node = full.hydra
    with open_dict(full):
        del full["hydra"]
    cell = experiment_cell(full, hydra_node)
    return identify(to_run_config(full), OmegaConf.to_container(full, resolve=True), cell)


TABLE9 = ["experiment=krona_table9_factor_shapes", "scale=local", "method.factor_shape=[2,384]", "seed=0"]


def test_preset_cell_has_one_value_per_axis_and_no_deviations():
    ident = composed_identity(*TABLE9)
    assert ident.experiment.preset == "krona_table9_factor_shapes"
    assert ident.experiment.scale == "local"
    assert ident.experiment.cell == {"model": "minilm", "method.factor_shape": "[2,384]"}
    assert ident.experiment.deviations == []
    assert ident.experiment.cell_id == "krona_table9_factor_shapes:method.factor_shape=[2,384],model=minilm"


def test_axis_values_are_canonical_however_written():
    spaced = composed_identity(*TABLE9[:2], "method.factor_shape=[2, 384]", "seed=0")
    assert (
        spaced.experiment.cell["method.factor_shape"] == "[2,384]"
        and spaced.path == composed_identity(*TABLE9).path
    )


def test_group_axes_take_the_chosen_option():
    ident = composed_identity(
        "experiment=krona_table1_glue",
        "experiment/part/cell=krona_paper/lora/mrpc",
        "model=t5-base",
        "seed=42",
    )
    assert ident.experiment.cell == {"model": "t5-base", "experiment/part/cell": "krona_paper/lora/mrpc"}
    assert ident.path.name == "seed42.json" and ident.path.parts[-5:-2] == ("mrpc", "t5-base", "lora")


def test_deviation_is_recorded_and_changes_the_record_path():
    base = composed_identity(*TABLE9)
    short = composed_identity(*TABLE9, "train.epochs=1")
    assert short.experiment.deviations == ["train.epochs=1"]
    assert short.experiment.cell == base.experiment.cell and short.path != base.path
    # output places and logging are not deviations and do not move the record within its root
    quiet = composed_identity(*TABLE9, "train.progress_bar=false", "force=true")
    assert quiet.experiment.deviations == [] and quiet.path == base.path


def test_two_presets_running_the_same_configuration_keep_separate_records():
    """KronA Tables 1 and 4 report different numbers for the KU/zero KronA runs: each table has its own runs."""
    table1 = composed_identity("experiment=krona_table1_glue", "experiment/part/cell=krona_paper/krona/rte")
    table4 = composed_identity(
        "experiment=krona_table4_init", "experiment/part/cell=krona_paper/krona/rte", "method.init=ku_zero"
    )
    assert table1.path.parent.parent == table4.path.parent.parent  # same task/model/method folder
    assert table1.path != table4.path
    assert table4.experiment.cell["method.init"] == "ku_zero"


def test_ad_hoc_runs_have_no_preset_and_keep_their_overrides():
    ident = composed_identity("method=lora", "train.lr=1e-4")
    assert ident.experiment.preset is None and ident.experiment.cell_id is None
    assert ident.experiment.deviations == ["method=lora", "train.lr=1e-4"]
    assert ExperimentCell().as_record()["cell_id"] is None


@needs_shared
def test_data_fingerprint_follows_content_not_location(tmp_path):
    cfg = to_run_config(_bare("task=glue/rte")).task
    copy = tmp_path / "glue" / "rte"
    copy.mkdir(parents=True)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl"):
        (copy / name).write_bytes((DATA_DIR / "glue" / "rte" / name).read_bytes())
    original = data_fingerprint(cfg, DATA_DIR)
    assert original.startswith("local-sha1:") and data_fingerprint(cfg, tmp_path) == original
    with (copy / "train.jsonl").open("a") as fh:
        fh.write(json.dumps({"sentence1": "a", "sentence2": "b", "label": 0, "idx": 99999}) + "\n")
    assert data_fingerprint(cfg, tmp_path) != original
    assert data_fingerprint(cfg, None).startswith("hub:nyu-mll/glue/rte@")


def test_weights_are_named_by_content_not_location(tmp_path):
    """The same model folder at two places gives one run hash (a record made on a GPU machine is found by the sweep
    on another); other bytes in it give another, and hub weights are named by id and revision."""
    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder in (first, second):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"model_type": "bert"}')
        (folder / "model.safetensors").write_bytes(b"weights")
    overrides = [*TABLE9[:-1], "seed=0"]
    at_first = composed_identity(*overrides, f"model.path={first}")
    assert at_first.weights.startswith("local-sha1:")
    assert composed_identity(*overrides, f"model.path={second}").run_hash == at_first.run_hash
    (second / "model.safetensors").write_bytes(b"other weights")
    assert composed_identity(*overrides, f"model.path={second}").run_hash != at_first.run_hash
    hub = composed_identity("method=krona", "task=glue/rte", "model=bert-base-uncased", "seed=0")
    bert = to_run_config(_bare("model=bert-base-uncased")).model
    assert bert.revision and hub.weights == f"hub:{bert.pretrained}@{bert.revision}"


def _bare(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@needs_shared
def test_cli_run_of_a_preset_writes_its_cell_where_the_sweep_lister_looks(tmp_path):
    """The real entry point (Hydra multirun) writes the record at the path `kronbench.sweep` predicts."""
    overrides = [
        "experiment=krona_table4_init",
        "scale=local",
        "model=tiny-bert",
        "experiment/part/cell=krona_paper/krona/rte",
        "method.init=normal",
        "method.factor_shape=[4,8]",
        "seed=0",
        f"output_dir={tmp_path / 'results'}",
        "train=demo",
        "train.max_steps=2",
        "train.max_train_samples=16",
        "train.max_eval_samples=16",
        "train.progress_bar=false",
    ]
    env = {**os.environ, "KRONBENCH_SHARED": str(DATA_DIR.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "kronbench", "-m", *overrides, f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = composed_identity(*overrides)
    record = json.loads(expected.path.read_text())
    assert record["experiment"] == expected.experiment.as_record()
    assert record["experiment"]["cell"] == {
        "model": "tiny-bert",
        "experiment/part/cell": "krona_paper/krona/rte",
        "method.init": "normal",
    }
    assert record["experiment"]["deviations"] == [
        "method.factor_shape=[4,8]",
        "train.max_eval_samples=16",
        "train.max_steps=2",
        "train.max_train_samples=16",
        "train=demo",
    ]
    assert record["identity"]["run_hash"] == expected.run_hash and record["identity"]["data"] == expected.data


@pytest.mark.parametrize("value", [[2, 384], "[2,384]"])
def test_axis_value_text(value):
    from kronbench.experiment import axis_value

    assert axis_value(value) == "[2,384]"


@needs_shared
def test_local_runs_do_not_depend_on_where_the_hub_keeps_the_task():
    local = [f"data_dir={DATA_DIR}", "task=glue/rte"]
    assert composed_identity(*local).path == composed_identity(*local, "task.revision=abc").path
    assert (
        composed_identity("task=glue/rte").path
        != composed_identity("task=glue/rte", "task.revision=abc").path
    )
