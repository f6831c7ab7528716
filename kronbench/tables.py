"""`make tables`: aggregate run records into the papers' tables (Markdown, LaTeX, CSV), plots and an index.

Table specs live in `conf/tables/*.yaml`, the papers' published numbers in `conf/tables/paper/*.yaml`. A cell is
mean ± std over seeds of one (model, task, task_version, schema_version, variant) group of completed records — never
a mix; failed records are excluded and counted. Significance: one-sided Welch t-test of each `ours` row against the
best (*) and second-best (†) baseline row of the column, p < 0.05, as in the MAdaKron paper (Appendix B).

Run: python -m kronbench.tables [--results results] [--specs conf/tables] [--out results/tables]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from kronbench.metrics import METRICS
from kronbench.paths import CONF_DIR, project_dir

P_VALUE = 0.05


# ---------------------------------------------------------------------------------------------------- records


@dataclass
class Records:
    """Completed run records and the count of failed ones, keyed by record path (relative to the root)."""

    completed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def load_records(root: Path) -> Records:
    """Read every `seed*.json` record under `root` (skipping `bench/` and `tables/`), sorted by path."""
    out = Records()
    if not root.is_dir():
        return out
    for path in sorted(root.rglob("seed*.json")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("bench", "tables"):
            continue
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        record["_path"] = rel.as_posix()
        if record.get("status") == "completed" and not path.name.endswith(".failed.json"):
            out.completed.append(record)
        else:
            out.failed.append(record)
    return out


def dig(data: Any, dotted: str) -> Any:
    """`dig(record["config"], "method.factor_shape")`; None when a key is missing."""
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def record_score(record: dict[str, Any], metric: str | None) -> float | None:
    """The record's score on `metric` (the reported split), or its main score when metric is None."""
    metrics = record.get("metrics") or {}
    if metric is None:
        return metrics.get("score")
    return (metrics.get("report") or {}).get("metrics", {}).get(metric)


def matches(record: dict[str, Any], row: dict[str, Any], col: dict[str, Any], model: str | None) -> bool:
    """Whether a record belongs to a (row, column) cell: method, variant glob, config filters, task, model."""
    if record.get("method") != row["method"]:
        return False
    if row.get("variant") and not fnmatch(record.get("variant", ""), row["variant"]):
        return False
    for key, want in {**row.get("where", {}), **col.get("where", {})}.items():
        if dig(record.get("config", {}), key) != want:
            return False
    return record.get("task") == col["task"] and record.get("model") == (col.get("model") or model)


# ---------------------------------------------------------------------------------------------------- cells


@dataclass
class Cell:
    """One table cell: per-seed scores of one consistent record group, and what was left out."""

    scores: dict[int, float] = field(default_factory=dict)
    expected: int = 4
    group: tuple[Any, ...] | None = None
    excluded_groups: int = 0
    paper: float | None = None
    marks: str = ""
    rank: int = 0  # 1 = best in column, 2 = second best

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores.values()) if self.scores else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.scores.values()) if self.n > 1 else None

    @property
    def delta(self) -> float | None:
        return None if self.mean is None or self.paper is None else self.mean - self.paper

    @property
    def flags(self) -> list[str]:
        out = []
        if 0 < self.n < self.expected:
            out.append(f"seeds {self.n}/{self.expected}")
        if self.excluded_groups:
            out.append(f"{self.excluded_groups} other group(s) ignored")
        return out


def group_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record.get("model"),
        record.get("task"),
        str(record.get("task_version")),
        record.get("schema_version"),
        record.get("variant"),
    )


def build_cell(records: list[dict[str, Any]], metric: str | None, expected: int) -> Cell:
    """Keep the group with the most seeds (ties: the lexically last key, i.e. newest versions); never mix."""
    groups: dict[tuple[Any, ...], dict[int, float]] = defaultdict(dict)
    for rec in records:
        score = record_score(rec, metric)
        if score is not None and not math.isnan(score):
            groups[group_key(rec)][int(rec["seed"])] = float(score)
    cell = Cell(expected=expected)
    if not groups:
        return cell
    key = max(groups, key=lambda k: (len(groups[k]), tuple(str(x) for x in k)))
    cell.group, cell.scores, cell.excluded_groups = key, dict(sorted(groups[key].items())), len(groups) - 1
    return cell


def average_cell(cells: list[Cell], expected: int) -> Cell:
    """Average column: per seed, the mean over the tasks where that seed exists for every task."""
    out = Cell(expected=expected)
    if not cells or any(not c.scores for c in cells):
        return out
    seeds = set.intersection(*(set(c.scores) for c in cells))
    out.scores = {s: statistics.fmean(c.scores[s] for c in cells) for s in sorted(seeds)}
    return out


def higher_is_better(metric: str | None, main_metric: str | None) -> bool:
    name = metric or main_metric
    return METRICS[name].higher_is_better if name in METRICS else True


def welch_greater(ours: list[float], base: list[float], higher: bool) -> float | None:
    """One-sided Welch t-test p-value that `ours` improves on `base`; None when either has < 2 values."""
    if len(ours) < 2 or len(base) < 2:
        return None
    from scipy import stats

    if statistics.pvariance(ours) == 0 and statistics.pvariance(base) == 0:
        better = statistics.fmean(ours) > statistics.fmean(base)
        return 0.0 if better == higher and statistics.fmean(ours) != statistics.fmean(base) else 1.0
    alt = "greater" if higher else "less"
    return float(stats.ttest_ind(ours, base, equal_var=False, alternative=alt).pvalue)


# ---------------------------------------------------------------------------------------------------- tables


@dataclass
class Table:
    """A rendered table: spec, row/column labels in the paper's order, and cells[row][col]."""

    name: str
    spec: dict[str, Any]
    rows: list[str]
    cols: list[str]
    cells: dict[str, dict[str, Cell]]
    failed: int
    paper_source: str | None


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def paper_value(values: dict[str, Any], row: dict[str, Any], col: dict[str, Any]) -> Any:
    """The published number of a cell; `paper_label` on a row/column names it as the paper's data file does."""
    return values.get(row.get("paper_label", row["label"]), {}).get(col.get("paper_label", col["label"]))


def build_table(name: str, spec: dict[str, Any], records: Records, paper_dir: Path) -> Table:
    """Fill one table spec from the records (see conf/tables/README.md for the spec format)."""
    expected = int(spec.get("expected_seeds", 4))
    model = spec.get("model")
    paper: dict[str, Any] = {}
    if spec.get("paper"):
        paper = load_yaml(paper_dir / f"{spec['paper']}.yaml")
    values = paper.get("values", {})
    rows, cols = spec["rows"], spec["columns"]
    cells: dict[str, dict[str, Cell]] = {}
    failed = 0
    for row in rows:
        cells[row["label"]] = {}
        task_cells = []
        for col in cols:
            if col.get("average"):
                continue
            picked = [r for r in records.completed if matches(r, row, col, model)]
            failed += sum(1 for r in records.failed if matches(r, row, col, model))
            cell = build_cell(picked, col.get("metric"), expected)
            cell.paper = paper_value(values, row, col)
            cells[row["label"]][col["label"]] = cell
            task_cells.append(cell)
        for col in cols:
            if col.get("average"):
                cell = average_cell(task_cells, expected)
                cell.paper = paper_value(values, row, col)
                cells[row["label"]][col["label"]] = cell
    table = Table(name, spec, [r["label"] for r in rows], [c["label"] for c in cols], cells, failed, None)
    table.paper_source = paper.get("source")
    mark_columns(table)
    return table


def mark_columns(table: Table) -> None:
    """Rank best / second best per column and add the significance marks of `ours` rows over baselines."""
    roles = {r["label"]: r.get("role", "baseline") for r in table.spec["rows"]}
    main = table.spec.get("main_metric")
    for col in table.spec["columns"]:
        label = col["label"]
        higher = higher_is_better(col.get("metric"), main)
        filled = [(r, table.cells[r][label]) for r in table.rows if table.cells[r][label].mean is not None]
        ordered = sorted(filled, key=lambda rc: rc[1].mean if higher else -rc[1].mean, reverse=True)
        for rank, (_, cell) in enumerate(ordered[:2], start=1):
            cell.rank = rank
        baselines = [(r, c) for r, c in ordered if roles[r] == "baseline" and c.n >= 2]
        for row, cell in filled:
            if roles[row] != "ours":
                continue
            for mark, (_, base) in zip("*†", baselines[:2], strict=False):
                p = welch_greater(list(cell.scores.values()), list(base.scores.values()), higher)
                if p is not None and p < P_VALUE:
                    cell.marks += mark


# ---------------------------------------------------------------------------------------------------- render


def fmt(x: float | None, digits: int = 2, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def markdown(table: Table) -> str:
    """Markdown: each cell `mean ± std` (bold best, underlined second), marks, then `paper P (Δ d)`."""
    digits = int(table.spec.get("digits", 2))
    lines = [f"### {table.spec.get('title', table.name)}", ""]
    meta = [f"model `{table.spec.get('model')}`", f"expected seeds {table.spec.get('expected_seeds', 4)}"]
    if table.paper_source:
        meta.append(f"paper numbers: {table.paper_source}")
    lines += ["; ".join(meta) + ".", ""]
    lines.append("| " + " | ".join(["Method", *table.cols]) + " |")
    lines.append("|" + "---|" * (len(table.cols) + 1))
    for row in table.rows:
        out = [row]
        for col in table.cols:
            c = table.cells[row][col]
            ours = "–" if c.mean is None else f"{fmt(c.mean, digits)} ± {fmt(c.std, digits)}"
            if c.rank == 1:
                ours = f"**{ours}**"
            elif c.rank == 2:
                ours = f"<u>{ours}</u>"
            ours += c.marks
            if c.flags and c.n:
                ours += " ⚠" + ", ".join(c.flags)
            if c.paper is not None:
                ours += f" · paper {c.paper:g}" + (
                    f" ({fmt(c.delta, digits, True)})" if c.mean is not None else ""
                )
            out.append(ours)
        lines.append("| " + " | ".join(out) + " |")
    lines += [
        "",
        "Ours: mean ± std over seeds; **best**, <u>second best</u> per column; * / † significant improvement "
        f"(one-sided Welch t-test, p < {P_VALUE}) over the best / second-best baseline; ⚠ fewer seeds than "
        f"expected; paper P (Δ = ours − paper). Failed runs excluded: {table.failed}.",
        "",
    ]
    return "\n".join(lines)


def latex(table: Table) -> str:
    """A booktabs tabular: ours (mean with std subscript, best bold, second underlined) and the paper number."""
    digits = int(table.spec.get("digits", 2))

    def esc(text: str) -> str:
        return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")

    lines = [
        f"% {table.spec.get('title', table.name)} — generated by python -m kronbench.tables",
        r"\begin{tabular}{l" + "c" * len(table.cols) + "}",
        r"\toprule",
        " & ".join(["Method", *map(esc, table.cols)]) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        out = [esc(row)]
        for col in table.cols:
            c = table.cells[row][col]
            s = "--" if c.mean is None else f"{fmt(c.mean, digits)}$_{{\\pm {fmt(c.std, digits)}}}$"
            if c.rank == 1:
                s = rf"\textbf{{{s}}}"
            elif c.rank == 2:
                s = rf"\underline{{{s}}}"
            if c.marks:
                s += "$^{" + c.marks.replace("†", r"\dagger") + "}$"
            if c.flags and c.n:
                s += r"$^{\triangle}$"
            if c.paper is not None:
                s += f" ({c.paper:g})"
            out.append(s)
        lines.append(" & ".join(out) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


CSV_FIELDS = ["table", "row", "column", "model", "task_version", "variant", "n", "expected", "mean", "std",
              "paper", "delta", "rank", "marks", "flags", "seeds"]  # fmt: skip


def csv_text(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        for col in table.cols:
            c = table.cells[row][col]
            g = c.group or (None,) * 5
            writer.writerow({
                "table": table.name, "row": row, "column": col, "model": g[0] or table.spec.get("model"),
                "task_version": g[2] or "", "variant": g[4] or "", "n": c.n, "expected": c.expected,
                "mean": "" if c.mean is None else f"{c.mean:.4f}", "std": "" if c.std is None else f"{c.std:.4f}",
                "paper": "" if c.paper is None else c.paper,
                "delta": "" if c.delta is None else f"{c.delta:.4f}", "rank": c.rank or "", "marks": c.marks,
                "flags": "; ".join(c.flags), "seeds": " ".join(map(str, c.scores)),
            })  # fmt: skip
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "kronbench", "pdf.compression": 0})
    return plt


def save(fig: Any, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(
        paths[1], bbox_inches="tight", metadata={"CreationDate": None, "Producer": None, "Creator": None}
    )
    return paths


def groups_by(records: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        out[tuple(rec.get(k) for k in keys)].append(rec)
    return dict(sorted(out.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def newest_versions(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plots never mix versions either: keep the (schema_version, task_version) with the most records."""
    keys = [(r.get("schema_version") or 0, str(r.get("task_version"))) for r in recs]
    best = max(set(keys), key=lambda k: (keys.count(k), k))
    return [r for r, k in zip(recs, keys, strict=True) if k == best]


def plot_params_vs_score(records: Records, out: Path) -> list[Path]:
    """Per (task, model): mean score (± std) vs trainable parameters, one point per method variant."""
    plt = _plt()
    paths = []
    for (task, model), recs in groups_by(records.completed, "task", "model").items():
        recs = newest_versions(recs)
        fig, ax = plt.subplots(figsize=(9, 4.5))
        markers = "osD^vP*Xh<>"
        for i, ((method, variant), grp) in enumerate(groups_by(recs, "method", "variant").items()):
            scores = [r["metrics"]["score"] for r in grp]
            params = grp[0].get("params", {}).get("trainable") or 1
            sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
            ax.errorbar(params, statistics.fmean(scores), yerr=sd, fmt=markers[i // 10 % len(markers)], capsize=3,
                        label=f"{method} ({variant.rsplit('-', 1)[0]}, n={len(scores)})")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters")
        ax.set_ylabel(recs[0]["metrics"].get("main_metric", "score"))
        ax.set_title(f"{task} — {model}")
        ax.grid(alpha=0.3)
        # outside the axes: with many methods an inside legend hides the points
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        fig.tight_layout()
        paths += save(fig, out, f"params_vs_score_{task.replace('/', '-')}_{model}")
        plt.close(fig)
    return paths


def plot_factor_shapes(records: Records, out: Path, paper_dir: Path) -> list[Path]:
    """Table 9 style: KronA score per factor shape of A (mean ± std over seeds), with the paper's MNLI numbers."""
    plt = _plt()
    paths = []
    krona = [r for r in records.completed if r.get("method") == "krona"]
    paper = load_yaml(paper_dir / "krona_table9.yaml") if (paper_dir / "krona_table9.yaml").exists() else {}
    for (task, model), recs in groups_by(krona, "task", "model").items():
        recs = newest_versions(recs)
        shapes: dict[str, list[float]] = defaultdict(list)
        for rec in recs:
            shape = dig(rec.get("config", {}), "method.factor_shape")
            if shape:
                shapes[f"({shape[0]}, {shape[1]})"].append(rec["metrics"]["score"])
        if len(shapes) < 2:
            continue
        labels = sorted(shapes, key=lambda s: int(s[1:].split(",")[0]))
        fig, ax = plt.subplots(figsize=(6, 4))
        means = [statistics.fmean(shapes[s]) for s in labels]
        sds = [statistics.stdev(shapes[s]) if len(shapes[s]) > 1 else 0.0 for s in labels]
        ax.bar(range(len(labels)), means, yerr=sds, capsize=4, color="#4c72b0", label="ours (mean ± std)")
        ref = paper.get("values", {}) if task == "glue/mnli" else {}
        if ref:
            xs = [i for i, s in enumerate(labels) if s in ref]
            ax.scatter(
                xs, [ref[labels[i]]["MNLI"] for i in xs], color="#dd8452", zorder=3, label="paper (T5)"
            )
        lo = min(m - s for m, s in zip(means, sds, strict=True))
        hi = max(m + s for m, s in zip(means, sds, strict=True))
        ax.set_ylim(lo - (hi - lo) * 0.5 - 0.5, hi + (hi - lo) * 0.3 + 0.5)
        for i, s in enumerate(labels):
            ax.text(
                i, ax.get_ylim()[0], f"n={len(shapes[s])}\n", ha="center", va="bottom", fontsize=8, color="w"
            )
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("shape of A (B is the reverse-dividing shape)")
        ax.set_ylabel(recs[0]["metrics"].get("main_metric", "score"))
        ax.set_title(f"KronA factor shapes — {task}, {model}")
        ax.legend(fontsize=8)
        paths += save(fig, out, f"factor_shapes_{task.replace('/', '-')}_{model}")
        plt.close(fig)
    return paths


def bench_records(root: Path) -> list[dict[str, Any]]:
    """The bench records under `root/bench` (`kronbench.bench.load_records`; torch is imported only if any)."""
    if not (root / "bench").is_dir():
        return []
    from kronbench.bench import load_records as load_bench_records

    return load_bench_records(root / "bench")


def write_bench_tables(root: Path, out: Path) -> list[Path]:
    """Table 2 style markdown of the bench records, one file per (model, precision, mode):
    `bench_<model>_<precision>-<mode>.md` (rows and format: `kronbench.bench.bench_tables`)."""
    records = bench_records(root)
    if not records:
        return []
    from kronbench.bench import TABLE_NOTE, bench_tables

    paths = []
    for (model, precision, mode), table in bench_tables(records).items():
        path = out / f"bench_{model}_{precision}-{mode}.md"
        path.write_text(f"# Bench — {model}, {precision}, {mode}\n\n{TABLE_NOTE}\n\n{table}")
        paths.append(path)
    return paths


def plot_efficiency(records: Records, root: Path, out: Path) -> list[Path]:
    """Table 2 / 10 style bars: training time relative to full fine-tuning (run records) and latency (bench)."""
    plt = _plt()
    paths = []
    for (task, model), recs in groups_by(records.completed, "task", "model").items():
        recs = newest_versions(recs)
        times = {m: statistics.fmean(r["timing"]["train_seconds"] for r in g)
                 for (m,), g in groups_by(recs, "method").items() if all("timing" in r for r in g)}  # fmt: skip
        if len(times) < 2:
            continue
        base = times.get("full")
        fig, ax = plt.subplots(figsize=(6, 3.5))
        names = list(times)
        vals = [100 * times[m] / base if base else times[m] for m in names]
        ax.bar(names, vals, color="#55a868")
        ax.set_ylabel("training time (% of full)" if base else "training time (s)")
        ax.set_title(f"Training time — {task}, {model}")
        ax.tick_params(axis="x", rotation=30)
        paths += save(fig, out, f"training_time_{task.replace('/', '-')}_{model}")
        plt.close(fig)
    # one plot per (model, precision, mode, protocol): never mix settings; bars by record name (merged variants too)
    bench = [r for r in bench_records(root) if r.get("kind") == "infer" and r.get("status") == "completed"]
    for (model, precision, compiled, proto), recs in groups_by(
        bench, "model", "precision", "compile", "protocol_name"
    ).items():
        lat = {}
        for rec in sorted(recs, key=lambda r: (r.get("name") != "base", r.get("name", ""))):
            # ratios to the base of the record's own run: absolute ms of different runs do not compare
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
        mode = "compile" if compiled else "eager"
        ax.set_title(
            f"Inference latency — {model}, {precision} {mode}, {proto} protocol (× base, same process)"
        )
        ax.title.set_fontsize(9)
        ax.set_xticks(range(len(lat)), list(lat), rotation=40, ha="right", fontsize=8)
        fig.tight_layout()
        paths += save(fig, out, f"latency_{model}_{precision}-{mode}_{proto}")
        plt.close(fig)
    return paths


# ---------------------------------------------------------------------------------------------------- main


def render_all(results: Path, specs: Path, out: Path, plots: bool = True) -> list[Path]:
    """Render every spec in `specs` (and plots) from the records under `results`; return the written files."""
    records = load_records(results)
    paper_dir = specs / "paper"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables: list[Table] = []
    for spec_path in sorted(specs.glob("*.yaml")):
        spec = load_yaml(spec_path)
        table = build_table(spec_path.stem, spec, records, paper_dir)
        has_data = any(c.n for row in table.cells.values() for c in row.values())
        if not has_data and not spec.get("always", False):
            continue
        tables.append(table)
        for ext, text in (("md", markdown(table)), ("tex", latex(table)), ("csv", csv_text(table))):
            path = out / f"{table.name}.{ext}"
            path.write_text(text)
            written.append(path)
    bench_paths = write_bench_tables(results, out)
    written += bench_paths
    plot_paths = []
    if plots:
        plot_dir = out / "plots"
        plot_paths = plot_params_vs_score(records, plot_dir)
        plot_paths += plot_factor_shapes(records, plot_dir, paper_dir)
        plot_paths += plot_efficiency(records, results, plot_dir)
        written += plot_paths
    index = (out.parent if out.name == "tables" else out) / "README.md"
    index.write_text(index_page(tables, out, plot_paths, records, index.parent, bench_paths))
    written.append(index)
    return written


def index_page(
    tables: list[Table],
    out: Path,
    plots: list[Path],
    records: Records,
    base: Path,
    bench: list[Path] | None = None,
) -> str:
    """The generated `results/README.md`: every table (md / tex / csv), bench table and plot, links relative
    to `base`."""
    lines = [
        "# Results",
        "",
        "Generated by `make tables` (`python -m kronbench.tables`) from the run records in this folder; do not "
        "edit by hand.",
        f"Completed records: {len(records.completed)}; failed records (excluded): {len(records.failed)}.",
        "",
        "## Tables",
        "",
    ]
    for t in tables:
        stem = (out / t.name).relative_to(base).as_posix()
        lines.append(
            f"- {t.spec.get('title', t.name)}: [md]({stem}.md) · [tex]({stem}.tex) · [csv]({stem}.csv)"
        )
    if bench:
        lines += ["", "## Benchmarks (`make bench`)", ""]
        for p in bench:
            model, setting = p.stem.removeprefix("bench_").rsplit("_", 1)
            lines.append(f"- {model}, {setting.replace('-', ' ', 1)}: [md]({p.relative_to(base).as_posix()})")
    lines += ["", "## Plots", ""]
    for p in plots:
        if p.suffix == ".png":
            rel = p.relative_to(base).as_posix()
            lines.append(f"- [{p.stem}]({rel}) ([pdf]({rel[:-4]}.pdf))")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kronbench.tables", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=project_dir() / "results")
    parser.add_argument("--specs", type=Path, default=CONF_DIR / "tables")
    parser.add_argument("--out", type=Path, default=None, help="default: <results>/tables")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    written = render_all(args.results, args.specs, args.out or args.results / "tables", not args.no_plots)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
