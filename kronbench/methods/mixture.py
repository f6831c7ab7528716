"""Expert-mixture linear layers (MAdaKron, AdaMix) and the bottleneck adapter block (AdaKron, Houlsby/Pfeiffer/PA).

:class:`ExpertLinear` — `n` experts of one linear layer, stored stacked (`weight: (n, d_out, d_in)`):

- **random routing** (`routing="random"`, AdaMix / MAdaKron): in training, **one expert is drawn per forward pass
  for the whole batch** (as AdaMix does: the stochastic choice is per step, not per token), uniformly or with the
  given `probs` (the "biased routing" ablation). Draws use torch's global CPU RNG, so they follow the run seed and two
  passes of the same batch draw independently (what the two-pass consistency step needs).
  In evaluation with `merge_eval=True` the layer is **one linear layer with the experts' mean weight and bias**
  (no routing; `merged_linear()` builds it as an `nn.Linear`); with `merge_eval=False` ("no merging" ablation) a
  random single expert is drawn per evaluation forward pass.
- **learned gate** (`routing="gate"`, the MAdaKron Table 8 ablation): a softmax gate `Linear(d_in, n)` per token;
  each token uses its top-`train_top_k` experts in training and top-`eval_top_k` at inference, weighted by the
  renormalised gate probabilities. After each forward `aux_loss` holds the Switch-Transformer load-balancing loss
  `n · Σ_i f_i · P_i` (f_i: fraction of tokens whose top expert is i; P_i: mean gate probability); the method adds
  `load_balance_weight · Σ aux_loss` through `Method.extra_loss` (see :func:`mixture_aux_loss`).

:class:`BottleneckAdapter` — `out = [x] + scale · up(act(down(dropout(x))))` with pluggable `down`/`up` modules
(nn.Linear by default, an :class:`ExpertLinear`, or AdaKron's Kronecker down projection).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

ROUTINGS = ("random", "gate")
EXPERT_INITS = ("linear", "zeros", "normal")
ADAPTER_INITS = ("zero_up", "normal", "linear")
ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu", "swish", "mish", "tanh", "identity")


def get_activation(name: str) -> nn.Module:
    """An activation module by name (transformers' ACT2FN names; `identity` = none)."""
    if name == "identity":
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not valid; choose one of {list(ACTIVATIONS)}")
    return ACT2FN[name]


def init_linear_(weight: torch.Tensor, bias: torch.Tensor | None, init: str, std: float = 0.02) -> None:
    """`linear`: nn.Linear's default (Kaiming-uniform a=√5, bias U(±1/√fan_in)); `zeros`; `normal`: N(0, std), bias 0."""
    with torch.no_grad():
        if init == "linear":
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            if bias is not None:
                bound = 1.0 / math.sqrt(weight.shape[-1])
                bias.uniform_(-bound, bound)
        elif init == "zeros":
            weight.zero_()
            if bias is not None:
                bias.zero_()
        elif init == "normal":
            weight.normal_(0.0, std)
            if bias is not None:
                bias.zero_()
        else:
            raise ValueError(f"init={init!r} is not valid; choose one of {list(EXPERT_INITS)}")


def down_init(init: str) -> str:
    """`init_linear_`'s name for an adapter's down projection under adapter init `init` (one of ADAPTER_INITS)."""
    return "normal" if init == "normal" else "linear"


def up_init(init: str) -> str:
    """`init_linear_`'s name for an adapter's up projection under adapter init `init` (one of ADAPTER_INITS)."""
    return {"zero_up": "zeros", "normal": "normal", "linear": "linear"}[init]


class ExpertLinear(nn.Module):
    """A linear layer with `n_experts` stacked experts: random or learned routing, mean-weight merge at eval."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        n_experts: int,
        bias: bool = True,
        routing: str = "random",
        probs: Sequence[float] | None = None,
        merge_eval: bool = True,
        train_top_k: int = 1,
        eval_top_k: int = 2,
        init: str = "linear",
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if n_experts < 1:
            raise ValueError(f"n_experts={n_experts} must be >= 1")
        if routing not in ROUTINGS:
            raise ValueError(f"routing={routing!r} is not valid; choose one of {list(ROUTINGS)}")
        if probs is not None:
            probs = [float(p) for p in probs]
            if len(probs) != n_experts or min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-4:
                raise ValueError(
                    f"routing probs={probs} must be {n_experts} non-negative numbers summing to 1"
                )
        for k, what in ((train_top_k, "train_top_k"), (eval_top_k, "eval_top_k")):
            if not 1 <= k <= n_experts:
                raise ValueError(f"{what}={k} must be in [1, n_experts={n_experts}]")
        self.d_in, self.d_out, self.n_experts = d_in, d_out, n_experts
        self.routing = routing
        self.merge_eval = merge_eval
        self.train_top_k, self.eval_top_k = train_top_k, eval_top_k
        self._probs = torch.tensor(probs if probs is not None else [1.0 / n_experts] * n_experts)
        self.weight = nn.Parameter(torch.empty(n_experts, d_out, d_in))
        self.bias = nn.Parameter(torch.empty(n_experts, d_out)) if bias else None
        for i in range(n_experts):
            init_linear_(self.weight[i], None if self.bias is None else self.bias[i], init, init_std)
        self.gate = nn.Linear(d_in, n_experts) if routing == "gate" else None
        self.force_expert: int | None = None  # set to pin routing (tests, analysis); None = draw
        # expert used by the last random-routed forward (None when merged)
        self.last_expert: int | None = None
        self.aux_loss: torch.Tensor | None = None  # load-balancing loss of the last gated forward

    @property
    def probs(self) -> torch.Tensor:
        return self._probs.clone()

    def draw_expert(self) -> int:
        """One expert index for this forward pass (the whole batch), from the routing probabilities."""
        if self.force_expert is not None:
            return int(self.force_expert)
        return int(torch.multinomial(self._probs, 1).item())

    def mean_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight.mean(0), None if self.bias is None else self.bias.mean(0)

    def expert(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight[i], None if self.bias is None else self.bias[i]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.routing == "gate":
            return self._gated(x)
        if not self.training and self.merge_eval:
            self.last_expert = None
            w, b = self.mean_weight()
            return F.linear(x, w, b)
        i = self.draw_expert()
        self.last_expert = i
        w, b = self.expert(i)
        return F.linear(x, w, b)

    def _gated(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.gate(x).float(), dim=-1)  # (..., n)
        k = self.train_top_k if self.training else self.eval_top_k
        top_p, top_i = probs.topk(k, dim=-1)
        top_p = (top_p / top_p.sum(-1, keepdim=True)).to(x.dtype)
        outs = torch.einsum("...d,nod->...no", x, self.weight)  # every expert: (..., n, d_out)
        if self.bias is not None:
            outs = outs + self.bias
        chosen = outs.gather(-2, top_i.unsqueeze(-1).expand(*top_i.shape, self.d_out))  # (..., k, d_out)
        flat = probs.reshape(-1, self.n_experts)
        frac = F.one_hot(flat.argmax(-1), self.n_experts).float().mean(0)
        self.aux_loss = self.n_experts * (frac * flat.mean(0)).sum()
        return (top_p.unsqueeze(-1) * chosen).sum(-2)

    def merged_linear(self) -> nn.Linear:
        """One nn.Linear with the experts' mean weight and bias (what the eval forward computes when merging)."""
        if self.routing != "random":
            raise ValueError(
                "only randomly routed expert layers merge into one layer (the gate is input-dependent)"
            )
        w, b = self.mean_weight()
        layer = nn.Linear(self.d_in, self.d_out, bias=b is not None).to(device=w.device, dtype=w.dtype)
        with torch.no_grad():
            layer.weight.copy_(w)
            if b is not None:
                layer.bias.copy_(b)
        return layer

    def inference_numel(self) -> int:
        """Parameters needed at inference: one expert's worth when merging, else all experts (+ the gate)."""
        per_expert = self.d_out * self.d_in + (self.d_out if self.bias is not None else 0)
        if self.routing == "random" and self.merge_eval:
            return per_expert
        gate = sum(p.numel() for p in self.gate.parameters()) if self.gate is not None else 0
        return per_expert * self.n_experts + gate

    def extra_repr(self) -> str:
        return (
            f"d_in={self.d_in}, d_out={self.d_out}, n_experts={self.n_experts}, routing={self.routing}, "
            f"probs={[round(p, 3) for p in self._probs.tolist()]}, merge_eval={self.merge_eval}"
        )


def expert_layers(model: nn.Module) -> list[ExpertLinear]:
    return [m for m in model.modules() if isinstance(m, ExpertLinear)]


def mixture_aux_loss(model: nn.Module) -> torch.Tensor | None:
    """Sum of the load-balancing losses of the gated expert layers' last forward (None when there are none)."""
    losses = [m.aux_loss for m in expert_layers(model) if m.routing == "gate" and m.aux_loss is not None]
    return torch.stack(losses).sum() if losses else None


def collapse_experts(model: nn.Module) -> int:
    """Replace every randomly routed ExpertLinear by its merged nn.Linear (deployment); returns how many."""
    names = [n for n, m in model.named_modules() if isinstance(m, ExpertLinear)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, getattr(parent, child).merged_linear())
    return len(names)


def inference_parameter_count(module: nn.Module) -> int:
    """Parameters of `module` as deployed: expert layers counted by :meth:`ExpertLinear.inference_numel`."""
    experts = expert_layers(module)
    inside = {id(p) for m in experts for p in m.parameters()}
    plain = sum(p.numel() for p in module.parameters() if id(p) not in inside)
    return plain + sum(m.inference_numel() for m in experts)


class BottleneckAdapter(nn.Module):
    """`out = [x +] scale · up(act(down(dropout(x))))`: the adapter block of Houlsby/Pfeiffer/PA, AdaKron, AdaMix.

    `down`/`up` default to nn.Linear(d_in, r) / nn.Linear(r, d_out); pass modules to change them (an ExpertLinear
    for AdaMix, the Kronecker down projection for AdaKron). `residual=True` (sequential use) adds the input, so the
    block returns the full new output; `residual=False` (parallel use) returns only the update.
    `init` (applied to default layers only): `zero_up` — down nn.Linear default, up zero, so the block starts as the
    identity (sequential) / a zero update (parallel); `normal` — both N(0, init_std), biases zero (Houlsby's
    near-identity init with a small std); `linear` — nn.Linear's default for both.
    """

    def __init__(
        self,
        d_in: int,
        r: int,
        d_out: int | None = None,
        activation: str = "relu",
        residual: bool = True,
        scale: float = 1.0,
        dropout: float = 0.0,
        init: str = "zero_up",
        init_std: float = 0.02,
        down: nn.Module | None = None,
        up: nn.Module | None = None,
    ) -> None:
        super().__init__()
        d_out = d_in if d_out is None else d_out
        if init not in ADAPTER_INITS:
            raise ValueError(f"adapter init={init!r} is not valid; choose one of {list(ADAPTER_INITS)}")
        if residual and d_out != d_in:
            raise ValueError(f"a residual adapter needs d_out == d_in, got d_in={d_in}, d_out={d_out}")
        self.d_in, self.r, self.d_out = d_in, r, d_out
        self.residual, self.scale = residual, scale
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.down = down if down is not None else nn.Linear(d_in, r)
        self.act = get_activation(activation)
        self.up = up if up is not None else nn.Linear(r, d_out)
        if down is None:
            init_linear_(self.down.weight, self.down.bias, down_init(init), init_std)
        if up is None:
            init_linear_(self.up.weight, self.up.bias, up_init(init), init_std)

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.up(self.act(self.down(self.dropout(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.delta(x)
        return x + d if self.residual else d


def expert_factory(
    n_experts: int,
    routing: str = "random",
    probs: Sequence[float] | None = None,
    merge_eval: bool = True,
    eval_top_k: int = 2,
    init: str = "linear",
    init_std: float = 0.02,
) -> Callable[[int, int], ExpertLinear]:
    """A `(d_in, d_out) -> ExpertLinear` builder with the routing settings fixed (for building many layers alike)."""

    def build(d_in: int, d_out: int) -> ExpertLinear:
        return ExpertLinear(
            d_in,
            d_out,
            n_experts,
            routing=routing,
            probs=probs,
            merge_eval=merge_eval,
            eval_top_k=min(eval_top_k, n_experts),
            init=init,
            init_std=init_std,
        )

    return build
