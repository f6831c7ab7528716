"""Data loading never starves the GPU: tokenised splits come from datasets' cache the second time, batches can be
grouped by length (less padding), and the default keeps the paper protocol's plain shuffling."""

from __future__ import annotations

import os

import pytest
import torch

from kronbench.models import load_model
from kronbench.run import to_run_config
from kronbench.tasks import build_task
from kronbench.tasks.data import load_raw_splits
from kronbench.train import Trainer
from tests.conftest import DATA_DIR, compose_config, needs_shared

pytestmark = needs_shared


def rte_task(*overrides: str):
    cfg = to_run_config(
        compose_config("model=tiny-bert", "task=glue/rte", f"data_dir={DATA_DIR}", *overrides)
    )
    raw, _ = load_raw_splits(cfg.task, cfg.data_dir)
    _, tokenizer = load_model(cfg.model, cfg.task)
    return cfg, raw, build_task(cfg.task, tokenizer, cfg.model)


def test_tokenised_split_is_read_back_from_the_datasets_cache():
    _, raw, task = rte_task()
    first = task.preprocess(raw["train"], "train")
    (cache,) = {f["filename"] for f in first.cache_files if "cache-" in f["filename"]}
    stamp = os.stat(cache).st_mtime_ns
    _, raw_again, task_again = rte_task()  # a fresh task object, as in a new run
    second = task_again.preprocess(raw_again["train"], "train")
    assert cache in {f["filename"] for f in second.cache_files}
    assert os.stat(cache).st_mtime_ns == stamp  # read, not rewritten


def padding_share(loader) -> float:
    pads = total = 0
    for batch in loader:
        pads += int((batch["attention_mask"] == 0).sum())
        total += batch["attention_mask"].numel()
    return pads / total


@pytest.mark.parametrize("group", [False, True])
def test_length_grouped_batches_cover_every_example_once_with_less_padding(group):
    from accelerate import Accelerator

    cfg, raw, task = rte_task(f"train.group_by_length={str(group).lower()}")
    data = task.preprocess(raw["train"].select(range(512)), "train")
    trainer = Trainer(None, None, task, cfg.train, "accuracy", Accelerator(cpu=True))
    seen = torch.cat([b["labels"] for b in trainer.loader(data, 16, shuffle=True, seed=0)])
    assert len(seen) == 512 and sorted(seen.tolist()) == sorted(data["labels"])
    share = padding_share(trainer.loader(data, 16, shuffle=True, seed=0))
    plain_trainer = Trainer(None, None, task, rte_task()[0].train, "accuracy", Accelerator(cpu=True))
    plain = padding_share(plain_trainer.loader(data, 16, shuffle=True, seed=0))
    assert (share < 0.5 * plain) if group else share == plain
