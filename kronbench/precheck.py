"""Reject a command line's bad config before Hydra prints (`--cfg job`), launches (`-m`) or loads anything.

Hydra composes and prints configs without instantiating the schemas, so `__post_init__` checks and stray keys
added with `+` would otherwise surface only when a run starts -- in a sweep, only when that job's turn comes.
Here every job of the command line is composed as Hydra will compose it and validated by
:func:`kronbench.config.validate_config`.
"""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from kronbench.choices import CONF_DIR, check_group_choices
from kronbench.config import register_schemas, validate_config

SHOWN_ERRORS = 5  # a sweep with many bad jobs lists the first few


def compose_job(overrides: list[str]) -> None:
    """Compose `conf/config.yaml` with `overrides` and validate it (raises with the bad key or value)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    validate_config(cfg)


def check_command_line(argv: list[str]) -> None:
    """Raise ValueError naming every invalid job of `python -m kronbench <argv>` (nothing to do for help)."""
    args = get_args_parser().parse_args(argv)
    check_group_choices(args.overrides)
    if args.help or args.hydra_help or args.info or args.shell_completion or args.experimental_rerun:
        return
    if args.config_path or args.config_dir or args.config_name:
        return  # another config tree: Hydra's own composition applies
    register_schemas()
    if args.multirun:
        from kronbench.sweep import sweep_overrides

        jobs = sweep_overrides(args.overrides)
    else:
        jobs = [args.overrides]
    errors: list[str] = []
    for job in jobs:
        try:
            compose_job(job)
        except (ValueError, HydraException, OmegaConfBaseException) as err:
            where = f"job {' '.join(job)}: " if args.multirun else ""
            errors.append(f"{where}{err}")
    if errors:
        more = f"\n(and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        head = f"{len(errors)} of {len(jobs)} jobs are invalid, nothing was run:\n" if args.multirun else ""
        raise ValueError(head + "\n".join(errors[:SHOWN_ERRORS]) + more)
