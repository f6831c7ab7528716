"""What a run tells its user on the console: one line per evaluation and a summary block at the end."""

from __future__ import annotations

import logging
from typing import Any


def fmt_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in metrics.items())


def eval_line(entry: dict[str, Any], split: str, lr: float | None) -> str:
    """`eval  step 120  epoch 1.00  lr 2.4e-04  train_loss 0.6812  validation: accuracy=61.37 ...`"""
    loss = entry.get("train_loss")
    parts = [f"eval  step {entry['step']}", f"epoch {entry['epoch']:.2f}"]
    if lr is not None:
        parts.append(f"lr {lr:.2e}")
    parts.append("train_loss " + ("–" if loss is None else f"{loss:.4f}"))
    return "  ".join(parts) + f"  {split}: {fmt_metrics(entry[split])}"


def summary_lines(record: dict[str, Any], path: str) -> list[str]:
    """The end-of-run block: parameters, best evaluation, the reported split and score, time, record path."""
    params, metrics, timing = record.get("params", {}), record["metrics"], record.get("timing", {})
    main, report, best = metrics["main_metric"], metrics["report"], metrics.get("best") or {}
    trainable, total = params.get("trainable"), params.get("total")
    share = f" ({100 * trainable / total:.3f}% of {total:,})" if trainable and total else ""
    lines = [
        f"run summary — {record['task']} · {record['model']} · {record['method']} · seed {record['seed']}",
        f"  trainable parameters  {trainable:,}{share}"
        if trainable is not None
        else "  trainable parameters  –",
    ]
    if best:
        lines.append(
            f"  best validation       {main}={best['validation'][main]:.2f} at step {best['step']} "
            f"(epoch {best['epoch']:.2f}), checkpoint restored"
        )
    merged = " on the merged model" if report.get("merged") else ""
    lines.append(f"  reported ({report['split']} split{merged})  {fmt_metrics(report['metrics'])}")
    lines.append(f"  score                 {main} = {metrics['score']:.2f}")
    lines.append(
        f"  time                  {timing.get('wall_seconds', 0):.1f} s "
        f"({timing.get('train_seconds', 0):.1f} s training, {timing.get('optimizer_steps', '–')} optimizer steps)"
    )
    lines.append(f"  record                {path}")
    return lines


def quiet_third_party() -> None:
    """Libraries speak at warning level or above: transformers' load reports (a new task head is expected, and
    the record lists what was trained) and hub retry chatter otherwise read as errors in a run's log."""
    import datasets
    import transformers
    from huggingface_hub.utils import logging as hub_logging

    transformers.logging.set_verbosity_error()
    datasets.logging.set_verbosity_warning()
    hub_logging.set_verbosity_error()
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # a dozen lines per saved state otherwise
