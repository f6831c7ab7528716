"""A run's identity: what it computes (config), from which data and weights, and for which experiment cell.

Two runs share a record path only when all four agree, so a finished run is skipped only by a run that would
compute the same thing: other data, other weights, another preset's cell or a deviating override gives another path.
Seed and output places are not part of it (the seed names the record file inside the variant folder), and neither
is where a local folder lives: data and weights read from disk are named by their content, so a record made on one
machine is recognised on another that holds the same files elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kronbench.config import ModelConfig, RunConfig, TaskConfig
from kronbench.experiment import ExperimentCell, is_result_key
from kronbench.results import record_path
from kronbench.tasks.hub_source import describe

HASH_CHARS = 8
# where a task's files live on the hub: they name the data only when the data comes from the hub
HUB_ONLY_TASK_KEYS = frozenset({"hub_path", "hub_config", "revision", "unpinned_reason", "hub_format",
                                "parquet_config", "hub_splits"})  # fmt: skip
# where a model's weights are read from: the weights fingerprint names them instead
WEIGHT_LOCATION_KEYS = frozenset({"path", "package"})


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
    return folder_fingerprint(local_data_folder(task, data_dir))


def weights_fingerprint(model: ModelConfig) -> str:
    """`hub:<id>@<revision>` for weights from the hub; for a local folder (`model.path`) or a package a content
    hash of the folder, so the same files name the same weights wherever they live, and other files (another
    checkpoint, the same weights stored in another dtype) name other weights."""
    from kronbench.models import weights_source

    try:
        source = weights_source(model)
    except FileNotFoundError:
        return f"local-missing:{Path(str(model.path)).name}"
    if source == model.pretrained:
        return f"hub:{model.pretrained}@{model.revision or 'unpinned'}"
    return folder_fingerprint(Path(source))


def folder_fingerprint(folder: Path) -> str:
    """`local-sha1:<hash>` of the relative names and bytes of every file under `folder`; `local-missing:<name>`
    when it holds none."""
    folder = folder.expanduser().resolve()
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
    config: dict[str, Any],
    experiment: ExperimentCell | None = None,
    data: str | None = None,
    weights: str | None = None,
) -> str:
    """Stable short hash of what changes a run's result: model, method, task, train, data, weights and experiment
    cell.

    A preset's cell enters (two presets that run the same configuration report separate numbers in the papers, so
    they keep separate runs); deviations need not, they already changed the config. The method's explicit
    `variant` name never enters; with a weights fingerprint, neither does where the weights are read from.
    """
    keep: dict[str, Any] = {k: config[k] for k in ("model", "method", "task", "train") if k in config}
    if weights is not None:
        keep["model"] = {k: v for k, v in keep.get("model", {}).items() if k not in WEIGHT_LOCATION_KEYS}
        keep["weights"] = weights
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
    """Everything that names a run's record: its experiment cell, data and weights fingerprints, hash, variant and
    path."""

    experiment: ExperimentCell
    data: str
    weights: str
    run_hash: str
    variant: str
    path: Path


def identify(run_cfg: RunConfig, config: dict[str, Any], experiment: ExperimentCell) -> RunIdentity:
    """The identity of a composed run (`config` is the resolved container of the same config)."""
    data = data_fingerprint(run_cfg.task, run_cfg.data_dir)
    weights = weights_fingerprint(run_cfg.model)
    run_hash = config_hash(config, experiment, data, weights)
    variant = variant_name(config, run_cfg.method.tag(), run_hash)
    path = record_path(
        run_cfg.output_dir, run_cfg.task.name, run_cfg.model.name, run_cfg.method.name, variant, run_cfg.seed
    )
    return RunIdentity(experiment, data, weights, run_hash, variant, path)
