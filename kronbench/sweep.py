"""List a preset's sweep: how many runs it launches, how many are done, pending, failed or not runnable yet.

Run: python -m kronbench.sweep experiment=krona_table9_factor_shapes [scale=local] [overrides ...] [--list]
Launch the same sweep with: python -m kronbench -m experiment=<preset> [same overrides]
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict

from kronbench import methods as _methods  # noqa: F401  (registers method schemas)
from kronbench.config import ConfigError, register_schemas
from kronbench.paths import CONF_DIR

STATES = ("done", "pending", "failed", "unreadable", "invalid", "unavailable")


@dataclass
class Job:
    """One run of a sweep: its overrides, record path (None when it cannot compose) and state."""

    overrides: list[str]
    path: Path | None
    state: str  # one of STATES
    reason: str = ""


def sweep_overrides(overrides: list[str]) -> list[list[str]]:
    """The preset's `hydra.sweeper.params` merged with command-line sweeps, expanded to one list per job."""
    register_schemas()
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=fixed, return_hydra_config=True)
    params: dict[str, str] = {k: str(v) for k, v in (cfg.hydra.sweeper.params or {}).items()}
    for override in parsed:
        if override.is_sweep_override():
            params[override.get_key_element()] = ",".join(override.sweep_string_iterator())
    # fixed command-line values win over the preset's sweep of the same key
    fixed_keys = {o.get_key_element() for o in parsed if not o.is_sweep_override()}
    params = {k: v for k, v in params.items() if k not in fixed_keys}
    axes = []
    for key, value in params.items():
        parsed = parser.parse_overrides([f"{key}={value}"])[0]
        values = list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else [value]
        axes.append([f"{key}={v}" for v in values])
    return [fixed + list(combo) for combo in itertools.product(*axes)]


def job_state(overrides: list[str]) -> Job:
    """Compose one job as `python -m kronbench` would and look at its record."""
    from kronbench.experiment import experiment_cell
    from kronbench.identity import identify
    from kronbench.results import record_state
    from kronbench.run import to_run_config

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            full = compose("config", overrides=overrides, return_hydra_config=True)
        hydra_node = full.hydra
        with open_dict(full):
            del full["hydra"]
        run_cfg = to_run_config(full)
        config: dict[str, Any] = OmegaConf.to_container(full, resolve=True)  # type: ignore[assignment]
        path = identify(run_cfg, config, experiment_cell(full, hydra_node)).path
    except ConfigError as err:  # a bad value or key: named with what would be valid
        return Job(overrides, None, "invalid", str(err))
    except Exception as err:  # unknown method / model / task (not implemented yet) or invalid options
        return Job(overrides, None, "unavailable", f"{type(err).__name__}: {str(err).splitlines()[0]}")
    state, reason = record_state(path)
    return Job(overrides, path, state, reason)


def main(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(prog="python -m kronbench.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="experiment=<preset> and any other Hydra overrides")
    parser.add_argument("--list", action="store_true", help="print every run with its state")
    parser.add_argument(
        "--dry-run", action="store_true", help="accepted for symmetry; nothing is ever launched"
    )
    args = parser.parse_args(argv)
    jobs = [job_state(o) for o in sweep_overrides(args.overrides)]
    counts = {s: sum(j.state == s for j in jobs) for s in STATES}
    for job in jobs if args.list else []:
        print(
            f"[{job.state}] {job.path or ' '.join(job.overrides)}"
            + (f"  ({job.reason})" if job.reason else "")
        )
    print(f"{len(jobs)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for state in ("failed", "unreadable", "invalid", "unavailable"):
        for reason in sorted({j.reason for j in jobs if j.state == state and j.reason})[:10]:
            print(f"  {state}: {reason}")
    return counts


def cli() -> None:
    """The `kronbench-sweep` console command: exits 2 when a job is invalid (a non-zero exit stops scripts)."""
    raise SystemExit(2 if main()["invalid"] else 0)


if __name__ == "__main__":
    cli()
