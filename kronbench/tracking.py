"""Experiment tracking through accelerate's trackers (W&B, TensorBoard): off unless `train.trackers` names one.

Runs of one configuration are grouped across seeds (W&B `group` = task/model/method/run hash), every evaluation and
the training loss averaged over the logging window are logged at their optimizer step, and the run's final numbers
(reported split, best validation) are logged at the end, so a dashboard shows what the record holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from kronbench.config import TrainConfig

TRACKERS = ("wandb", "tensorboard")


def requested_trackers(cfg: TrainConfig) -> list[str]:
    """`train.trackers`, plus W&B when the older switch `train.wandb=true` is set; a W&B mode of "disabled" drops it."""
    names = list(dict.fromkeys([*cfg.trackers, *(["wandb"] if cfg.wandb else [])]))
    return [n for n in names if not (n == "wandb" and cfg.wandb_mode == "disabled")]


def flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train": {"lr": 1e-3}}` -> `{"train/lr": 1e-3}`; lists and None as text (TensorBoard's hparams need scalars)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat(value, f"{name}/"))
        else:
            out[name] = value if isinstance(value, bool | int | float | str) else str(value)
    return out


def start_tracking(
    accelerator: Accelerator, cfg: TrainConfig, record: dict[str, Any], run_dir: Path | None
) -> bool:
    """Initialise the requested trackers for this run; False when none is requested."""
    if not requested_trackers(cfg):
        return False
    group = f"{record['task']}/{record['model']}/{record['method']}/{record['identity']['run_hash']}"
    accelerator.init_trackers(
        project_name=cfg.wandb_project,
        config=flat({"seed": record["seed"], **record["config"]}),
        init_kwargs={
            "wandb": {
                "group": group,  # seeds of one configuration together
                "name": f"{group}/seed{record['seed']}",
                "mode": cfg.wandb_mode,
                "dir": str(run_dir or "."),
                "tags": [t for t in (record["experiment"].get("preset"),) if t],
            }
        },
    )
    return True


def log_final(accelerator: Accelerator, record: dict[str, Any]) -> None:
    """The record's final numbers: the reported split's metrics and the best validation evaluation."""
    metrics = record["metrics"]
    report = metrics["report"]
    values = {f"final/{report['split']}/{k}": v for k, v in report["metrics"].items()}
    values["final/score"] = metrics["score"]
    best = metrics.get("best") or {}
    values.update({f"best/validation/{k}": v for k, v in (best.get("validation") or {}).items()})
    if best:
        values["best/step"] = best["step"]
    accelerator.log(values, step=record["timing"].get("optimizer_steps"))
