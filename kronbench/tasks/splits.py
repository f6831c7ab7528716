"""The papers' train/validation/test protocols, applied to a task's raw splits.

GLUE and SuperGLUE test labels are hidden, so papers carve their own test sets:
- `dev_as_test`: select on dev and report dev (MAdaKron paper's main tables).
- `halve_dev`: dev split in two fixed halves, validation / test (KronA / Compacter protocol for tasks < 10k).
- `train_holdout`: `holdout_size` train rows become validation, dev becomes test (the Compacter code's protocol
  for large tasks).
- `train_holdout_as_test`: `holdout_size` train rows become the test set, dev validates (the KronA paper's words
  read literally: "we took 1K samples out of the train set and used it as our test set", and the checkpoint best
  "on the dev set" is reported).
- `train_85_15`: 85% of train trains, 15% validates, dev is the test (MAdaKron paper's ablations).
- `dev_by_article`: no train split at all (SQuAD here): `dev_train_fraction` (0.9) of the dev *articles*
  (`article_field`, e.g. SQuAD's `title`) train, the other articles validate and are reported; no question of a
  held-out article is ever seen in training. The record's `data.note` says so.
Every carve uses a fixed seed (0), not the run seed, so all seeds and methods share the same split.
"""

from __future__ import annotations

import random
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
    note: str | None = None  # a sentence for the run record when the protocol departs from the usual splits

    def sizes(self) -> dict[str, int | None]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test) if self.test is not None else None,
        }


def split_by_article(cfg: TaskConfig, dev: Dataset) -> Splits:
    """`dev_by_article`: train on a fixed random `dev_train_fraction` of the articles, evaluate on the rest."""
    field = cfg.article_field
    if field not in dev.column_names:
        raise ValueError(f"task.article_field={field!r} is not a column of {cfg.name!r}: {dev.column_names}")
    articles = sorted(set(dev[field]))
    random.Random(SPLIT_SEED).shuffle(articles)
    n_train = round(len(articles) * cfg.dev_train_fraction)
    if not 0 < n_train < len(articles):
        raise ValueError(f"{len(articles)} articles cannot be split {cfg.dev_train_fraction:.0%} / rest")
    in_train = set(articles[:n_train])
    keys = dev[field]
    train = dev.select([i for i, a in enumerate(keys) if a in in_train])
    held_out = dev.select([i for i, a in enumerate(keys) if a not in in_train])
    note = (
        f"no train split used: trained on {cfg.dev_train_fraction:.0%} of the {cfg.validation_split} articles "
        f"({n_train} of {len(articles)} by {field!r}, {len(train)} rows), evaluated on the other "
        f"{len(articles) - n_train} articles ({len(held_out)} rows); split by article, seed {SPLIT_SEED}"
    )
    return Splits(train, held_out, None, "dev_by_article", note)


def apply_protocol(cfg: TaskConfig, raw: dict[str, Dataset]) -> Splits:
    protocol = cfg.split_protocol
    if protocol == "dev_by_article":
        return split_by_article(cfg, raw[cfg.validation_split])
    train, dev = raw[cfg.train_split], raw[cfg.validation_split]
    if protocol == "dev_as_test":
        test = raw.get(cfg.test_split) if cfg.test_split else None
        return Splits(train, dev, test, protocol)
    if protocol == "halve_dev":
        halves = dev.train_test_split(test_size=0.5, seed=SPLIT_SEED, shuffle=True)
        return Splits(train, halves["train"], halves["test"], protocol)
    if protocol in ("train_holdout", "train_holdout_as_test"):
        if cfg.holdout_size >= len(train):
            raise ValueError(
                f"task.holdout_size={cfg.holdout_size} >= train size {len(train)} for {cfg.name!r}"
            )
        parts = train.train_test_split(test_size=cfg.holdout_size, seed=SPLIT_SEED, shuffle=True)
        if protocol == "train_holdout_as_test":
            return Splits(parts["train"], dev, parts["test"], protocol)
        return Splits(parts["train"], parts["test"], dev, protocol)
    if protocol == "train_85_15":
        parts = train.train_test_split(test_size=0.15, seed=SPLIT_SEED, shuffle=True)
        return Splits(parts["train"], parts["test"], dev, protocol)
    raise ValueError(f"task.split_protocol={protocol!r} is unknown")
