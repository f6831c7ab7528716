"""`python -m kronbench [overrides]`: compose `conf/` with Hydra and execute one run (or a multirun sweep)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from kronbench import methods as _methods  # noqa: F401  (registers method schemas before composing)
from kronbench.config import register_schemas
from kronbench.precheck import check_command_line

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")

register_schemas()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    from kronbench.run import run

    record = run(cfg)
    metrics = (record or {}).get("metrics") or {}
    return metrics.get("score")  # Hydra sweepers (e.g. Optuna) can optimise the reported score


if __name__ == "__main__":
    try:
        check_command_line(sys.argv[1:])
    except ValueError as err:
        sys.exit(f"error: {err}")
    main()
