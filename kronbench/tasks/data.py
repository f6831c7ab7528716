"""Load a task's raw splits from a local JSON Lines folder or from the hub (`kronbench.tasks.hub_source`).

Local layout (the hub datasets' column schema, see ../shared/README.md): `<data_dir>/<task.name>/<split>.jsonl`.
The same preprocessing serves both sources because the columns are the same.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, load_dataset

from kronbench.config import TaskConfig
from kronbench.tasks.hub_source import load_hub_splits


def wanted_splits(cfg: TaskConfig) -> list[str]:
    if cfg.split_protocol == "dev_by_article":  # trains on part of dev: no train split needed
        return [cfg.validation_split]
    splits = [cfg.train_split, cfg.validation_split]
    if cfg.test_split:
        splits.append(cfg.test_split)
    return splits


def local_split_path(cfg: TaskConfig, data_dir: str | Path, split: str) -> Path:
    return Path(data_dir).expanduser() / (cfg.local_dir or cfg.name) / f"{split}.jsonl"


def load_raw_splits(cfg: TaskConfig, data_dir: str | None) -> tuple[dict[str, Dataset], str]:
    """The task's splits by name, and a description of where they came from (for the run record)."""
    if cfg.loader:  # raw official files (E2E csv, WebNLG xml, DART json/xml) or their hub versions
        from kronbench.tasks.nlg_data import load_nlg_splits

        return load_nlg_splits(cfg, data_dir)
    if data_dir:
        paths = {split: local_split_path(cfg, data_dir, split) for split in wanted_splits(cfg)}
        missing = [str(p) for p in paths.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"task {cfg.name!r}: missing local data file(s) {missing} (data_dir={data_dir!r}); "
                f"expected <data_dir>/{cfg.local_dir or cfg.name}/<split>.jsonl for splits {wanted_splits(cfg)}, "
                f"or unset data_dir to load {cfg.hub_path!r} from the hub"
            )
        splits = {
            split: load_dataset("json", data_files=str(path), split="train") for split, path in paths.items()
        }
        return splits, f"local:{Path(data_dir).expanduser().resolve() / (cfg.local_dir or cfg.name)}"
    return load_hub_splits(cfg, wanted_splits(cfg), jsonl_alternative(cfg))


def jsonl_alternative(cfg: TaskConfig) -> str:
    """The local-data layout that replaces the hub for a <split>.jsonl task."""
    return (
        f"set data_dir=<folder> holding <folder>/{cfg.local_dir or cfg.name}/<split>.jsonl "
        f"for splits {wanted_splits(cfg)} (the hub column schema)"
    )
