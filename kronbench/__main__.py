"""`python -m kronbench [overrides]`: compose `conf/` with Hydra and execute one run (or a multirun sweep)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from kronbench import methods as _methods  # noqa: F401  (registers method schemas before composing)
from kronbench.choices import check_group_choices
from kronbench.config import register_schemas
from kronbench.launch import register_resolvers

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")

register_schemas()
register_resolvers()  # before Hydra composes: the node launcher's n_jobs uses one


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    from kronbench.run import run

    record = run(cfg)
    metrics = (record or {}).get("metrics") or {}
    return metrics.get("score")  # Hydra sweepers (e.g. Optuna) can optimise the reported score


if __name__ == "__main__":
    try:
        check_group_choices(sys.argv[1:])
    except ValueError as err:
        sys.exit(f"error: {err}")
    main()
