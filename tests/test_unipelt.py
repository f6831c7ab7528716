"""UniPELT: parameter count on BERT-base vs MAdaKron Table B.1, gates, the parallel prefix form, every family trains."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kronbench.methods.unipelt import GatedAdapter, GatedLoraDown, ParallelPrefix
from tests.test_baselines import bert_base_count, eval_loss_logits, make_method, train_steps
from tests.test_sites_mixture import FAMILIES, batch_for, tiny_model

GATES = {"adapter": GatedAdapter, "lora": GatedLoraDown, "prefix": ParallelPrefix}


def test_bert_base_count_matches_table_b1():
    """12 layers · [adapter 2·48·768 + 48 + 768, LoRA 2·8·(768+768), prefix 2·10·768, four gates 769] = 1.41M.

    MAdaKron Table B.1 (from AdaMix): UniPELT 1.4M. The count is the deployed one: prefixes trained directly (the
    default); with `prefix_mlp_dim=512` each site's reparameterisation (embedding 10·768, Linear(768, 512),
    Linear(512, 2·768)) replaces its 2·10·768 prefixes in training. The classifier head is not counted.
    """
    per_layer = (2 * 48 * 768 + 48 + 768) + 2 * 8 * (768 + 768) + 2 * 10 * 768 + 4 * 769
    trainable, _ = bert_base_count("unipelt")
    assert trainable == 12 * per_layer == 1_410_672
    assert round(trainable / 1e6, 1) == 1.4
    mlp, _ = bert_base_count("unipelt", "method.prefix_mlp_dim=512")
    assert mlp - trainable == 12 * (10 * 768 + 768 * 512 + 512 + 512 * 1536 + 1536 - 2 * 10 * 768)


def gates(model: nn.Module, kind: str) -> list[nn.Linear]:
    return [m.gate for m in model.modules() if isinstance(m, GATES[kind])]


def set_gates(model: nn.Module, kind: str, bias: float) -> None:
    with torch.no_grad():
        for g in gates(model, kind):
            g.weight.zero_(), g.bias.fill_(bias)


@pytest.mark.parametrize("model_name", ["tiny-bert", "tiny-gpt2"])
def test_closed_gates_give_the_base_model_and_each_gate_changes_it(model_name):
    model, _ = tiny_model(model_name)
    batch = batch_for(model)
    base = eval_loss_logits(model, batch)[1]
    method = make_method("unipelt", model_name)
    method.apply(model)
    # at init: LoRA (B = 0) adds nothing; the adapter (N(0, 0.02)) and the prefix (λ ≈ 0.05) change a little
    init = eval_loss_logits(model, batch)[1]
    assert not torch.equal(init, base) and torch.allclose(init, base, atol=0.5)
    for kind in GATES:
        set_gates(model, kind, -1e4)  # sigmoid = 0 exactly
    torch.testing.assert_close(eval_loss_logits(model, batch)[1], base, atol=1e-6, rtol=0)
    with torch.no_grad():  # make LoRA's (zero) and the adapter's (small) updates large enough to see
        for n, p in model.named_parameters():
            if "lora_B" in n or "adapter.up" in n:
                p.normal_(0, 0.5)
    torch.testing.assert_close(eval_loss_logits(model, batch)[1], base, atol=1e-6, rtol=0)
    for kind in GATES:  # open one gate at a time: the output changes
        set_gates(model, kind, 0.0)
        assert not torch.allclose(eval_loss_logits(model, batch)[1], base, atol=1e-4), kind
        set_gates(model, kind, -1e4)


class FixedLogit(nn.Module):
    """Stands in for a gate: returns the given logits whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_parallel_prefix_equals_in_softmax_prefix_when_gate_is_the_prefix_mass():
    """With λ set to the prefixes' softmax share, the parallel form is exactly attention over [P_k; K], [P_v; V]."""
    torch.manual_seed(0)
    d, n_heads, length, seq = 8, 2, 3, 5
    query = nn.Linear(d, d)
    prefix = ParallelPrefix(query, d, n_heads, d, length, init_std=1.0)
    x, keys, values = (
        torch.randn(seq, d),
        torch.randn(n_heads, seq, d // 2),
        torch.randn(n_heads, seq, d // 2),
    )
    q = query(x).view(seq, n_heads, -1).transpose(0, 1)  # (H, T, d_h)
    p_k, p_v = (p.transpose(0, 1) for p in prefix.prefixes())  # (H, l, d_h)
    scale = math.sqrt(d // n_heads)
    h = ((q @ keys.transpose(-1, -2)) / scale).softmax(-1) @ values  # the real attention, per head
    full = ((q @ torch.cat([p_k, keys], 1).transpose(-1, -2)) / scale).softmax(-1) @ torch.cat(
        [p_v, values], 1
    )
    s_p = ((q @ p_k.transpose(-1, -2)) / scale).exp().sum(-1)
    lam = s_p / (s_p + ((q @ keys.transpose(-1, -2)) / scale).exp().sum(-1))  # (H, T)
    # λ differs per head in truth; the module's gate is one per token, so check one head at a time
    for head in range(n_heads):
        prefix.gate = FixedLogit(torch.logit(lam[head]).unsqueeze(-1))
        mixed = prefix(x, h.transpose(0, 1).reshape(seq, d)).view(seq, n_heads, -1)[:, head]
        torch.testing.assert_close(mixed, full[head], atol=1e-5, rtol=1e-5)


def test_gated_lora_is_w_x_plus_gate_times_scaled_b_a_x():
    model, _ = tiny_model("tiny-bert")
    make_method("unipelt", "tiny-bert", "method.lora_alpha=16").apply(model)
    layer = model.bert.encoder.layer[0].attention.self.base.query  # InputCapture(BertSelfAttention).query
    down: GatedLoraDown = layer.lora_A["default"]
    nn.init.normal_(layer.lora_B["default"].weight)
    x = torch.randn(2, 3, 32)
    gate = torch.sigmoid(down.gate(x))
    expected = layer.base_layer(x) + gate * 2.0 * layer.lora_B["default"](down.down(x))
    torch.testing.assert_close(layer(x), expected)


def test_gpt2_stays_causal():
    """Per-token gates: changing the last token does not change earlier positions' logits."""
    model, _ = tiny_model("tiny-gpt2")
    make_method("unipelt", "tiny-gpt2").apply(model)
    ids = torch.randint(5, 1000, (1, 6), generator=torch.Generator().manual_seed(0))
    other = ids.clone()
    other[0, -1] = 7
    with torch.no_grad():
        a, b = model(input_ids=ids).logits, model(input_ids=other).logits
    torch.testing.assert_close(a[:, :-1], b[:, :-1])


@pytest.mark.parametrize("model_name", FAMILIES)
def test_trains_and_reduces_the_loss(model_name):
    model, _ = tiny_model(model_name)
    torch.manual_seed(0)
    method = make_method("unipelt", model_name)
    report = method.apply(model)
    assert not method.mergeable and report.method_params > 0
    assert all(gates(model, kind) for kind in GATES)
    batch = batch_for(model)
    start, _ = eval_loss_logits(model, batch)
    train_steps(model, method, batch)
    end, _ = eval_loss_logits(model, batch)
    assert end < start, (start, end)


def test_subsets_and_mlp_reparameterisation():
    model, _ = tiny_model("tiny-bert")
    method = make_method("unipelt", "tiny-bert", "method.use_lora=false", "method.prefix_mlp_dim=16")
    method.apply(model)
    assert not gates(model, "lora") and gates(model, "adapter")
    assert all(hasattr(m, "mlp") for m in model.modules() if isinstance(m, ParallelPrefix))
    batch = batch_for(model)
    start, _ = eval_loss_logits(model, batch)
    torch.manual_seed(0)
    train_steps(model, method, batch)
    assert eval_loss_logits(model, batch)[0] < start


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.adapter_r=0", "adapter_r=0"),
        ("method.prefix_mlp_dim=-1", "prefix_mlp_dim=-1"),
        ("method.adapter_activation=bogus", "bogus"),
        ("method.use_adapter=false method.use_lora=false method.use_prefix=false", "enable at least one"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(Exception, match=message):
        make_method("unipelt", "tiny-bert", *override.split())
