"""Reject a command line's bad config before Hydra prints (`--cfg job`), launches (`-m`) or loads anything.

Hydra composes and prints configs without instantiating the schemas, so `__post_init__` checks and stray keys
added with `+` would otherwise surface only when a run starts -- in a sweep, only when that job's turn comes.
Here every job of the command line is composed as Hydra will compose it and validated by
:func:`kronbench.config.validate_config`.
"""

from __future__ import annotations

import sys

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from kronbench.choices import check_group_choices
from kronbench.config import register_schemas, validate_config
from kronbench.paths import CONF_DIR

SHOWN_ERRORS = 5  # a sweep with many bad jobs lists the first few
SLOW_CHECK = 50  # say what is happening when checking takes a while (~0.1 s per configuration)


def distinct_jobs(jobs: list[list[str]]) -> list[list[str]]:
    """One job per configuration apart from the seed, plus one per seed value: seeds change no other check."""
    kept: dict[tuple[str, ...], list[str]] = {}
    for job in jobs:
        rest = tuple(o for o in job if not o.startswith("seed="))
        seeds = tuple(o for o in job if o.startswith("seed="))
        kept.setdefault(rest, job)
        kept.setdefault(seeds, job)
    return list({tuple(job): job for job in kept.values()}.values())


def invalid_jobs(jobs: list[list[str]]) -> list[tuple[list[str], str]]:
    """(job, reason) for every job whose config does not compose or validate; one Hydra context for all."""
    errors = []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for job in jobs:
            try:
                validate_config(compose("config", overrides=job))
            except (ValueError, HydraException, OmegaConfBaseException) as err:
                errors.append((job, str(err)))
    return errors


def check_command_line(argv: list[str]) -> None:
    """Raise ValueError naming the invalid jobs of `python -m kronbench <argv>` (nothing to do for help)."""
    args = get_args_parser().parse_args(argv)
    check_group_choices(args.overrides)
    if args.help or args.hydra_help or args.info or args.shell_completion or args.experimental_rerun:
        return
    if args.config_path or args.config_dir or args.config_name:
        return  # another config tree: Hydra's own composition applies
    register_schemas()
    if not args.multirun:
        errors = invalid_jobs([args.overrides])
        if errors:
            raise ValueError(errors[0][1])
        return
    from kronbench.sweep import sweep_overrides

    jobs = sweep_overrides(args.overrides)
    checked = distinct_jobs(jobs)
    if len(checked) > SLOW_CHECK:
        print(f"checking {len(checked)} configurations of {len(jobs)} jobs ...", file=sys.stderr, flush=True)
    errors = invalid_jobs(checked)
    if errors:
        listed = "\n".join(f"job {' '.join(job)}: {reason}" for job, reason in errors[:SHOWN_ERRORS])
        more = f"\n(and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        raise ValueError(
            f"{len(errors)} of {len(checked)} distinct job configs are invalid, nothing was run:\n{listed}{more}"
        )
