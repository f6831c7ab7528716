"""Read a task's splits from its hub repository at the configured revision, loadable with `datasets` >= 4.

Two layouts (`task.hub_format`):
- `parquet`: the repository's own parquet files (e.g. `nyu-mll/glue`), `load_dataset(hub_path, hub_config,
  revision=...)`; hub split names map to ours through `task.hub_splits`.
- `parquet_export`: script-era repositories (`datasets` >= 4 refuses their `<name>.py`) read from the hub
  converter's `refs/convert/parquet` branch, whose files sit at `<parquet_config>/<hub split>/NNNN.parquet`. Its
  folder names are the script's config names, or `default` for a script without named configs, so they are given
  explicitly (`task.parquet_config`) and read as `data_files`, one pattern per split: one config, never a mix.
"""

from __future__ import annotations

import datasets
from datasets import Dataset

from kronbench.config import TaskConfig
from kronbench.hub import PARQUET_EXPORT_BRANCH, hub_error, revision_label


def hub_split(cfg: TaskConfig, split: str) -> str:
    """The hub's name for one of our splits (`validation` is `dev` in WebNLG)."""
    return cfg.hub_splits.get(split, split)


def export_config(cfg: TaskConfig) -> str:
    """The folder of this task's config on the parquet-export branch."""
    return cfg.parquet_config or cfg.hub_config or "default"


def export_data_files(cfg: TaskConfig, splits: list[str]) -> dict[str, str]:
    """Our split name -> glob of its parquet files on the export branch."""
    return {split: f"{export_config(cfg)}/{hub_split(cfg, split)}/*.parquet" for split in splits}


def hub_revision(cfg: TaskConfig) -> str | None:
    """The revision passed to the hub: the pinned commit, else the branch the format reads (None = main)."""
    if cfg.revision:
        return cfg.revision
    return PARQUET_EXPORT_BRANCH if cfg.hub_format == "parquet_export" else None


def describe(cfg: TaskConfig) -> str:
    """The run record's `data.source`: repository, config and the revision read (or why it is unpinned)."""
    config = export_config(cfg) if cfg.hub_format == "parquet_export" else cfg.hub_config
    label = revision_label(cfg.revision, cfg.unpinned_reason, default=hub_revision(cfg) or "main")
    where = f"{cfg.hub_path}/{config}" if config else cfg.hub_path
    return f"hub:{where}@{label}" + (" [parquet export]" if cfg.hub_format == "parquet_export" else "")


def load_hub_splits(cfg: TaskConfig, splits: list[str], alternative: str) -> tuple[dict[str, Dataset], str]:
    """The requested splits from the hub and their source description; any failure is one `HubLoadError` that
    names the repository, the revision, the reason and `alternative` (the local-data layout)."""
    revision = hub_revision(cfg)
    label = revision_label(cfg.revision, cfg.unpinned_reason, default=revision or "main")
    try:
        if cfg.hub_format == "parquet_export":
            loaded = datasets.load_dataset(
                cfg.hub_path, data_files=export_data_files(cfg, splits), revision=revision
            )
            out = {split: loaded[split] for split in splits}
        else:
            loaded = datasets.load_dataset(cfg.hub_path, cfg.hub_config, revision=revision)
            missing = [hub_split(cfg, s) for s in splits if hub_split(cfg, s) not in loaded]
            if missing:
                raise KeyError(f"split(s) {missing} not in config {cfg.hub_config!r} (has {sorted(loaded)})")
            out = {split: loaded[hub_split(cfg, split)] for split in splits}
    except Exception as err:  # offline, script-only, missing config or split: one error that says what to do
        raise hub_error(f"task {cfg.name!r}", cfg.hub_path, label, err, alternative) from err
    return out, describe(cfg)
