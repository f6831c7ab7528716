"""`make tables`: the papers' tables (Markdown, LaTeX, CSV) from the run records, plots and an index.

Specs: `conf/tables/*.yaml` (format: kronbench/tables/spec.py; bench tables: kronbench/tables/efficiency.py);
the papers' published numbers: `conf/tables/paper/*.yaml` (kronbench/tables/paper.py). Each file under the results
folder is read once and accounted for: shown in a table cell, listed in a table's footer, or listed as excluded
with the reason (results/README.md and stderr). Significance: one-sided Welch t-test of each `ours` row against
the best (*) and second-best (†) baseline row of the column, p < 0.05, as in the MAdaKron paper (Appendix B).

Run: python -m kronbench.tables [--results results] [--specs conf/tables] [--out results/tables]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kronbench.paths import CONF_DIR, project_dir
from kronbench.tables import efficiency, render
from kronbench.tables import plots as plotting
from kronbench.tables.build import Table, build_table
from kronbench.tables.cells import Cell
from kronbench.tables.records import Records, load_records, report_excluded
from kronbench.tables.spec import SpecError, load_yaml, local_version

__all__ = ["Cell", "Records", "SpecError", "Table", "build_table", "load_records", "load_yaml", "main",
           "render_all"]  # fmt: skip


def write_bench_tables(records: Records, out: Path) -> list[Path]:
    """One markdown file per bench setting (`bench_<model>_<precision>-<mode>.md`, kronbench.bench.bench_tables)
    and per real-trainer scenario (`bench_trainer_<scenario>.md`, kronbench.bench_trainer.render)."""
    from kronbench.bench import TABLE_NOTE, bench_tables
    from kronbench.bench_trainer import NOTE, render

    paths = []
    for scenario, text in sorted(render(records.trainer_bench).items()):
        path = out / f"bench_trainer_{scenario}.md"
        path.write_text(f"# Real-trainer bench — {scenario}\n\n{NOTE}\n\n{text}")
        paths.append(path)
    if not records.bench:
        return paths
    for (model, precision, mode), text in sorted(bench_tables(records.bench).items()):
        path = out / f"bench_{model}_{precision}-{mode}.md"
        path.write_text(f"# Bench — {model}, {precision}, {mode}\n\n{TABLE_NOTE}\n\n{text}")
        paths.append(path)
    return paths


def render_all(results: Path, specs: Path, out: Path, plots: bool = True) -> list[Path]:
    """Render every spec in `specs` (and plots) from the files under `results`; return the written files."""
    records = load_records(results)
    report_excluded(records)
    paper_dir = specs / "paper"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables: list[Table] = []
    eff_links: list[tuple[str, str]] = []
    index = (out.parent if out.name == "tables" else out) / "README.md"
    for spec_path in sorted(specs.glob("*.yaml")):
        spec = load_yaml(spec_path)
        name = spec_path.stem
        if spec.get("kind") == "bench":
            bt = efficiency.build_bench_table(name, spec, records, paper_dir)
            if bt.has_data or spec.get("always", False):
                path = out / f"{name}.md"
                path.write_text(efficiency.markdown(bt))
                written.append(path)
                eff_links.append((spec.get("title", name), path.relative_to(index.parent).as_posix()))
            continue
        variants = [{"_name": name, **spec}]
        local = local_version(variants[0])
        variants += [local] if local else []
        for variant in variants:
            table = build_table(variant["_name"], variant, records, paper_dir)
            if not table.has_data and not variant.get("always", False):
                continue
            tables.append(table)
            for ext, text in (("md", render.markdown(table)), ("tex", render.latex(table)),
                              ("csv", render.csv_text(table))):  # fmt: skip
                path = out / f"{table.name}.{ext}"
                path.write_text(text)
                written.append(path)
    tables.sort(key=lambda t: t.name)
    bench_paths = write_bench_tables(records, out)
    written += bench_paths
    plot_paths: list[Path] = []
    if plots:
        plot_dir = out / "plots"
        plot_paths = plotting.plot_params_vs_score(records, plot_dir)
        plot_paths += plotting.plot_factor_shapes(records, plot_dir, paper_dir)
        plot_paths += plotting.plot_training_time(records, plot_dir)
        plot_paths += plotting.plot_latency(records, plot_dir)
        written += plot_paths
    index.write_text(
        render.index_page(tables, out, index.parent, records, bench_paths, plot_paths, eff_links)
    )
    written.append(index)
    return written


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
