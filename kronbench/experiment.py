"""Which experiment a run belongs to: the paper preset that launched it, its cell, and what the user changed.

A preset (`conf/experiment/<preset>.yaml`) sweeps *axes* under `hydra.sweeper.params`: config groups such as
`experiment/part/setup` or `model`, or config values such as `method.factor_shape`. A *cell* of the preset is one
value per axis, seeds aside: one number of a paper table (mean ± std over the seeds). Every run records its cell
when it starts, and `make tables` selects a table cell's runs by exactly that — never by method name.

Overrides that change the run beyond the preset's axes (`train.epochs=10`, `task=glue/rte`) are *deviations*:
they are recorded, they change the run's identity (so they never overwrite or mix with the preset's own runs), and
a table built from the paper's protocol leaves such runs out (listing them in its footer).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# Settings that never change what a run computes: output places, logging, resuming. They are not deviations.
# `data_dir` is not one either: where the same data is read from is part of the run identity through the data's
# fingerprint (kronbench/identity.py), not a change of protocol.
NON_RESULT_KEYS = frozenset(
    {
        "seed",
        "experiment",
        "scale",
        "output_dir",
        "data_dir",
        "force",
        "dry_run",
        "train.progress_bar",
        "train.log_every",
        "train.trackers",
        "train.wandb",
        "train.wandb_project",
        "train.wandb_mode",
        "train.num_workers",
        "train.pin_memory",
        "train.save_checkpoint",
        "train.save_state",
        "train.eval_batch_size",
        # speed settings: the same computation up to floating-point rounding (tested against eager)
        "train.compile",
        "train.compile_mode",
        "train.compile_backend",
        "train.compile_scope",
        "train.pad_to_multiple_of",
        "train.profile_steps",  # a profiler window: measures, changes nothing
    }
)


@dataclass(frozen=True)
class ExperimentCell:
    """The preset and cell a run belongs to (`preset` None: an ad-hoc run, outside every paper preset)."""

    preset: str | None = None
    scale: str | None = None
    cell: dict[str, str] = field(default_factory=dict)  # axis -> value, seeds aside
    deviations: list[str] = field(default_factory=list)  # overrides beyond the preset's axes, sorted

    @property
    def cell_id(self) -> str | None:
        """`<preset>:<axis>=<value>,...` (axes sorted): the string a table cell selects on."""
        if self.preset is None:
            return None
        return f"{self.preset}:" + ",".join(f"{k}={v}" for k, v in sorted(self.cell.items()))

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "cell_id": self.cell_id}


def axis_value(value: Any) -> str:
    """Canonical text of an axis value: `[2,384]` whether it was written `[2, 384]` or `'[2,384]'`."""
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def override_key(override: str) -> str:
    """`+train.epocs=1` -> `train.epocs`; `~method.bias` -> `method.bias`."""
    return override.split("=", 1)[0].lstrip("+~")


def is_result_key(key: str) -> bool:
    return key not in NON_RESULT_KEYS and not key.startswith("hydra")


def experiment_cell(cfg: DictConfig, hydra_cfg: DictConfig | None) -> ExperimentCell:
    """The cell of a composed run, from Hydra's runtime choices, the preset's sweep axes and the overrides.

    `hydra_cfg` is the `hydra` node (`HydraConfig.get()` in a run, `compose(..., return_hydra_config=True).hydra`
    in tests and the sweep lister); without it (a config composed bare) the run is ad hoc.
    """
    if hydra_cfg is None:
        return ExperimentCell()
    choices = dict(hydra_cfg.runtime.choices or {})
    preset = choices.get("experiment")
    overrides = [str(o) for o in (hydra_cfg.overrides.task or [])]
    if preset in (None, "null"):
        return ExperimentCell(deviations=sorted(o for o in overrides if is_result_key(override_key(o))))
    axes = [str(k) for k in (hydra_cfg.sweeper.params or {}) if str(k) != "seed"]
    cell = {
        axis: str(choices[axis]) if axis in choices else axis_value(OmegaConf.select(cfg, axis))
        for axis in axes
    }
    deviations = sorted(
        o for o in overrides if override_key(o) not in axes and is_result_key(override_key(o))
    )
    return ExperimentCell(preset=str(preset), scale=choices.get("scale"), cell=cell, deviations=deviations)


def current_experiment_cell(cfg: DictConfig) -> ExperimentCell:
    """The running job's cell (ad hoc when not under `@hydra.main`, e.g. a test calling `run` directly)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ExperimentCell()
    return experiment_cell(cfg, HydraConfig.get())
