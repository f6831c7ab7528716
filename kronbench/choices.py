"""The user-facing config groups: their options, early errors for unknown choices, and the `--help` listing.

Hydra lists no options for nested groups and its own `--help` lists every folder of `conf/`, internal ones too.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from kronbench.paths import CONF_DIR

USER_GROUPS = ("model", "method", "task", "train", "experiment", "scale")
INTERNAL_FOLDERS = {"family", "schema", "part"}  # included by other files, not selectable on their own
HELP_WIDTH = 110


def available_options(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """Selectable options of a config group: YAML files under conf/<group>/, nested ones as `a/b`."""
    root = conf_dir / group
    if not root.is_dir():
        return []
    return sorted(
        str(p.relative_to(root).with_suffix("")).replace("\\", "/")
        for p in root.rglob("*.yaml")
        if not INTERNAL_FOLDERS & set(p.relative_to(root).parts)
    )


def check_group_choices(args: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Raise ValueError naming the unknown value and the valid ones, for `group=value[,value...]` arguments."""
    for arg in args:
        match = re.fullmatch(r"([a-z_]+)=(.+)", arg)
        if not match or match.group(1) not in USER_GROUPS:
            continue
        group, raw = match.groups()
        if any(ch in raw for ch in "()*${}[]"):  # sweep functions / interpolations: leave them to Hydra
            continue
        options = available_options(group, conf_dir)
        for value in raw.split(","):
            if value.strip() not in options:
                raise ValueError(f"unknown {group} {value.strip()!r}; available {group} options: {options}")


def groups_help(conf_dir: Path = CONF_DIR) -> str:
    """The user-facing groups, one wrapped paragraph each: `group: option, option, ...`."""
    return "\n".join(
        textwrap.fill(
            f"{g}: {', '.join(available_options(g, conf_dir))}",
            HELP_WIDTH,
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        for g in USER_GROUPS
    )


def settings_help(root: DictConfig) -> str:
    """The top-level settings of the composed config (seed, data_dir, output_dir, ...) with their values."""
    keys = [k for k in root if k != "hydra" and k not in USER_GROUPS and not OmegaConf.is_config(root[k])]
    values: dict[str, Any] = {k: root[k] for k in keys}
    return OmegaConf.to_yaml(OmegaConf.create(values)).rstrip()


def register_help_resolvers() -> None:
    """`${kronbench.groups:}` and `${kronbench.settings:}`, used by `hydra.help.template` in conf/config.yaml."""
    OmegaConf.register_new_resolver("kronbench.groups", lambda: groups_help(), replace=True)
    OmegaConf.register_new_resolver("kronbench.settings", lambda _root_: settings_help(_root_), replace=True)
