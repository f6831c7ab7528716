"""Optimizer construction per protocol (kronbench/optim.py), the KronA split, and adapters' reduction factor."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from kronbench.config import TaskConfig, TrainConfig
from kronbench.optim import ScheduledAdafactor, build_optimizer, parameter_groups
from kronbench.registry import get_method
from kronbench.tasks.splits import apply_protocol
from tests.conftest import compose_config


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x))


def step(model: nn.Module, cfg: TrainConfig, steps: int = 10) -> torch.Tensor:
    """Weights of `model.linear` after one update at the schedule's first step."""
    optimizer, scheduler = build_optimizer(model, cfg, steps)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    scheduler.step()
    return model.linear.weight.detach().clone()


def test_weight_decay_spares_biases_and_norms() -> None:
    model = Tiny()
    groups = parameter_groups(model, 0.1)
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.1 for p in g["params"]}
    assert decayed == {id(model.linear.weight)}
    assert sum(len(g["params"]) for g in groups) == 4


@pytest.mark.parametrize("relative_step", [False, True])
def test_warmup_holds_the_first_update_at_zero(relative_step: bool) -> None:
    """Linear warmup from 0: the first update moves nothing, with AdamW's lr and with relative-step Adafactor."""
    optimizer = "adafactor" if relative_step else "adamw"
    for warmup, moves in ((5, False), (0, True)):
        model = Tiny()
        before = model.linear.weight.detach().clone()
        cfg = TrainConfig(
            optimizer=optimizer, adafactor_relative_step=relative_step, warmup_steps=warmup, lr=1e-2
        )
        assert torch.equal(step(model, cfg), before) is not moves


def test_relative_step_adafactor_applies_weight_decay_and_its_schedule() -> None:
    model = Tiny()
    with torch.no_grad():
        model.linear.weight.fill_(1.0)
    cfg = TrainConfig(optimizer="adafactor", adafactor_relative_step=True, weight_decay=0.5, warmup_steps=0)
    optimizer, scheduler = build_optimizer(model, cfg, 10)
    assert isinstance(optimizer, ScheduledAdafactor) and optimizer.param_groups[0]["lr"] == 1.0
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    # zero gradient: only weight decay moves the weights, by lr·wd with lr = 1e-2 (relative step) · RMS(1) · factor 1
    assert torch.allclose(model.linear.weight, torch.full((4, 4), 1.0 - 0.5 * 1e-2), atol=1e-6)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.9)  # linear decay over 10 steps


def test_relative_step_needs_adafactor() -> None:
    with pytest.raises(ValueError, match="adafactor_relative_step"):
        TrainConfig(optimizer="adamw", adafactor_relative_step=True)


def test_krona_literal_split_takes_the_test_set_from_train() -> None:
    train = Dataset.from_dict({"x": list(range(50)), "label": [0, 1] * 25})
    dev = Dataset.from_dict({"x": list(range(100, 120)), "label": [0, 1] * 10})
    raw = {"train": train, "validation": dev}
    cfg = TaskConfig(name="glue/sst2", hub_path="nyu-mll/glue", label_names=["a", "b"], holdout_size=10)
    literal = apply_protocol(TaskConfig(**{**cfg.__dict__, "split_protocol": "train_holdout_as_test"}), raw)
    compacter = apply_protocol(TaskConfig(**{**cfg.__dict__, "split_protocol": "train_holdout"}), raw)
    assert literal.validation["x"] == dev["x"] and len(literal.test) == 10 and len(literal.train) == 40
    assert sorted(literal.test["x"]) == sorted(compacter.validation["x"])  # the same 1k rows, other role
    assert not set(literal.test["x"]) & set(literal.train["x"])


@pytest.mark.parametrize(("name", "rf", "sites", "width"), [("houlsby", 32, 2, 24), ("pfeiffer", 16, 1, 48)])
def test_reduction_factor_sets_the_bottleneck(name: str, rf: int, sites: int, width: int) -> None:
    """KronA Table 12: reduction factor 32 = bottleneck 24 on a 768-wide model (MAdaKron: r is given directly)."""
    cfg = compose_config(f"method={name}", "model=bert-base-uncased", f"method.reduction_factor={rf}")
    model = BertForSequenceClassification(BertConfig(num_hidden_layers=1))
    method = get_method(name)(OmegaConf.to_object(cfg.method), OmegaConf.to_object(cfg.model))
    report = method.apply(model)
    assert report.method_params == sites * (2 * 768 * width + width + 768)
    assert method.config.tag().startswith(f"rf{rf}_")
