"""Every baseline × every tiny model family — attaches, trains a few steps, reduces the loss, merges."""

from __future__ import annotations

import pytest
import torch

from tests.test_baselines import (
    MERGEABLE,
    METHODS,
    NOT_APPLICABLE,
    eval_loss_logits,
    make_method,
    train_steps,
)
from tests.test_sites_mixture import FAMILIES, batch_for, tiny_model


@pytest.mark.parametrize("model_name", FAMILIES)
@pytest.mark.parametrize("name", METHODS)
def test_method_family_trains_and_merges(name, model_name):
    if (name, model_name) in NOT_APPLICABLE:
        pytest.skip("not applicable: see test_lokr_on_gpt2_conv1d_is_a_clear_error")
    model, _ = tiny_model(model_name)
    torch.manual_seed(0)
    method = make_method(name, model_name)
    report = method.apply(model)
    assert report.targets and report.method_params > 0
    batch = batch_for(model)
    start, _ = eval_loss_logits(model, batch)
    torch.manual_seed(0)
    train_steps(model, method, batch)
    end, logits = eval_loss_logits(model, batch)
    assert end < start, (start, end)
    assert method.mergeable == (name in MERGEABLE)
    if method.mergeable:
        method.merge(model)
        _, merged = eval_loss_logits(model, batch)
        torch.testing.assert_close(merged, logits, atol=1e-4, rtol=1e-4)
        method.unmerge(model)
        torch.testing.assert_close(eval_loss_logits(model, batch)[1], logits, atol=1e-4, rtol=1e-4)
