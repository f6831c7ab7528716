"""Golden-file tests of `make tables` (kronbench.tables) on fixture records: aggregation, missing seeds, failed
runs, significance marks, never mixing record groups, deterministic output. Regenerate the golden files with
`KRONBENCH_UPDATE_GOLDEN=1 pytest tests/test_tables.py` and review the diff."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kronbench import tables

FIXTURES = Path(__file__).parent / "fixtures" / "records"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("KRONBENCH_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    shutil.copytree(FIXTURES / "results", root, dirs_exist_ok=True)
    tables.render_all(root, FIXTURES / "tables", root / "tables", plots=False)
    return root


@pytest.mark.parametrize("name", ["fixture_glue.md", "fixture_glue.tex", "fixture_glue.csv", "README.md"])
def test_golden(rendered: Path, name: str) -> None:
    got = (rendered / name if name == "README.md" else rendered / "tables" / name).read_text()
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(got)
    assert got == golden.read_text(), f"{name} differs from tests/golden/{name} (KRONBENCH_UPDATE_GOLDEN=1)"


def table() -> tables.Table:
    spec = tables.load_yaml(FIXTURES / "tables" / "fixture_glue.yaml")
    records = tables.load_records(FIXTURES / "results")
    return tables.build_table("fixture_glue", spec, records, FIXTURES / "tables" / "paper")


def test_aggregation_and_paper_delta() -> None:
    cell = table().cells["KronA"]["RTE"]
    assert cell.n == 4 and cell.mean == pytest.approx(74.05)
    assert cell.paper.text == "75.00" and cell.paper.std == "0.50" and cell.paper.marks == "*"
    assert cell.paper.value == 75.0 and cell.delta == pytest.approx(-0.95)
    assert table().cells["Full"]["STS-B"].paper.text == "88.00"  # the paper's digits, verbatim
    avg = table().cells["Full"]["Avg"]
    assert avg.mean == pytest.approx((70.25 + 88.05) / 2)


def test_never_mixes_versions_or_models() -> None:
    cell = table().cells["KronA"]["RTE"]
    assert cell.group is not None and cell.group.key == "variant krona-00000001" and not cell.others
    assert 10.0 not in cell.scores.values() and 99.0 not in cell.scores.values()


def test_missing_seeds_and_failed_runs() -> None:
    t = table()
    cell = t.cells["KronA-B"]["RTE"]
    assert cell.n == 2 and "seeds 2/4" in cell.flags
    assert t.failed == 1
    assert t.cells["KronA-B"]["Avg"].n == 0  # no STS-B runs: no average


def test_significance_marks() -> None:
    t = table()
    assert t.cells["KronA"]["RTE"].marks == "*†"  # clearly above full and LoRA
    assert t.cells["KronA"]["STS-B"].marks == "†"  # above LoRA only
    assert t.cells["KronA"]["RTE"].rank == 1 and t.cells["Full"]["STS-B"].rank == 1


def test_deterministic(tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        root = tmp_path / str(i)
        shutil.copytree(FIXTURES / "results", root)
        tables.render_all(root, FIXTURES / "tables", root / "tables", plots=False)
        outs.append({p.name: p.read_text() for p in sorted((root / "tables").glob("*.*"))})
    assert outs[0] == outs[1]


def test_plots(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "results", tmp_path, dirs_exist_ok=True)
    written = tables.render_all(tmp_path, FIXTURES / "tables", tmp_path / "tables")
    names = {p.name for p in written}
    assert "factor_shapes_glue-rte_minilm.png" in names and "factor_shapes_glue-rte_minilm.pdf" in names
    assert "params_vs_score_glue-rte_minilm.png" in names and "training_time_glue-rte_minilm.png" in names
    assert "plots/factor_shapes_glue-rte_minilm.png" in (tmp_path / "README.md").read_text()
