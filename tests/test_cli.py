"""The command line a user meets: a short `--help` naming only the groups they choose from, and runs that write
under outputs/ unless told to write the committed results/."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kronbench.choices import USER_GROUPS, available_options, groups_help
from tests.conftest import REPO, compose_config

INTERNAL = ("schema", "family", "part/", "tables/paper", "hydra/", "\nbench:", "\ntables:")
MAX_HELP_LINES = 50


@pytest.fixture(scope="module")
def help_text() -> str:
    env = {k: v for k, v in os.environ.items() if k != "KRONBENCH_RESULTS_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "kronbench", "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_help_is_short_and_lists_only_the_user_facing_groups(help_text: str) -> None:
    lines = help_text.strip().splitlines()
    assert len(lines) <= MAX_HELP_LINES, f"--help has {len(lines)} lines"
    section = help_text.split("== Config groups")[1].split("\n==")[0].splitlines()[1:]
    listed = [line.split(":")[0] for line in section if line and not line[0].isspace()]
    assert listed == list(USER_GROUPS)
    for word in INTERNAL:
        assert word not in help_text, f"--help mentions the internal {word!r}"
    assert "krona_table9_factor_shapes" in help_text and "glue/rte" in help_text
    assert "output_dir: outputs/results" in help_text


def test_groups_help_names_every_selectable_option_once() -> None:
    text = groups_help()
    for group in USER_GROUPS:
        for option in available_options(group):
            assert f" {option}," in text or f" {option}\n" in text + "\n", (group, option)
    assert not any(o.startswith("part/") for o in available_options("experiment"))


def test_default_output_dir_is_under_outputs_not_the_committed_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KRONBENCH_RESULTS_DIR", raising=False)
    output_dir = compose_config().output_dir
    assert output_dir.startswith("outputs/") and output_dir != "results"
    assert compose_config("output_dir=results").output_dir == "results"  # the committed records: explicit


@pytest.mark.parametrize("plan", ["default.yaml", "trainer.yaml"])
def test_bench_plans_write_under_outputs_by_default(plan: str) -> None:
    from kronbench.bench import load_plan
    from kronbench.paths import CONF_DIR

    assert load_plan(CONF_DIR / "bench" / plan, [])["output_dir"].startswith("outputs/")
