"""Checks run before a model is loaded or a step is trained, so that bad input never costs a training run.

Outputs: the record folder (under `output_dir`) and the checkpoint folder must be writable -- created and probed
with a file, not guessed from permission bits. Data: see :mod:`kronbench.tasks.validate`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from datasets import Dataset

from kronbench.config import RunConfig, TaskConfig
from kronbench.tasks.data import local_split_path
from kronbench.tasks.validate import check_splits


class OutputError(OSError):
    """An output folder that cannot be written, named with the setting that chooses it."""


def check_writable(folder: Path, setting: str, remedy: str) -> None:
    """Create `folder` and write (then delete) a probe file in it; raise OutputError naming path and setting."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kronbench-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise OutputError(
            f"{setting}: cannot write to {folder} ({reason}); nothing was trained. {remedy}"
        ) from err


def check_outputs(run_cfg: RunConfig, record_path: Path, run_dir: Path | None) -> None:
    """Record and checkpoint folders are writable (before anything is loaded)."""
    check_writable(
        record_path.parent,
        f"output_dir={run_cfg.output_dir!r}",
        "Set output_dir=<writable folder> (or $KRONBENCH_RESULTS_DIR).",
    )
    if run_cfg.train.save_checkpoint and run_dir is not None:
        check_writable(
            Path(run_dir),
            "the Hydra run dir (best checkpoint)",
            "Set hydra.run.dir=<writable folder>, or train.save_checkpoint=false.",
        )


def split_sources(cfg: TaskConfig, data_dir: str | None, splits: list[str]) -> dict[str, str | Path]:
    """Where each raw split came from: its local file, or the hub dataset and split."""
    if data_dir and not cfg.loader:
        return {split: local_split_path(cfg, data_dir, split) for split in splits}
    return {split: f"hub {cfg.hub_path}/{cfg.hub_config} split {split!r}" for split in splits}


def check_data(cfg: TaskConfig, raw: dict[str, Dataset], data_dir: str | None) -> None:
    """Every raw split is non-empty and every row has the task's columns and a valid label."""
    check_splits(cfg, raw, split_sources(cfg, data_dir, list(raw)))
