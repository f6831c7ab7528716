"""The two-pass consistency loss of MAdaKron and AdaMix: a symmetric KL between two passes' predictions.

Two readings, one switch (`method.consistency_stop_gradient`):

- **released code** (default, `stop_gradient=True`; MAdaKron's `NLG/src/model.py`, `symmetric_KL_loss`):
  `KL(sg(p_b) ‖ p_a) + KL(sg(p_a) ‖ p_b)` (in `F.kl_div(log_softmax(z_a), softmax(z_b).detach())` form): each pass
  is pulled towards the other's distribution, which is held fixed (`sg` = stop-gradient, `detach`). The value equals
  the symmetric KL; the gradient reaches the model only through the log-probabilities of the pass being pulled
  (`∂/∂z_a = p_a − p_b`, from the first term alone).
- **paper text** (`stop_gradient=False`; MAdaKron Eq. 3): the same sum with gradients through both distributions.

The weight multiplies `KL(a‖b) + KL(b‖a)`. Its protocol default (:func:`protocol_weight`): ½ for NLU (the text's
`CE + ½·L_KL`; the released GLUE scripts pass `--use_consistency_loss 0`, so no released NLU weight exists), 50 for
NLG (the released GPT-2 code adds `100 · ½(KL + KL)`; the text says ½). The method YAMLs set
`consistency_weight: ${consistency_weight:${task.type}}` (resolver registered by `config.register_schemas`), so
the record holds the number; a config built in code may leave it None and the trainer resolves it.

Token-level logits (generation) are averaged over the positions the LM loss scores. For a causal LM (GPT-2) the
logits at position t predict the label at t+1 (transformers shifts the labels inside the model), so position t is
weighted by `labels[t+1] != -100` and the last position by nothing; for an encoder-decoder (T5) logits and labels
are aligned. Classification logits are averaged over the batch.

**Regression head** (one output, e.g. STS-B with a head): there is no distribution. Each pass's prediction is read as
the mean of a unit-variance Gaussian, whose symmetric KL is `(a − b)²`; with stop-gradient it is
`½(a − sg b)² + ½(b − sg a)²` (same value, half the gradient). No paper or released code states this case.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
PAPER_WEIGHT = 0.5  # MAdaKron Eq. 3 text: L = CE + ½·(KL + KL)
RELEASED_NLG_WEIGHT = 50.0  # MAdaKron NLG/src/model.py: loss + 100.0 * 0.5 * (KL + KL)


def protocol_weight(weight: float | None, generation: bool) -> float:
    """The configured weight, or the protocol default when it is None (50 for NLG, ½ otherwise)."""
    if weight is not None:
        return float(weight)
    return RELEASED_NLG_WEIGHT if generation else PAPER_WEIGHT


def position_mask(labels: torch.Tensor, causal_lm: bool) -> torch.Tensor:
    """1.0 where a token-level logit is scored by the LM loss: `labels[t+1]` for a causal LM, `labels[t]` else."""
    scored = labels != IGNORE_INDEX
    if causal_lm:  # logits[t] predicts labels[t+1]; nothing predicts past the end
        scored = torch.cat([scored[..., 1:], torch.zeros_like(scored[..., :1])], dim=-1)
    return scored.float()


def _kl_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """`KL(p ‖ q)` per row (summed over the last axis) from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
    """Per-item `KL(p_a‖p_b) + KL(p_b‖p_a)` over the last axis; with `stop_gradient` the released code's form
    `F.kl_div(log p_a, sg p_b) + F.kl_div(log p_b, sg p_a)` (= `KL(sg p_b ‖ p_a) + KL(sg p_a ‖ p_b)`)."""
    log_a = F.log_softmax(logits_a.float(), dim=-1)
    log_b = F.log_softmax(logits_b.float(), dim=-1)
    if not stop_gradient:
        return _kl_rows(log_a, log_b) + _kl_rows(log_b, log_a)
    # F.kl_div(input=log q, target=log p, log_target=True) = Σ p (log p − log q): the target p is held fixed
    kl_to_b = F.kl_div(log_a, log_b.detach(), reduction="none", log_target=True).sum(-1)
    kl_to_a = F.kl_div(log_b, log_a.detach(), reduction="none", log_target=True).sum(-1)
    return kl_to_b + kl_to_a


def gaussian_symmetric_kl(pred_a: torch.Tensor, pred_b: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
    """Per-item symmetric KL between unit-variance Gaussians at the two regression predictions: `(a − b)²`."""
    a, b = pred_a.float().squeeze(-1), pred_b.float().squeeze(-1)
    if not stop_gradient:
        return (a - b) ** 2
    return 0.5 * (a - b.detach()) ** 2 + 0.5 * (b - a.detach()) ** 2


def consistency_loss(
    logits_a: torch.Tensor,
    logits_b: torch.Tensor,
    labels: torch.Tensor | None,
    stop_gradient: bool = True,
    causal_lm: bool = False,
) -> torch.Tensor:
    """`KL(a‖b) + KL(b‖a)` averaged over items (or over scored positions for token-level logits); see module doc."""
    if logits_a.shape[-1] == 1:
        return gaussian_symmetric_kl(logits_a, logits_b, stop_gradient).mean()
    per_item = symmetric_kl(logits_a, logits_b, stop_gradient)
    if per_item.dim() > 1 and labels is not None and labels.shape == per_item.shape:
        mask = position_mask(labels, causal_lm)
        return (per_item * mask).sum() / mask.sum().clamp(min=1.0)
    return per_item.mean()


@dataclass(frozen=True)
class Consistency:
    """The consistency term of one run: its resolved weight, its gradient reading and the label alignment."""

    weight: float
    stop_gradient: bool = True
    causal_lm: bool = False

    def __call__(
        self, logits_a: torch.Tensor, logits_b: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        return self.weight * consistency_loss(logits_a, logits_b, labels, self.stop_gradient, self.causal_lm)


def run_consistency(method, generation: bool, causal_lm: bool) -> Consistency:
    """The consistency settings of `method` for a run: `generation` picks the protocol weight (NLG vs NLU),
    `causal_lm` the label alignment (True for GPT-2-style models, whose LM loss shifts the labels)."""
    cfg = method.config
    return Consistency(
        weight=protocol_weight(method.consistency_weight, generation),
        stop_gradient=bool(getattr(cfg, "consistency_stop_gradient", True)),
        causal_lm=causal_lm,
    )


def consistency_tag(weight: float | None, stop_gradient: bool) -> str:
    """Result-path tag of the consistency settings: `cw0.5`, `cwauto` (protocol default), `_both` when gradients flow through both KL sides."""
    tag = "cwauto" if weight is None else f"cw{weight:g}"
    return tag if stop_gradient else f"{tag}_both"
