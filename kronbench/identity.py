"""A run's identity: what it computes (config), from which data, and for which experiment cell.

Two runs share a record path only when all three agree, so a finished run is skipped only by a run that would
compute the same thing: another data folder, another preset's cell or a deviating override gives another path.
Seed and output places are not part of it (the seed names the record file inside the variant folder).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kronbench.config import RunConfig, TaskConfig
from kronbench.experiment import ExperimentCell, is_result_key
from kronbench.results import record_path
from kronbench.tasks.hub_source import describe

HASH_CHARS = 8
# where a task's files live on the hub: they name the data only when the data comes from the hub
HUB_ONLY_TASK_KEYS = frozenset({"hub_path", "hub_config", "revision", "unpinned_reason", "hub_format",
                                "parquet_config", "hub_splits"})  # fmt: skip


def short_hash(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:HASH_CHARS]


def local_data_folder(task: TaskConfig, data_dir: str | Path) -> Path:
    """The folder a task reads under `data_dir` (`<data_dir>/<task.local_dir or task.name>`)."""
    return Path(data_dir).expanduser() / (task.local_dir or task.name)


def data_fingerprint(task: TaskConfig, data_dir: str | Path | None) -> str:
    """For hub data the record's `data.source` (`hub:<repo>/<config>@<revision>`, or why it is unpinned); for
    local data a content hash of the task's folder.

    The content hash (relative names and bytes of every file in the folder) is the same on every machine that
    holds the same files, wherever the folder lives, and changes when any file changes.
    """
    if not data_dir:
        return describe(task)  # the record's data.source: repository, config, revision (or why unpinned)
    folder = local_data_folder(task, data_dir).resolve()
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        return f"local-missing:{folder.name}"
    stats = tuple((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return f"local-sha1:{folder_digest(folder, stats)}"


@lru_cache(maxsize=256)
def folder_digest(folder: Path, stats: tuple[tuple[str, int, int], ...]) -> str:
    """Content hash of the files named in `stats` (cached per name/size/mtime: a sweep hashes a folder once)."""
    digest = hashlib.sha1()
    for name, _, _ in stats:
        digest.update(name.encode() + b"\0")
        with (folder / name).open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def config_hash(
    config: dict[str, Any], experiment: ExperimentCell | None = None, data: str | None = None
) -> str:
    """Stable short hash of what changes a run's result: model, method, task, train, data and experiment cell.

    A preset's cell enters (two presets that run the same configuration report separate numbers in the papers, so
    they keep separate runs); deviations need not, they already changed the config. The method's explicit
    `variant` name never enters.
    """
    keep: dict[str, Any] = {k: config[k] for k in ("model", "method", "task", "train") if k in config}
    keep["method"] = {k: v for k, v in keep.get("method", {}).items() if k != "variant"}
    # logging, progress and output settings do not change what a run computes
    keep["train"] = {k: v for k, v in keep.get("train", {}).items() if is_result_key(f"train.{k}")}
    if data is not None and not data.startswith("hub:"):  # local files: their content hash names the data
        keep["task"] = {k: v for k, v in keep.get("task", {}).items() if k not in HUB_ONLY_TASK_KEYS}
    if data is not None:
        keep["data"] = data
    if experiment is not None and experiment.preset is not None:
        keep["experiment"] = experiment.cell_id
    return short_hash(keep)


def variant_name(config: dict[str, Any], tag: str, run_hash: str) -> str:
    """The method's explicit `variant`, else its tag plus the run hash (runs that differ never collide)."""
    explicit = config.get("method", {}).get("variant")
    return explicit or f"{tag}-{run_hash}"


@dataclass(frozen=True)
class RunIdentity:
    """Everything that names a run's record: its experiment cell, data fingerprint, hash, variant and path."""

    experiment: ExperimentCell
    data: str
    run_hash: str
    variant: str
    path: Path


def identify(run_cfg: RunConfig, config: dict[str, Any], experiment: ExperimentCell) -> RunIdentity:
    """The identity of a composed run (`config` is the resolved container of the same config)."""
    data = data_fingerprint(run_cfg.task, run_cfg.data_dir)
    run_hash = config_hash(config, experiment, data)
    variant = variant_name(config, run_cfg.method.tag(), run_hash)
    path = record_path(
        run_cfg.output_dir, run_cfg.task.name, run_cfg.model.name, run_cfg.method.name, variant, run_cfg.seed
    )
    return RunIdentity(experiment, data, run_hash, variant, path)
