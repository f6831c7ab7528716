"""The Kronecker family: KronA^B(_res), AdaKron, Partial/Full MAdaKron, CDKA — counts, identities, ablation switches, families."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from kronbench.consistency import consistency_loss
from kronbench.methods.adakron import PRODUCTS, AdaKronConfig, build_adakron
from kronbench.methods.cdka import CDKAConfig, CDKALinear, cdka_configs, cdka_max_rank, cdka_params
from kronbench.methods.krona import KronALinear
from kronbench.methods.mixture import ExpertLinear, expert_layers, inference_parameter_count
from kronbench.registry import get_method
from kronbench.train import training_loss
from tests.conftest import compose_config
from tests.test_sites_mixture import FAMILIES, batch_for, composed, tiny_model

METHODS = ["krona_b", "krona_b_res", "adakron", "madakron_partial", "madakron_full", "cdka"]
TINY = {  # shapes dividing hidden 32
    "krona_b": ["method.factor_shape=[4,8]"],
    "krona_b_res": ["method.factor_shape=[4,8]"],
    "adakron": ["method.r=8", "method.r2=2"],
    "madakron_partial": ["method.r=8", "method.r2=2"],
    "madakron_full": ["method.r=8", "method.r2=2"],
    "cdka": ["method.r1=2", "method.r2=4"],
}
# (method, overrides): AdaKron/MAdaKron start at the pretrained model only with init=zero_up (the default is the
# released code's N(0, 0.02) init, tested below)
IDENTITY_AT_INIT = [
    ("krona_b", ()),
    ("adakron", ("method.init=zero_up",)),
    ("madakron_partial", ("method.init=zero_up",)),
    ("madakron_full", ("method.init=zero_up",)),
    ("cdka", ()),
]


def make_method(name: str, model_name: str = "tiny-bert", *overrides: str):
    cfg = composed(f"method={name}", f"model={model_name}", *TINY.get(name, []), *overrides)
    method_cfg, model_cfg = OmegaConf.to_object(cfg.method), OmegaConf.to_object(cfg.model)
    return get_method(method_cfg.name)(method_cfg, model_cfg)


def equip(name: str, model_name: str = "tiny-bert", *overrides: str, seed: int = 0):
    model, _ = tiny_model(model_name)
    method = make_method(name, model_name, *overrides)
    torch.manual_seed(seed)
    report = method.apply(model)
    return model, method, report


def randomise_trainable(model: nn.Module, seed: int = 3, std: float = 0.3) -> None:
    """Give every trainable parameter a deterministic non-zero value (zero-init factors would hide differences)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def eval_logits(model: nn.Module, batch: dict) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


# --- parameter counts on the real BERT-base config ----------------------------------------------------------------


def bert_base_adapter_params(
    name: str, *overrides: str, materialise: bool = False
) -> tuple[int, int, nn.Module]:
    from transformers import BertConfig, BertForSequenceClassification

    with torch.device("meta"):
        model = BertForSequenceClassification(BertConfig())
    model = model.to_empty(device="cpu") if materialise else model
    method = make_method(name, "bert-base-uncased", "method.r=48", "method.r2=4", *overrides)
    report = method.apply(model)
    adapters = [m.adapter for m in model.modules() if hasattr(m, "adapter")]
    inference = sum(inference_parameter_count(a) for a in adapters)
    return report.method_params, inference, model


def test_adakron_bert_base_is_060m_and_madakron_inference_matches():
    trained, inference, _ = bert_base_adapter_params("adakron")
    assert trained == 12 * ((768 + 1) * (12 + 4) + 48 * 768 + 768) == 599_232  # paper Table 1: 0.6M
    assert inference == trained
    for name in ("madakron_partial", "madakron_full"):
        m_trained, m_inference, _ = bert_base_adapter_params(name)
        assert m_inference == trained, name
        assert m_trained > trained
    partial, _, _ = bert_base_adapter_params("madakron_partial")
    assert partial - trained == 12 * 3 * (768 * 4 + 4)  # three extra D_c experts per layer


# --- identities at initialisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", FAMILIES)
@pytest.mark.parametrize(("name", "overrides"), IDENTITY_AT_INIT)
def test_identity_at_init_every_family(name, overrides, model_name):
    model, _ = tiny_model(model_name)
    batch = batch_for(model)
    before = eval_logits(model, batch)
    method = make_method(name, model_name, *overrides)
    torch.manual_seed(0)
    method.apply(model)
    torch.testing.assert_close(eval_logits(model, batch), before)


@pytest.mark.parametrize("name", ["adakron", "madakron_partial", "madakron_full"])
def test_adakron_default_init_is_the_released_codes(name):
    """Every adapter linear (D_c, D_v, each expert, W_up) is N(0, 0.02) with zero biases, as the released code's
    `_init_weights` draws them; so the adapter is not the identity at initialisation."""
    torch.manual_seed(0)
    _, _, model = bert_base_adapter_params(name, materialise=True)
    adapter = next(m.adapter for m in model.modules() if hasattr(m, "adapter"))
    weights = {n: p for n, p in adapter.named_parameters() if n.endswith("weight")}
    biases = {n: p for n, p in adapter.named_parameters() if n.endswith("bias")}
    assert any(n.startswith("up.") for n in weights) and len(weights) >= 3, sorted(weights)
    for n, w in weights.items():
        assert abs(w.float().std().item() - 0.02) < 0.002, (n, w.std().item())
    for n, b in biases.items():
        assert torch.count_nonzero(b) == 0, n


def test_krona_b_res_starts_with_unit_residual():
    model, _, _ = equip("krona_b_res")
    scales = [m.s_res for m in model.modules() if hasattr(m, "s_res")]
    assert len(scales) == 2 and all(float(s.detach()) == 1.0 for s in scales)


# --- MAdaKron ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["madakron_partial", "madakron_full"])
def test_madakron_eval_equals_adakron_with_mean_expert_weights(name):
    torch.manual_seed(0)
    cfg = OmegaConf.to_object(compose_config(f"method={name}", "model=tiny-bert", *TINY[name]).method)
    ada_cfg = AdaKronConfig(r=cfg.r, r2=cfg.r2)
    mixed = build_adakron(
        32,
        cfg,
        "x",
        make_c=lambda i, o: ExpertLinear(i, o, 4),
        make_v=(lambda i, o: ExpertLinear(i, o, 4)) if cfg.full else None,
    )
    randomise_trainable(mixed)
    single = build_adakron(32, ada_cfg, "x")
    with torch.no_grad():
        for proj in ("d_c", "d_v"):
            src, dst = getattr(mixed.down, proj), getattr(single.down, proj)
            w, b = src.mean_weight() if isinstance(src, ExpertLinear) else (src.weight, src.bias)
            dst.weight.copy_(w), dst.bias.copy_(b)
        single.up.load_state_dict(mixed.up.state_dict())
    x = torch.randn(2, 5, 32)
    torch.testing.assert_close(mixed.eval()(x), single.eval()(x))


def test_consistency_zero_with_same_experts_and_positive_otherwise():
    model, method, _ = equip("madakron_full")
    randomise_trainable(model)
    batch = batch_for(model)
    model.train()  # tiny models have dropout 0
    layers = expert_layers(model)
    for layer in layers:
        layer.force_expert = 1
    a, b = model(**batch).logits, model(**batch).logits
    assert consistency_loss(a, b, batch["labels"]).item() == pytest.approx(0.0, abs=1e-7)
    for layer in layers:
        layer.force_expert = 2
    c = model(**batch).logits
    assert consistency_loss(a, c, batch["labels"]).item() > 1e-6
    assert (
        method.two_pass and method.consistency_weight == 0.5
    )  # NLU protocol default (kronbench.consistency)


def test_routing_uniform_over_many_steps():
    model, _, _ = equip("madakron_partial")
    model.train()
    layers = expert_layers(model)
    x = torch.randn(2, 3, 32)
    steps = 2000
    counts = torch.zeros(len(layers), 4)
    torch.manual_seed(0)
    with torch.no_grad():
        for _ in range(steps):  # one training forward = one draw per expert layer
            for j, layer in enumerate(layers):
                layer(x)
                counts[j, layer.last_expert] += 1
    freqs = counts / steps
    assert torch.allclose(freqs, torch.full_like(freqs, 0.25), atol=0.035), freqs


# --- CDKA --------------------------------------------------------------------------------------------------------


def test_cdka_r1_equals_krona_with_matching_factors():
    torch.manual_seed(0)
    base = nn.Linear(32, 48).double()
    cfg = CDKAConfig(r1=4, r2=8, r=1, alpha=16.0)
    cdka = CDKALinear(base, cfg, "x").double()
    with torch.no_grad():
        cdka.cdka_b.normal_()
    krona = KronALinear(base, (48 // 4, 8), cfg.scale, "ku_zero", 0.0, "x").double()
    with torch.no_grad():
        krona.kron_a.copy_(cdka.cdka_b[0])
        krona.kron_b.copy_(cdka.cdka_a[0])
    x = torch.randn(3, 32, dtype=torch.float64)
    torch.testing.assert_close(cdka(x), krona(x))
    torch.testing.assert_close(cdka.delta_weight(), krona.delta_weight())
    assert cfg.scale == pytest.approx(16 / 8**0.5)


def test_cdka_forward_equals_merged_and_budget_helper():
    torch.manual_seed(0)
    base = nn.Linear(64, 32).double()
    layer = CDKALinear(base, CDKAConfig(r1=2, r2=8, r=3), "x").double()
    with torch.no_grad():
        layer.cdka_b.normal_()
    x = torch.randn(4, 64, dtype=torch.float64)
    out = layer(x)
    layer.merge()
    torch.testing.assert_close(layer(x), out)
    layer.unmerge()
    assert sum(p.numel() for n, p in layer.named_parameters() if "cdka" in n) == cdka_params(32, 64, 2, 8, 3)
    assert torch.linalg.matrix_rank(layer.delta_weight()) <= cdka_max_rank(32, 64, 2, 8, 3)
    configs = cdka_configs(768, 768, budget=14_000)
    assert configs and all(c["params"] <= 14_000 for c in configs)
    assert all(768 % c["r1"] == 0 and 768 % c["r2"] == 0 for c in configs)
    assert configs[0]["max_rank"] == max(c["max_rank"] for c in configs)
    assert {"r1": 2, "r2": 8, "r": 4, "params": 4 * (2 * 96 + 8 * 384), "max_rank": 64} in configs


def test_cdka_config_says_unverified():
    text = (compose_config.__globals__["CONF_DIR"] / "method" / "cdka.yaml").read_text()
    assert "UNVERIFIED" in text and "unverified" in (CDKAConfig.__doc__ or "")


# --- every ablation switch changes the computation ------------------------------------------------------------

SWITCHES = [
    ("krona_b", ["method.mode=sequential"]),
    ("krona_b", ["method.scale=1.0"]),
    ("krona_b", ["method.placement=both"]),
    ("krona_b", ["method.placement=attention"]),
    ("krona_b", ["method.modules_per_block=1"]),
    *[("krona_b", [f"method.activation={a}"]) for a in ("silu", "relu", "gelu", "gelu_new", "mish")],
    ("krona_b", ["method.bias=0"]),
    ("krona_b", ["method.bias=2"]),
    ("krona_b", ["method.residual=res"]),
    ("krona_b_res", ["method.residual=sigres"]),
    *[("adakron", [f"method.product={p}"]) for p in PRODUCTS if p != "kron"],
    ("adakron", ["method.r=16"]),
    ("adakron", ["method.r2=4"]),
    ("cdka", ["method.r=2"]),
    ("cdka", ["method.alpha=4.0"]),
]


@pytest.mark.parametrize(("name", "switch"), SWITCHES, ids=lambda v: v if isinstance(v, str) else "+".join(v))
def test_ablation_switch_changes_output(name, switch):
    model_a, _, _ = equip(name)
    model_b, _, _ = equip(name, "tiny-bert", *switch)
    batch = batch_for(model_a)
    randomise_trainable(model_a)
    randomise_trainable(model_b)
    assert not torch.allclose(eval_logits(model_a, batch), eval_logits(model_b, batch), atol=1e-6)


def test_madakron_switch_consistency_off():
    _, on, _ = equip("madakron_partial")
    model, off, _ = equip("madakron_partial", "tiny-bert", "method.consistency_weight=0")
    assert on.two_pass and not off.two_pass and off.consistency_weight == 0
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    training_loss(model.train(), off, batch_for(model))
    assert len(calls) == 1


def test_madakron_switch_no_merging_uses_single_random_expert():
    model, _, _ = equip("madakron_partial", "tiny-bert", "method.merge_eval=false")
    randomise_trainable(model)
    batch = batch_for(model)
    model.eval()
    layers = expert_layers(model)
    for layer in layers:
        layer.force_expert = 0
    single = eval_logits(model, batch)
    for layer in layers:
        layer.force_expert, layer.merge_eval = None, True
    merged = eval_logits(model, batch)
    assert not torch.allclose(single, merged)
    assert all(
        not layer.merge_eval
        for layer in expert_layers(equip("madakron_partial", "tiny-bert", "method.merge_eval=false")[0])
    )


def test_madakron_switch_biased_routing():
    model, _, _ = equip("madakron_partial", "tiny-bert", "method.routing_probs=[0.7,0.1,0.1,0.1]")
    layer = expert_layers(model)[0]
    torch.testing.assert_close(layer.probs, torch.tensor([0.7, 0.1, 0.1, 0.1]))
    torch.manual_seed(0)
    picks = [layer.draw_expert() for _ in range(2000)]
    assert picks.count(0) / 2000 == pytest.approx(0.7, abs=0.04)


def test_madakron_switch_gate_adds_balance_loss_and_topk():
    model, method, report = equip("madakron_partial", "tiny-bert", "method.gate=true", "method.gate_top_k=2")
    _, _, plain = equip("madakron_partial")
    assert report.method_params == plain.method_params + 2 * (32 * 4 + 4)  # one gate per layer
    layers = expert_layers(model)
    assert all(layer.routing == "gate" and layer.eval_top_k == 2 for layer in layers)
    batch = batch_for(model)
    model.train()
    model(**batch)
    extra = method.extra_loss(model)
    assert extra is not None and extra.item() > 0
    model0, method0, _ = equip(
        "madakron_partial", "tiny-bert", "method.gate=true", "method.load_balance_weight=0"
    )
    model0(**batch)
    assert method0.extra_loss(model0) is None


def test_madakron_switch_n_experts():
    model, _, _ = equip("madakron_full", "tiny-bert", "method.n_experts=2")
    assert {layer.n_experts for layer in expert_layers(model)} == {2}
    assert len(expert_layers(model)) == 4  # Full: D_c and D_v in each of 2 layers


def test_bad_values_name_the_field():
    with pytest.raises(ValueError, match="method.product='outer'"):
        AdaKronConfig(product="outer")
    with pytest.raises(ValueError, match="multiple of method.r2"):
        AdaKronConfig(r=10, r2=4)
    with pytest.raises(Exception, match="routing_probs"):
        OmegaConf.to_object(
            compose_config("method=madakron_partial", "method.routing_probs=[0.5,0.5]").method
        )


# --- every method × family attaches, trains, and reduces the loss -------------------------------------------------


@pytest.mark.parametrize("model_name", FAMILIES)
@pytest.mark.parametrize("name", METHODS)
def test_method_family_trains(name, model_name):
    model, method, report = equip(name, model_name)
    assert report.targets and report.method_params > 0
    batch = batch_for(model)
    model.eval()
    with torch.no_grad():
        start = model(**batch).loss.item()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-2)
    model.train()
    torch.manual_seed(0)
    for _ in range(6):
        loss = training_loss(model, method, batch)
        opt.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
        opt.step()
    model.eval()
    with torch.no_grad():
        end = model(**batch).loss.item()
    assert end < start, (start, end)


# --- KronA^B: stacked modules, dense inference form -------------------------------------------------------------


def krona_b_adapter(*overrides: str):
    from kronbench.methods.krona_block import KronABlockAdapter

    cfg = OmegaConf.to_object(
        composed("method=krona_b", "model=tiny-bert", *TINY["krona_b"], *overrides).method
    )
    adapter = KronABlockAdapter(32, 32, cfg, cfg.mode == "sequential", "site")
    randomise_trainable(adapter)
    return adapter, cfg


def explicit_krona_b(adapter, cfg, x: torch.Tensor) -> torch.Tensor:
    """Eq. 5/6 term by term: s·Σ_k ((A_k⊗B_k) x + b_k) + s_res·x (+ x if sequential), explicit `torch.kron`; with
    an intermediate bias, s·Σ_k (B_k (A_k X + m_k 1ᵀ) + b_k) with X the input viewed as (a2, b2), m_k ∈ R^{a1}."""
    k = adapter.kron_a.shape[0]
    y = sum(
        x @ torch.kron(adapter.kron_a[i], adapter.kron_b[i]).T
        + (adapter.out_bias[i] if adapter.out_bias is not None else 0)
        for i in range(k)
    )
    if (
        adapter.mid_bias is not None
    ):  # B_k (A_k X + m_k 1ᵀ), X viewed as (a2, b2), m_k one value per row of A_k X
        assert adapter.mid_bias.shape == (adapter.kron_a.shape[1], adapter.kron_a.shape[0], 1)
        a1, a2 = adapter.kron_a.shape[1:]
        b1, b2 = adapter.kron_b.shape[1:]
        xs = x.reshape(-1, a2, b2)
        y = sum(
            ((adapter.kron_a[i] @ xs + adapter.mid_bias[:, i]) @ adapter.kron_b[i].T).reshape(
                *x.shape[:-1], a1 * b1
            )
            + (adapter.out_bias[i] if adapter.out_bias is not None else 0)
            for i in range(k)
        )
    y = cfg.scale * y
    if adapter.s_res is not None:
        y = y + adapter.residual_scale() * x
    return x + y if cfg.mode == "sequential" else y


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["method.residual=res"],
        ["method.residual=sigres"],
        ["method.bias=0"],
        ["method.bias=2"],
        ["method.mode=sequential"],
        ["method.modules_per_block=3"],
        ["method.residual=res", "method.bias=2"],
    ],  # fmt: skip
    ids=lambda o: "+".join(o) or "default",
)
def test_krona_b_training_and_dense_inference_equal_explicit_kron(overrides):
    """Both forms equal Eq. 5/6: exactly in float64; in float32 within the error of summing the products in
    another order (the dense form folds the K products and the biases into one matrix before the GEMM)."""
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        adapter, cfg = krona_b_adapter(*overrides)
        adapter.to(dtype)
        x = torch.randn(3, 5, 32, generator=torch.Generator().manual_seed(11), dtype=dtype)
        expected = explicit_krona_b(adapter, cfg, x)
        scale = expected.abs().max().item()  # |y| reaches ~10 here: the bound is relative to it
        close = {"rtol": tol, "atol": tol * scale}
        torch.testing.assert_close(adapter(x), expected, **close)  # grad enabled: the factored two-GEMM form
        assert adapter.dense_inference
        with torch.no_grad():
            torch.testing.assert_close(adapter(x), expected, **close)  # the cached dense form
        with torch.inference_mode():
            torch.testing.assert_close(adapter(x), expected, **close)


def test_krona_b_dense_cache_follows_parameter_updates():
    adapter, cfg = krona_b_adapter("method.residual=res")
    x = torch.randn(4, 32)
    with torch.no_grad():
        adapter(x)
        adapter.kron_b.add_(0.5)  # an optimizer step changes the factors in place
        adapter.s_res.mul_(2.0)
        torch.testing.assert_close(adapter(x), explicit_krona_b(adapter, cfg, x))


def test_krona_b_factored_inference_and_nonlinear_adapters_skip_the_dense_form():
    adapter, _ = krona_b_adapter("method.inference=factored")
    assert not adapter.dense_inference
    nonlinear, _ = krona_b_adapter("method.activation=relu")
    assert not nonlinear.dense_inference
    x = torch.randn(4, 32)
    with torch.no_grad():
        no_grad_out = nonlinear(x)
    torch.testing.assert_close(nonlinear(x), no_grad_out)


def test_krona_b_bad_inference_form_is_rejected():
    with pytest.raises(Exception, match="inference"):
        OmegaConf.to_object(composed("method=krona_b", "method.inference=fused").method)


def test_krona_b_dense_form_is_cached_in_the_autocast_dtype():
    adapter, cfg = krona_b_adapter("method.residual=res", "method.bias=2")
    x = torch.randn(6, 32)
    expected = explicit_krona_b(adapter, cfg, x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = adapter(x)
        weight, bias = adapter.dense(torch.bfloat16)
    assert got.dtype == weight.dtype == bias.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, rtol=5e-2, atol=5e-2 * expected.abs().max().item())


def test_adakron_joint_down_projection_equals_two_layers():
    """AdaKron's D_c and D_v run as one GEMM over concatenated weights: same values and gradients."""
    torch.manual_seed(8)
    adapter = build_adakron(32, AdaKronConfig(r=8, r2=2), "x")
    randomise_trainable(adapter)
    down = adapter.down
    h = torch.randn(3, 5, 32)
    y_c, y_v = down.joint_projection(h)
    torch.testing.assert_close(y_c, down.d_c(h))
    torch.testing.assert_close(y_v, down.d_v(h))
    params = [down.d_c.weight, down.d_v.weight, down.d_c.bias, down.d_v.bias]
    joint = torch.autograd.grad((torch.cat(down.joint_projection(h), -1) ** 2).sum(), params)
    apart = torch.autograd.grad((torch.cat([down.d_c(h), down.d_v(h)], -1) ** 2).sum(), params)
    for a, b in zip(joint, apart, strict=True):
        torch.testing.assert_close(a, b)
