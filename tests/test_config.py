"""Every YAML under conf/ composes and validates; bad input fails with errors that name the bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from kronbench.choices import available_options, check_group_choices
from kronbench.config import RunConfig
from kronbench.run import to_run_config
from tests.conftest import CONF_DIR, compose_config


def options(group: str) -> list[str]:
    return available_options(group, CONF_DIR)


@pytest.mark.parametrize("model", options("model"))
def test_every_model_composes(model):
    cfg = to_run_config(compose_config(f"model={model}"))
    assert isinstance(cfg, RunConfig) and cfg.model.name


@pytest.mark.parametrize("method", options("method"))
def test_every_method_composes(method):
    cfg = to_run_config(compose_config(f"method={method}"))
    assert cfg.method.name == method.split("/")[-1] or cfg.method.name


@pytest.mark.parametrize("task", options("task"))
def test_every_task_composes(task):
    cfg = to_run_config(compose_config(f"task={task}"))
    assert cfg.task.name == task and cfg.task.main_metric in cfg.task.metrics


@pytest.mark.parametrize("train", options("train"))
def test_every_train_preset_composes(train):
    assert to_run_config(compose_config(f"train={train}")).train.batch_size >= 1


def test_family_files_are_included_by_some_model():
    family_files = {p.stem for p in (CONF_DIR / "model" / "family").glob("*.yaml")}
    used = {
        line.split("family/")[1].split("@")[0]
        for p in (CONF_DIR / "model").glob("*.yaml")
        for line in p.read_text().splitlines()
        if "family/" in line
    }
    assert family_files <= used


def test_every_yaml_opens_with_a_comment():
    for path in Path(CONF_DIR).rglob("*.yaml"):
        assert path.read_text().startswith("#"), (
            f"{path} must open with a comment (what it is, how to run it)"
        )


def test_typo_in_key_fails_with_hydra_error():
    with pytest.raises(ConfigCompositionException) as err:
        compose_config("method=krona", "method.factor_shap=[2,384]")
    assert isinstance(err.value.__cause__, (ConfigKeyError, ConfigAttributeError)) and "factor_shap" in str(
        err.value.__cause__
    )


def test_wrong_type_fails():
    with pytest.raises(ConfigCompositionException) as err:
        compose_config("train.batch_size=large")
    assert isinstance(err.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    ("group", "value"), [("method", "kronaa"), ("task", "glue/rtee"), ("model", "bert-huge")]
)
def test_unknown_option_lists_valid_ones(group, value):
    with pytest.raises(ConfigCompositionException, match=rf"Could not find '{group}/{value}'"):
        compose_config(f"{group}={value}")
    with pytest.raises(
        ValueError, match=rf"unknown {group} '{value}'; available {group} options: \[.*'"
    ) as err:
        check_group_choices([f"{group}={value}"])
    assert {"method": "krona", "task": "glue/rte", "model": "minilm"}[group] in str(err.value)


def test_choice_check_accepts_valid_sweeps_and_ignores_other_keys():
    check_group_choices(
        ["task=glue/rte,glue/mrpc", "method=krona", "seed=1", "method.factor_shape=[2,384]", "task=glob(*)"]
    )
    with pytest.raises(ValueError, match="glue/nope"):
        check_group_choices(["task=glue/rte,glue/nope"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.factor_shape=[2,3,4]", r"method.factor_shape=\[2, 3, 4\]"),
        ("method.init=orthogonal", r"method.init='orthogonal'.*ku_zero"),
        ("train.optimizer=sgd", r"train.optimizer='sgd'.*adamw"),
        ("task.split_protocol=random", r"task.split_protocol='random'"),
        ("task.main_metric=f1", r"task.main_metric='f1'"),
    ],
)
def test_cross_field_checks_name_the_value(override, message):
    with pytest.raises(ValueError, match=message):
        to_run_config(compose_config("method=krona", override))
