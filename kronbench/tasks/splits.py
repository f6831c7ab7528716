"""The papers' train/validation/test protocols, applied to a task's raw splits.

GLUE and SuperGLUE test labels are hidden, so papers carve their own test sets:
- `dev_as_test`: select on dev and report dev (MAdaKron paper's main tables).
- `halve_dev`: dev split in two fixed halves, validation / test (KronA / Compacter protocol for tasks < 10k).
- `train_holdout`: `holdout_size` train rows become validation, dev becomes test (Compacter protocol for large
  tasks; the KronA paper describes the 1k train rows as its test set — we follow the Compacter code it used).
- `train_85_15`: 85% of train trains, 15% validates, dev is the test (MAdaKron paper's ablations).
Every carve uses a fixed seed (0), not the run seed, so all seeds and methods share the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Dataset

from kronbench.config import TaskConfig

SPLIT_SEED = 0


@dataclass
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset | None  # None: the validation score is the reported score
    protocol: str

    def sizes(self) -> dict[str, int | None]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test) if self.test is not None else None,
        }


def apply_protocol(cfg: TaskConfig, raw: dict[str, Dataset]) -> Splits:
    train, dev = raw[cfg.train_split], raw[cfg.validation_split]
    protocol = cfg.split_protocol
    if protocol == "dev_as_test":
        test = raw.get(cfg.test_split) if cfg.test_split else None
        return Splits(train, dev, test, protocol)
    if protocol == "halve_dev":
        halves = dev.train_test_split(test_size=0.5, seed=SPLIT_SEED, shuffle=True)
        return Splits(train, halves["train"], halves["test"], protocol)
    if protocol == "train_holdout":
        if cfg.holdout_size >= len(train):
            raise ValueError(
                f"task.holdout_size={cfg.holdout_size} >= train size {len(train)} for {cfg.name!r}"
            )
        parts = train.train_test_split(test_size=cfg.holdout_size, seed=SPLIT_SEED, shuffle=True)
        return Splits(parts["train"], parts["test"], dev, protocol)
    if protocol == "train_85_15":
        parts = train.train_test_split(test_size=0.15, seed=SPLIT_SEED, shuffle=True)
        return Splits(parts["train"], parts["test"], dev, protocol)
    raise ValueError(f"task.split_protocol={protocol!r} is unknown")
