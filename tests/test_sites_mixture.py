"""Block-site attachment (parallel/sequential, every family) and the expert-mixture / bottleneck building blocks."""

from __future__ import annotations

import functools

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from kronbench.config import ModelConfig
from kronbench.methods.mixture import (
    BottleneckAdapter,
    ExpertLinear,
    collapse_experts,
    inference_parameter_count,
    mixture_aux_loss,
)
from kronbench.methods.sites import attach_parallel, attach_sequential, resolve_sites, site_dims
from tests.conftest import compose_config

FAMILIES = ["tiny-bert", "tiny-roberta", "tiny-deberta", "tiny-t5", "tiny-gpt2"]


@functools.cache
def composed(*overrides: str):
    """`compose_config` cached per override tuple (Hydra composition dominates small tests' time)."""
    return compose_config(*overrides)


def tiny_model(model_name: str) -> tuple[nn.Module, ModelConfig]:
    """A tiny random model of the family (seq-classification for encoders, LM heads for T5/GPT-2)."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        GPT2LMHeadModel,
        T5ForConditionalGeneration,
    )

    model_cfg: ModelConfig = OmegaConf.to_object(composed(f"model={model_name}").model)
    kind = {"bert": "bert", "roberta": "roberta", "deberta": "deberta-v2", "t5": "t5", "gpt2": "gpt2"}
    hf = AutoConfig.for_model(kind[model_cfg.family])
    for k, v in model_cfg.config_overrides.items():
        setattr(hf, k, v)
    hf.num_labels = 2
    for attr in (
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "dropout_rate",
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
    ):
        if hasattr(hf, attr):
            setattr(hf, attr, 0.0)
    torch.manual_seed(0)
    if model_cfg.family == "t5":
        model = T5ForConditionalGeneration(hf)
    elif model_cfg.family == "gpt2":
        model = GPT2LMHeadModel(hf)
    else:
        model = AutoModelForSequenceClassification.from_config(hf)
    return model.eval(), model_cfg


def batch_for(model: nn.Module) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 1000, (2, 7), generator=gen)
    name = type(model).__name__
    if name.startswith("T5"):
        return {"input_ids": ids, "labels": torch.randint(5, 1000, (2, 3), generator=gen)}
    if name.startswith("GPT2"):
        return {"input_ids": ids, "labels": ids.clone()}
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1])}


class Spy(nn.Module):
    """Returns a fixed multiple of its input and records it, to check what a site hands the adapter."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x
        return self.lin(x)


@pytest.mark.parametrize("model_name", FAMILIES)
@pytest.mark.parametrize("kind", ["ffn", "attention"])
def test_parallel_and_sequential_attach_every_family(model_name, kind):
    model, model_cfg = tiny_model(model_name)
    batch = batch_for(model)
    with torch.no_grad():
        before = model(**batch).logits
    sites = resolve_sites(model, model_cfg, [kind])
    assert sites
    spies = []
    for _, site in sites:
        d_in, d_out = site_dims(model, site)
        spy = Spy(d_in, d_out)
        nn.init.zeros_(spy.lin.weight), nn.init.zeros_(spy.lin.bias)
        attach_parallel(model, site, spy)
        spies.append(spy)
    with torch.no_grad():
        after = model(**batch).logits
    torch.testing.assert_close(after, before)  # zero adapters: unchanged
    assert all(s.seen is not None for s in spies)
    # a non-zero adapter changes the output and gets gradients
    for s in spies:
        nn.init.normal_(s.lin.weight, std=0.5)
    out = model(**batch)
    assert not torch.allclose(out.logits, before)
    out.loss.backward()
    assert all(s.lin.weight.grad is not None and s.lin.weight.grad.abs().sum() > 0 for s in spies)
    # sequential identity adapter on top: still the same output as with the parallel ones alone
    with torch.no_grad():
        ref = model(**batch).logits
    for _, site in sites:
        attach_sequential(model, site, BottleneckAdapter(site_dims(model, site)[1], 4, init="zero_up"))
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, ref)


def test_parallel_reads_block_input_bert():
    model, model_cfg = tiny_model("tiny-bert")
    (_, site), *_ = resolve_sites(model, model_cfg, ["ffn"])
    captured = {}
    inter = model.get_submodule(site.input)
    inter.register_forward_hook(lambda m, args, out: captured.update(x=args[0]))
    spy = Spy(*site_dims(model, site))
    attach_parallel(model, site, spy)
    with torch.no_grad():
        model(**batch_for(model))
    torch.testing.assert_close(spy.seen, captured["x"])


def test_unknown_site_kind_is_an_error():
    model, model_cfg = tiny_model("tiny-bert")
    with pytest.raises(ValueError, match="declares no 'cross' site"):
        resolve_sites(model, model_cfg, ["cross"])


# --- ExpertLinear -----------------------------------------------------------------------------------------------


def test_random_routing_one_expert_per_forward_and_uniform():
    torch.manual_seed(0)
    layer = ExpertLinear(6, 3, 4).train()
    x = torch.randn(5, 6)
    counts = [0] * 4
    for _ in range(4000):
        y = layer(x)
        i = layer.last_expert
        counts[i] += 1
    w, b = layer.expert(i)
    torch.testing.assert_close(y, x @ w.T + b)
    freqs = torch.tensor(counts) / 4000
    assert torch.allclose(freqs, torch.full((4,), 0.25), atol=0.03), freqs


def test_biased_routing_follows_probs():
    torch.manual_seed(0)
    layer = ExpertLinear(6, 3, 4, probs=[0.7, 0.1, 0.1, 0.1]).train()
    x = torch.randn(2, 6)
    counts = [0] * 4
    for _ in range(3000):
        layer(x)
        counts[layer.last_expert] += 1
    assert counts[0] / 3000 == pytest.approx(0.7, abs=0.04)


def test_eval_merges_to_mean_weights_and_collapse():
    torch.manual_seed(0)
    layer = ExpertLinear(6, 3, 4).eval()
    x = torch.randn(2, 6)
    w, b = layer.weight.mean(0), layer.bias.mean(0)
    torch.testing.assert_close(layer(x), x @ w.T + b)
    torch.testing.assert_close(layer.merged_linear()(x), layer(x))
    holder = nn.Sequential(layer)
    assert inference_parameter_count(holder) == 6 * 3 + 3
    assert collapse_experts(holder) == 1 and isinstance(holder[0], nn.Linear)


def test_no_merge_eval_uses_a_single_random_expert():
    torch.manual_seed(0)
    layer = ExpertLinear(6, 3, 4, merge_eval=False).eval()
    x = torch.randn(2, 6)
    y = layer(x)
    w, b = layer.expert(layer.last_expert)
    torch.testing.assert_close(y, x @ w.T + b)
    assert not torch.allclose(y, x @ layer.weight.mean(0).T + layer.bias.mean(0))


def test_gate_topk_and_load_balance_loss():
    torch.manual_seed(0)
    layer = ExpertLinear(6, 3, 4, routing="gate", eval_top_k=2).train()
    x = torch.randn(2, 5, 6)
    y = layer(x)
    assert y.shape == (2, 5, 3)
    loss = mixture_aux_loss(nn.Sequential(layer))
    assert loss is not None and loss.item() >= 1.0 - 1e-5  # n·Σ f·P >= 1, equality when balanced
    (y.sum() + loss).backward()
    assert layer.gate.weight.grad is not None
    layer.eval()
    y2 = layer(x)
    probs = torch.softmax(layer.gate(x), -1)
    p, i = probs.topk(2, -1)
    p = p / p.sum(-1, keepdim=True)
    manual = sum(
        p[..., j : j + 1]
        * (torch.einsum("bsd,bsod->bso", x, layer.weight[i[..., j]]) + layer.bias[i[..., j]])
        for j in range(2)
    )
    torch.testing.assert_close(y2, manual)


def test_bad_probs_rejected():
    with pytest.raises(ValueError, match="summing to 1"):
        ExpertLinear(4, 4, 2, probs=[0.9, 0.3])


def test_bottleneck_identity_init_and_scale():
    torch.manual_seed(0)
    x = torch.randn(3, 8)
    seq = BottleneckAdapter(8, 2, activation="relu", residual=True)
    torch.testing.assert_close(seq(x), x)
    par = BottleneckAdapter(8, 2, residual=False, scale=4.0, init="normal", init_std=0.5)
    ref = 4.0 * par.up(torch.relu(par.down(x)))
    torch.testing.assert_close(par(x), ref)
    mixed = BottleneckAdapter(8, 2, down=ExpertLinear(8, 2, 3), up=ExpertLinear(2, 8, 3, init="zeros"))
    torch.testing.assert_close(mixed.train()(x), x)
