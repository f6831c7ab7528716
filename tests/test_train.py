"""The training loop's options on a tiny model: optimizers, schedules, accumulation, eval schedule, precision."""

from __future__ import annotations

import pytest
import torch

from kronbench.config import TrainConfig
from kronbench.consistency import consistency_loss
from kronbench.run import run
from kronbench.train import total_optimizer_steps
from tests.conftest import DATA_DIR, compose_config, needs_shared

pytestmark = needs_shared

BASE = [
    f"data_dir={DATA_DIR}",
    "model=tiny-bert",
    "method=lora",
    "train=demo",
    "train.max_train_samples=48",
    "train.max_eval_samples=16",
    "train.batch_size=8",
    "train.progress_bar=false",
]


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.optimizer=adafactor", "train.max_steps=3"],
        ["train.optimizer=adafactor", "train.adafactor_relative_step=true", "train.max_steps=3"],
        ["train.scheduler=constant", "train.warmup_steps=2", "train.max_steps=3"],
        ["train.mixed_precision=bf16", "train.max_steps=2"],
    ],
)
def test_optimizer_and_precision_options_run(tmp_path, overrides):
    record = run(compose_config(*BASE, f"output_dir={tmp_path}", *overrides))
    assert (
        record["status"] == "completed"
        and record["timing"]["optimizer_steps"] == record["config"]["train"]["max_steps"]
    )


def test_grad_accumulation_counts_optimizer_steps(tmp_path):
    record = run(compose_config(*BASE, f"output_dir={tmp_path}", "train.grad_accum=2", "train.epochs=1"))
    # batch 8 is the global batch: 48 samples = 6 optimizer steps, each of 2 micro-batches of 4
    assert record["timing"]["optimizer_steps"] == 6
    assert record["distributed"] == {
        "num_processes": 1,
        "per_device_batch_size": 4,
        "grad_accum": 2,
        "global_batch_size": 8,
        "type": "NO",
    }


def test_global_batch_that_does_not_divide_names_the_values(tmp_path):
    with pytest.raises(ValueError, match=r"train.batch_size=8 .*num_processes=1 × train.grad_accum=3 = 3"):
        run(compose_config(*BASE, f"output_dir={tmp_path}", "train.grad_accum=3", "train.max_steps=1"))


def test_eval_every_n_steps_and_best_checkpoint(tmp_path):
    record = run(
        compose_config(
            *BASE,
            f"output_dir={tmp_path}",
            "train.eval_strategy=steps",
            "train.eval_steps=2",
            "train.max_steps=6",
            "train.save_checkpoint=true",
        ),
        run_dir=tmp_path,
    )
    evals = record["metrics"]["evals"]
    assert [e["step"] for e in evals] == [2, 4, 6]
    best = max(evals, key=lambda e: e["validation"]["accuracy"])  # first best wins ties
    assert record["metrics"]["best"]["validation"]["accuracy"] == best["validation"]["accuracy"]
    assert record["checkpoint"] == str(tmp_path / "best_adapter")
    assert (tmp_path / "best_adapter" / "adapter_model.safetensors").exists()


def test_epochs_define_steps():
    assert total_optimizer_steps(TrainConfig(epochs=2, grad_accum=1), 10) == 20
    assert total_optimizer_steps(TrainConfig(epochs=0.5, grad_accum=2), 10) == 3
    assert total_optimizer_steps(TrainConfig(max_steps=7), 10) == 7


def test_consistency_loss_is_symmetric_kl_and_zero_for_equal_passes():
    logits = torch.randn(4, 3)
    assert consistency_loss(logits, logits.clone(), None).item() == pytest.approx(0.0, abs=1e-7)
    other = torch.randn(4, 3)
    p, q = logits.log_softmax(-1), other.log_softmax(-1)
    expected = ((p.exp() * (p - q)).sum(-1) + (q.exp() * (q - p)).sum(-1)).mean()
    torch.testing.assert_close(consistency_loss(logits, other, None), expected)
    assert consistency_loss(logits, other, None).item() == pytest.approx(
        consistency_loss(other, logits, None).item(), rel=1e-6
    )
    # token-level logits: positions labelled -100 are ignored
    tok_a, tok_b = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    labels = torch.full((2, 5), -100)
    labels[:, :2] = 1
    masked = consistency_loss(tok_a, tok_b, labels)
    only = consistency_loss(tok_a[:, :2].reshape(-1, 7), tok_b[:, :2].reshape(-1, 7), None)
    torch.testing.assert_close(masked, only)
    # regression head: MSE between the two passes
    torch.testing.assert_close(consistency_loss(torch.ones(3, 1), torch.zeros(3, 1), None), torch.tensor(1.0))
