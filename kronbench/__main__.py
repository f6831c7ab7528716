"""`kronbench [overrides]` (or `python -m kronbench`): compose the configs with Hydra and execute one run (or a
multirun sweep)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from kronbench import methods as _methods  # noqa: F401  (registers method schemas before composing)
from kronbench.choices import register_help_resolvers
from kronbench.config import register_schemas
from kronbench.distributed import finish_distributed
from kronbench.launch import register_resolvers
from kronbench.paths import CONF_DIR
from kronbench.precheck import check_command_line

register_schemas()
register_help_resolvers()
register_resolvers()  # before Hydra composes: the node launcher's n_jobs uses one


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    from kronbench.run import run

    record = run(cfg)
    metrics = (record or {}).get("metrics") or {}
    return metrics.get("score")  # Hydra sweepers (e.g. Optuna) can optimise the reported score


def cli() -> None:
    """The `kronbench` console command: unknown group choices fail early with the valid ones, then Hydra runs."""
    try:
        check_command_line(sys.argv[1:])
    except ValueError as err:
        sys.exit(f"error: {err}")
    main()  # Hydra exits with an error code when the run fails: no barrier then (the other rank may be gone)
    finish_distributed()


if __name__ == "__main__":
    cli()
