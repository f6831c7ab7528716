"""UniPELT (Mao et al., 2022): a bottleneck adapter, LoRA and prefix-tuning, each behind its own learned gate.

Each gate is `G = sigmoid(W x + b)`, `W ∈ R^{1×d}`, computed **per token** from the input of its submodule:

- **adapter** (Pfeiffer position, after the FFN output projection): `h + G_A(h) · up(relu(down(h)))` — a
  :class:`~kronbench.methods.mixture.BottleneckAdapter` (`residual=False`) attached by
  :func:`~kronbench.methods.sites.attach_sequential`. Defaults as the Adapters library's `UniPELTConfig`, with which
  the MAdaKron paper reproduced UniPELT: `SeqBnConfig(reduction_factor=16)` = r=48 on BERT-base, `bert` init.
- **LoRA** on the family's attention targets (query and value; GPT-2's fused `c_attn`): HF PEFT's LoRA layer, gated
  by replacing its down projection `A` with :class:`GatedLoraDown` = `G_L(x) · A x`. Since `B` has no bias,
  `B(G_L · A x) = G_L · B A x`: exactly UniPELT's `W x + G_L(x) · s · B A x`, with PEFT doing the rest (the gate reads
  PEFT's `lora_dropout(x)`, i.e. `x` at the default dropout 0). Not mergeable: the gate depends on the input.
- **prefix-tuning**, in the *parallel-attention form* of He et al. (2022, "Towards a Unified View of
  Parameter-Efficient Transfer Learning", §3.1, the prefix-tuning equation): per head,
  `h ← (1 − λ(x)) h + λ(x) · softmax(q(x) P_kᵀ / √d_h) P_v`, applied by :class:`ParallelPrefix` to the concatenated
  head outputs `h` — the **input** of the attention output projection (`sites["attention"].output`) — with `q(x)` from
  the block's **frozen** query projection (its PEFT base layer: LoRA's update is not included) applied to the block
  input `x` (captured at `sites["attention"].input`). No HF attention code is touched, so it works for every family.

How this differs from concatenating `l` prefixes inside the attention softmax (Li & Liang, 2021; UniPELT's code):
there, `λ(x) = Σ_i exp(q·P_k,i) / (Σ_i exp(q·P_k,i) + Σ_j exp(q·K_j))` is the prefixes' share of the softmax mass,
fixed by how the query scores the prefix keys *against the real keys* (under the real attention mask, position
biases and scaling). Here the real keys' mass is not available without rewriting each family's attention, so
`λ(x) = G_P(x)` is UniPELT's prefix gate itself: (1) prefixes and real keys do not compete — the real attention
distribution is unchanged and only rescaled by `1 − λ`; (2) `λ` does not grow when `q` matches a prefix key better;
(3) `λ` is one number per token shared by the heads; (4) UniPELT's `G_P` multiplies `P_k` and `P_v` inside the
softmax, here it is the mixing weight. The prefix keys are scored with `1/√d_h` for every family (T5 uses no scaling;
`P_k` is learned, so the scale is absorbed). The per-head prefix attention itself is exact.
The gate's bias starts at `prefix_gate_bias` (−3: λ ≈ 0.05, the share 10 prefixes take among ~200 comparable keys)
instead of nn.Linear's ≈ 0 (λ ≈ 0.5 would halve every attention output of the pretrained model at step 0).

Prefixes are trained directly (`prefix_mlp_dim=0`, default: the deployed parameters, which is what Table B.1
counts) or reparameterised through a per-site MLP `P = MLP(E)` (`prefix_mlp_dim>0`; Li & Liang share one MLP
across layers — per site here so that each attachment is self-contained).

Initialisation follows each submodule's paper (as UniPELT does), so the model at init is **not** exactly the base
model: the adapter's N(0, 0.02) up projection and the prefix branch's λ ≈ 0.05 change it slightly; LoRA (B = 0)
does not. With every gate closed (`G = 0`) the model is exactly the base model (tested).
Gates differ from UniPELT's code in one respect: it averages each gate over the sequence (one value per example);
per token (the paper's equation) keeps causal decoders causal and the gates independent of padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from transformers.pytorch_utils import Conv1D

from kronbench.config import MethodConfig
from kronbench.inject import LINEAR_TYPES, get_submodule, match_modules, set_submodule
from kronbench.methods.base import Method
from kronbench.methods.mixture import ACTIVATIONS, ADAPTER_INITS, BottleneckAdapter
from kronbench.methods.sites import (
    InputCapture,
    _Slot,
    _unwrap,
    attach_sequential,
    resolve_sites,
    site_dims,
)
from kronbench.registry import register_method


@dataclass
class UniPeltConfig(MethodConfig):
    name: str = "unipelt"
    use_adapter: bool = True  # the gated bottleneck adapter after the FFN (UniPELT's "A")
    use_lora: bool = True  # the gated LoRA on the attention targets ("L")
    use_prefix: bool = True  # the gated parallel-form prefix-tuning ("P")
    adapter_r: int = 48  # Adapters' UniPELTConfig: SeqBnConfig(reduction_factor=16) = 48 on BERT-base
    adapter_activation: str = "relu"
    adapter_init: str = "normal"  # BottleneckAdapter init: "normal" (Adapters' `bert`), "zero_up", "linear"
    adapter_init_std: float = 0.02
    lora_r: int = 8
    lora_alpha: float = 8.0  # scale alpha / r (Adapters' LoRAConfig default: alpha 8)
    lora_dropout: float = 0.0
    prefix_length: int = 10  # l, prefix key/value vectors per attention block
    prefix_mlp_dim: int = 0  # 0: train P_k, P_v directly; > 0: P = MLP(E) with this hidden size (per site)
    prefix_init_std: float = 0.02  # N(0, std) for directly trained prefixes (or the MLP's input embeddings)
    prefix_gate_bias: float = -3.0  # initial bias of G_P (λ ≈ 0.05); see the module docstring

    def __post_init__(self) -> None:
        if not (self.use_adapter or self.use_lora or self.use_prefix):
            raise ValueError("method.use_adapter, use_lora and use_prefix are all false: enable at least one")
        for field_name in ("adapter_r", "lora_r", "prefix_length"):
            if getattr(self, field_name) < 1:
                raise ValueError(f"method.{field_name}={getattr(self, field_name)} must be >= 1")
        if self.prefix_mlp_dim < 0:
            raise ValueError(f"method.prefix_mlp_dim={self.prefix_mlp_dim} must be >= 0")
        if self.adapter_activation not in ACTIVATIONS:
            raise ValueError(
                f"method.adapter_activation={self.adapter_activation!r} is not valid; "
                f"choose one of {list(ACTIVATIONS)}"
            )
        if self.adapter_init not in ADAPTER_INITS:
            raise ValueError(
                f"method.adapter_init={self.adapter_init!r} is not valid; choose one of {list(ADAPTER_INITS)}"
            )

    def tag(self) -> str:
        parts = []
        if self.use_adapter:
            parts.append(f"a{self.adapter_r}")
        if self.use_lora:
            parts.append(f"l{self.lora_r}")
        if self.use_prefix:
            parts.append(
                f"p{self.prefix_length}" + (f"m{self.prefix_mlp_dim}" if self.prefix_mlp_dim else "")
            )
        return "_".join(parts)


def gate_layer(d: int, bias: float | None = None) -> nn.Linear:
    """UniPELT's gate `Linear(d, 1)` (nn.Linear's init; optionally a fixed initial bias); apply sigmoid to it."""
    gate = nn.Linear(d, 1)
    if bias is not None:
        nn.init.constant_(gate.bias, bias)
    return gate


class GatedAdapter(nn.Module):
    """`h + G_A(h) · adapter(h)` with `adapter` returning only its update (a non-residual BottleneckAdapter)."""

    def __init__(self, adapter: BottleneckAdapter, d: int) -> None:
        super().__init__()
        self.adapter = adapter
        self.gate = gate_layer(d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + torch.sigmoid(self.gate(h)) * self.adapter(h)


class GatedLoraDown(nn.Module):
    """Replaces PEFT's `lora_A`: `G_L(x) · A x`, so PEFT's `B(...) · s` becomes the gated LoRA update."""

    def __init__(self, down: nn.Linear) -> None:
        super().__init__()
        self.down = down
        self.gate = gate_layer(down.in_features)

    @property
    def weight(self) -> torch.Tensor:  # PEFT reads `lora_A.weight` (dtype casts)
        return self.down.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(x)) * self.down(x)


class ParallelPrefix(nn.Module):
    """`h ← (1 − G_P(x)) h + G_P(x) · softmax(q(x) P_kᵀ/√d_h) P_v` per head (He et al., 2022; see module doc).

    `query` is the block's frozen query projection (nn.Linear or GPT-2's fused Conv1D, of which the first `inner`
    outputs are the query); it is held by reference, not registered, so its weights are not duplicated.
    """

    def __init__(
        self,
        query: nn.Module,
        d_model: int,
        n_heads: int,
        inner: int,
        length: int,
        mlp_dim: int = 0,
        init_std: float = 0.02,
        gate_bias: float = -3.0,
    ) -> None:
        super().__init__()
        if inner % n_heads:
            raise ValueError(f"attention width {inner} is not divisible by {n_heads} heads")
        self.__dict__["query"] = query  # a reference into the model, not a submodule
        self.n_heads, self.inner, self.length = n_heads, inner, length
        self.gate = gate_layer(d_model, gate_bias)
        if mlp_dim:
            self.embedding = nn.Parameter(torch.randn(length, d_model) * init_std)
            self.mlp = nn.Sequential(nn.Linear(d_model, mlp_dim), nn.Tanh(), nn.Linear(mlp_dim, 2 * inner))
        else:
            self.prefix = nn.Parameter(torch.randn(2, length, inner) * init_std)  # P_k, P_v

    def prefixes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`(P_k, P_v)`, each `(l, n_heads, d_h)`."""
        if hasattr(self, "mlp"):
            kv = self.mlp(self.embedding).view(self.length, 2, self.inner).transpose(0, 1)
        else:
            kv = self.prefix
        return kv[0].view(self.length, self.n_heads, -1), kv[1].view(self.length, self.n_heads, -1)

    def project_query(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query
        if isinstance(q, Conv1D):  # y = x W + b, W: (d_in, d_out)
            w, b = q.weight[:, : self.inner].T, q.bias[: self.inner]
        else:
            w, b = q.weight[: self.inner], None if q.bias is None else q.bias[: self.inner]
        return nn.functional.linear(x, w.to(x.dtype), None if b is None else b.to(x.dtype))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        p_k, p_v = self.prefixes()
        q = self.project_query(x).unflatten(-1, (self.n_heads, -1))  # (..., T, H, d_h)
        scores = torch.einsum("...hd,lhd->...hl", q, p_k) / math.sqrt(q.shape[-1])
        attended = torch.einsum("...hl,lhd->...hd", scores.softmax(-1), p_v).flatten(-2)  # (..., T, inner)
        lam = torch.sigmoid(self.gate(x))
        return h + lam * (attended - h)


class PrefixMix(nn.Module):
    """Wraps an attention output projection: its input `h` becomes `prefix(x, h)`, `x` the captured block input."""

    def __init__(self, base: nn.Module, prefix: ParallelPrefix, slot: _Slot, site: str) -> None:
        super().__init__()
        self.base = base
        self.prefix = prefix
        self._slot = slot
        self._site = site

    def forward(self, h: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        x = self._slot.value
        if x is None:
            raise RuntimeError(f"site {self._site!r}: the output projection ran before the attention input")
        self._slot.value = None
        dtype = self.prefix.gate.weight.dtype
        return self.base(self.prefix(x.to(dtype), h.to(dtype)).to(h.dtype), *args, **kwargs)


def query_projection(module: nn.Module) -> nn.Module:
    """The frozen query projection under an attention site's input module: its first linear layer (PEFT's base)."""
    for m in _unwrap(module).modules():
        if isinstance(m, BaseTunerLayer):
            return m.get_base_layer()
        if isinstance(m, LINEAR_TYPES):
            return m
    raise ValueError(f"no linear layer under {type(module).__name__}")


def attention_geometry(model: nn.Module, query: nn.Module) -> tuple[int, int]:
    """`(n_heads, inner)`: heads and the width of the query (the first third of a fused q/k/v projection)."""
    cfg = model.config
    n_heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "d_kv", None) or cfg.hidden_size // n_heads
    inner = n_heads * head_dim
    out = query.weight.shape[1] if isinstance(query, Conv1D) else query.weight.shape[0]
    if out not in (inner, 3 * inner):
        raise ValueError(f"query projection width {out} is neither {inner} nor 3·{inner} (fused q/k/v)")
    return n_heads, inner


@register_method("unipelt", UniPeltConfig)
class UniPelt(Method):
    """Gated adapter + gated LoRA + gated parallel-form prefix-tuning (see the module docstring)."""

    def attach(self, model: nn.Module) -> list[str]:
        cfg: UniPeltConfig = self.config
        names: list[str] = []
        if cfg.use_lora:  # first: the sites below then wrap PEFT's layers, not the reverse
            lora = match_modules(model, self.target_patterns(), cfg.target_regex, cfg.exclude_modules)
            pc = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=lora,
                fan_in_fan_out=self.model_cfg.family == "gpt2",  # GPT-2's Conv1D stores W transposed
            )
            inject_adapter_in_model(pc, model, adapter_name="default")
            for name in lora:
                layer = model.get_submodule(name)
                layer.lora_A["default"] = GatedLoraDown(layer.lora_A["default"])
            names += lora
        if cfg.use_prefix:
            for _, site in resolve_sites(model, self.model_cfg, ["attention"]):
                query = query_projection(get_submodule(model, site.input))
                n_heads, inner = attention_geometry(model, query)
                d_model = query.weight.shape[0 if isinstance(query, Conv1D) else 1]
                prefix = ParallelPrefix(
                    query,
                    d_model,
                    n_heads,
                    inner,
                    cfg.prefix_length,
                    cfg.prefix_mlp_dim,
                    cfg.prefix_init_std,
                    cfg.prefix_gate_bias,
                ).to(query.weight.device)
                slot = _Slot()
                set_submodule(model, site.input, InputCapture(get_submodule(model, site.input), slot))
                set_submodule(
                    model, site.output, PrefixMix(get_submodule(model, site.output), prefix, slot, site.block)
                )
                names.append(site.block)
        if cfg.use_adapter:
            for _, site in resolve_sites(model, self.model_cfg, ["ffn"]):
                d = site_dims(model, site)[1]
                adapter = BottleneckAdapter(
                    d,
                    cfg.adapter_r,
                    activation=cfg.adapter_activation,
                    residual=False,
                    init=cfg.adapter_init,
                    init_std=cfg.adapter_init_std,
                )
                attach_sequential(model, site, GatedAdapter(adapter, d))
                names.append(site.output)
        return names


__all__ = ["UniPelt", "UniPeltConfig", "ParallelPrefix", "PrefixMix", "GatedLoraDown", "GatedAdapter"]
