"""Early, clear errors for unknown group choices (`task=glue/rtee`): Hydra lists no options for nested groups."""

from __future__ import annotations

import re
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CHECKED_GROUPS = ("model", "method", "task", "train", "experiment")
INTERNAL_FOLDERS = {"family", "schema"}  # included by other files, not selectable on their own


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
        if not match or match.group(1) not in CHECKED_GROUPS:
            continue
        group, raw = match.groups()
        if any(ch in raw for ch in "()*${}[]"):  # sweep functions / interpolations: leave them to Hydra
            continue
        options = available_options(group, conf_dir)
        for value in raw.split(","):
            if value.strip() not in options:
                raise ValueError(f"unknown {group} {value.strip()!r}; available {group} options: {options}")
