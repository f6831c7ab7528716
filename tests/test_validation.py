"""Bad config values and keys are rejected right after composition: `--cfg job`, `-m`, the sweep lister, runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kronbench import sweep
from kronbench.config import ConfigError, validate_config
from kronbench.precheck import check_command_line
from tests.conftest import REPO, compose_config

BAD_VALUES = [
    ("method.init=orthogonal", r"method.init='orthogonal'.*\['ku_zero', 'normal'\]"),
    ("train.eval_strategy=step", r"train.eval_strategy='step' .*\['epoch', 'steps'\] \(evaluate every epoch"),
    ("model.dtype=fp32", r"model.dtype='fp32' .*'float32'.* \(dtype the weights are loaded in\)"),
    ("train.epochs=0", r"train.epochs=0.0 and train.max_steps=-1 .*train.epochs > 0 or train.max_steps > 0"),
    ("train.eval_batch_size=0", r"train.eval_batch_size=0 .* >= 1"),
    ("train.max_train_samples=0", r"train.max_train_samples=0 .* >= 1"),
    ("train.warmup_ratio=1.5", r"train.warmup_ratio=1.5 .*\[0, 1\)"),
    ("train.lr=0", r"train.lr=0.0 .* > 0"),
    ("seed=-1", r"seed=-1 .* >= 0"),
    ("task.max_length=0", r"task.max_length=0 .* >= 1"),
]


@pytest.mark.parametrize(("override", "message"), BAD_VALUES)
def test_bad_values_are_rejected_naming_value_and_valid_ones(override, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(compose_config(override))


def test_eval_steps_zero_is_rejected_only_with_steps_strategy():
    with pytest.raises(ConfigError, match=r"train.eval_steps=0 .* >= 1 with train.eval_strategy=steps"):
        validate_config(compose_config("train.eval_strategy=steps", "train.eval_steps=0"))
    validate_config(compose_config("train.eval_strategy=epoch", "train.eval_steps=0"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+train.epocs=1", r"unknown key 'train.epocs' .*did you mean train.epochs\?"),
        ("+method.factor_shap=[2,2]", r"unknown key 'method.factor_shap' \(KronAConfig.*factor_shape"),
        ("+model.sites.ffn.blok=x", r"unknown key 'model.sites.ffn.blok' \(SiteConfig"),
    ],
)
def test_keys_added_with_plus_to_a_schema_are_rejected(override, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(compose_config("model=tiny-bert", override))


def test_free_form_dicts_still_take_new_keys():
    cfg = validate_config(compose_config("+model.config_overrides.hidden_dropout_prob=0.2"))
    assert cfg.model.config_overrides["hidden_dropout_prob"] == 0.2


def test_command_line_check_covers_every_job_of_a_sweep():
    check_command_line(["-m", "seed=0,42", "method=krona", "--cfg", "job"])
    with pytest.raises(
        ValueError, match=r"(?s)1 of 2 distinct job configs are invalid.*method.init='orthogonal'"
    ):
        check_command_line(["-m", "method.init=ku_zero,orthogonal"])
    check_command_line(["--help"])  # help needs no valid config


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_cfg_job_rejects_a_bad_value():
    done = run_cli("kronbench", "method.init=orthogonal", "--cfg", "job")
    assert done.returncode != 0
    assert "method.init='orthogonal' is not valid; choose one of ['ku_zero', 'normal']" in done.stderr
    assert "model:" not in done.stdout  # nothing printed as if valid


def test_sweep_lister_marks_bad_values_invalid(capsys):
    counts = sweep.main(["method=krona", "seed=0,1", "+train.epocs=1"])
    assert counts["invalid"] == 2
    assert "invalid: unknown key 'train.epocs'" in capsys.readouterr().out
