"""Plots of `make tables`. Every point or bar is one configuration (run hash; variant folder for schema-1
records), never a pool of configurations; n is its number of seeds."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kronbench.tables.paper import number
from kronbench.tables.records import Records
from kronbench.tables.spec import config_key, load_yaml


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "kronbench", "pdf.compression": 0})
    return plt


def save(fig: Any, out: Path, stem: str) -> list[Path]:
    """PNG + PDF with fixed metadata (no creation dates, no software versions): reruns give identical files."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(
        paths[1], bbox_inches="tight", metadata={"CreationDate": None, "Producer": None, "Creator": None}
    )
    return paths


def by_task_model(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        out[(str(rec.get("task")), str(rec.get("model")))].append(rec)
    return dict(sorted(out.items()))


def configurations(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records by configuration, sorted by (method, key)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        out[config_key(rec)].append(rec)
    return dict(sorted(out.items(), key=lambda kv: (str(kv[1][0].get("method")), kv[0])))


def config_label(recs: list[dict[str, Any]]) -> str:
    """`method · <cell or variant>, n=<seeds>`."""
    rec = recs[0]
    exp = rec.get("experiment") or {}
    where = exp.get("cell_id") or rec.get("variant", "")
    if exp.get("deviations"):
        where += " +" + ",".join(exp["deviations"])
    return f"{rec.get('method')} · {where}, n={len({r.get('seed') for r in recs})}"


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def plot_params_vs_score(records: Records, out: Path) -> list[Path]:
    """Per (task, model): mean score (± std over seeds) vs trainable parameters, one point per configuration."""
    plt = _plt()
    paths = []
    for (task, model), recs in by_task_model(records.completed).items():
        fig, ax = plt.subplots(figsize=(9, 4.5))
        markers = "osD^vP*Xh<>"
        for i, grp in enumerate(configurations(recs).values()):
            mean, sd = mean_sd([r["metrics"]["score"] for r in grp])
            params = (grp[0].get("params") or {}).get("trainable") or 1
            ax.errorbar(params, mean, yerr=sd, fmt=markers[i // 10 % len(markers)], capsize=3,
                        label=config_label(grp))  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters")
        ax.set_ylabel(recs[0]["metrics"].get("main_metric", "score"))
        ax.set_title(f"{task} — {model}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        fig.tight_layout()
        paths += save(fig, out, f"params_vs_score_{task.replace('/', '-')}_{model}")
        plt.close(fig)
    return paths


def shape_text(shape: Any) -> str:
    return f"({shape[0]}, {shape[1]})"


@dataclass(frozen=True)
class ShapeBar:
    """One bar of the factor-shape plot: one configuration, its scores over seeds."""

    shape: str  # "(32, 24)"
    label: str  # the shape, plus "#<hash>" when several configurations ran that shape
    scores: list[float]

    @property
    def n(self) -> int:
        return len(self.scores)


def shape_bars(records: list[dict[str, Any]]) -> list[ShapeBar]:
    """KronA records of one (task, model) as bars: one per configuration with a factor shape, by shape."""
    found = []
    for key, grp in configurations(records).items():
        shape = ((grp[0].get("config") or {}).get("method") or {}).get("factor_shape")
        if shape:
            by_seed = {r.get("seed"): r["metrics"]["score"] for r in grp}
            found.append((int(shape[0]), key, shape_text(shape), [by_seed[s] for s in sorted(by_seed)]))
    found.sort(key=lambda b: (b[0], b[1]))
    shapes = [f[2] for f in found]
    return [
        ShapeBar(
            shape,
            f"{shape}\n#{key.split()[-1].rsplit('-', 1)[-1]}" if shapes.count(shape) > 1 else shape,
            scores,
        )
        for _, key, shape, scores in found
    ]


def plot_factor_shapes(records: Records, out: Path, paper_dir: Path) -> list[Path]:
    """Table 9 style: KronA score per factor shape of A, one bar per configuration (mean ± std over its seeds),
    with the paper's MNLI numbers on MNLI."""
    plt = _plt()
    paths = []
    krona = [r for r in records.completed if r.get("method") == "krona"]
    paper_file = paper_dir / "krona_table9.yaml"
    paper = load_yaml(paper_file).get("values", {}) if paper_file.is_file() else {}
    for (task, model), recs in by_task_model(krona).items():
        bars = shape_bars(recs)
        if len({b.shape for b in bars}) < 2:
            continue
        labels = [b.label for b in bars]
        stats = [mean_sd(b.scores) for b in bars]
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(bars)), 4))
        means, sds = [m for m, _ in stats], [s for _, s in stats]
        ax.bar(
            range(len(bars)),
            means,
            yerr=sds,
            capsize=4,
            color="#4c72b0",
            label="ours (mean ± std over seeds)",
        )
        ref = paper if task == "glue/mnli" else {}
        xs = [i for i, b in enumerate(bars) if number((ref.get(b.shape) or {}).get("MNLI")) is not None]
        if xs:
            ax.scatter(xs, [number(ref[bars[i].shape]["MNLI"]) for i in xs], color="#dd8452", zorder=3,
                       label="paper (T5)")  # fmt: skip
        lo = min(m - s for m, s in stats)
        hi = max(m + s for m, s in stats)
        ax.set_ylim(lo - (hi - lo) * 0.5 - 0.5, hi + (hi - lo) * 0.3 + 0.5)
        for i, bar in enumerate(bars):
            ax.text(i, ax.get_ylim()[0], f"n={bar.n}\n", ha="center", va="bottom", fontsize=8, color="w")
        ax.set_xticks(range(len(bars)), labels, fontsize=7)
        ax.set_xlabel("shape of A (B is the reverse-dividing shape); one bar per configuration")
        ax.set_ylabel(recs[0]["metrics"].get("main_metric", "score"))
        ax.set_title(f"KronA factor shapes — {task}, {model}")
        ax.legend(fontsize=8)
        paths += save(fig, out, f"factor_shapes_{task.replace('/', '-')}_{model}")
        plt.close(fig)
    return paths


def plot_training_time(records: Records, out: Path) -> list[Path]:
    """Table 2 / 8 style bars: mean training time of each configuration; relative to full fine-tuning when the
    task has exactly one full fine-tuning configuration."""
    plt = _plt()
    paths = []
    for (task, model), recs in by_task_model(records.completed).items():
        confs = {k: g for k, g in configurations(recs).items() if all("timing" in r for r in g)}
        if len(confs) < 2:
            continue
        times = {k: statistics.fmean(r["timing"]["train_seconds"] for r in g) for k, g in confs.items()}
        full = [k for k, g in confs.items() if g[0].get("method") == "full"]
        base = times[full[0]] if len(full) == 1 else None
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(confs)), 3.8))
        names = [config_label(g) for g in confs.values()]
        vals = [100 * times[k] / base if base else times[k] for k in confs]
        ax.bar(range(len(vals)), vals, color="#55a868")
        ax.set_xticks(range(len(vals)), names, rotation=40, ha="right", fontsize=5.5)
        ax.set_ylabel("training time (% of full)" if base else "training time (s)")
        ax.set_title(f"Training time — {task}, {model} (one bar per configuration)")
        fig.tight_layout()
        paths += save(fig, out, f"training_time_{task.replace('/', '-')}_{model}")
        plt.close(fig)
    return paths


def plot_latency(records: Records, out: Path) -> list[Path]:
    """Inference latency bars from the bench records, one plot per (model, precision, mode, protocol): ratios to
    the base model of each record's own run."""
    plt = _plt()
    paths = []
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for rec in records.bench:
        if rec.get("kind") == "infer" and rec.get("status") == "completed":
            key = (rec.get("model"), rec.get("precision"), rec.get("compile"), rec.get("protocol_name"))
            groups[tuple(str(k) for k in key)].append(rec)
    for (model, precision, compiled, proto), recs in sorted(groups.items()):
        lat = {}
        for rec in sorted(recs, key=lambda r: (r.get("name") != "base", r.get("name", ""))):
            ratio = 1.0 if rec.get("name") == "base" else (rec.get("ratios") or {}).get("latency_ms")
            if ratio is not None:
                lat[rec.get("name") or rec["method"]] = ratio
        if len(lat) < 2:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.8))
        bars = ax.bar(list(lat), list(lat.values()), color="#c44e52")
        for bar, ratio in zip(bars, lat.values(), strict=True):
            ax.annotate(f"{ratio:.2f}×", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)  # fmt: skip
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_ylabel("inference latency (× base model)")
        mode = "compile" if compiled == "True" else "eager"
        ax.set_title(
            f"Inference latency — {model}, {precision} {mode}, {proto} protocol (× base, same process)"
        )
        ax.title.set_fontsize(9)
        ax.set_xticks(range(len(lat)), list(lat), rotation=40, ha="right", fontsize=8)
        fig.tight_layout()
        paths += save(fig, out, f"latency_{model}_{precision}-{mode}_{proto}")
        plt.close(fig)
    return paths
