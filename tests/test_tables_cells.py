"""`make tables` puts in each table cell exactly the runs of its own experiment cell.

Synthetic records are written for every cell of every preset (seeds as the preset sweeps them), each with a score
that encodes its cell and seed, plus decoys: the same method and task in other presets' cells (present by
construction, e.g. KronA Table 4's normal-init RTE runs beside Table 1's KronA RTE), a deviating configuration of a
cell, two eligible configurations of one cell, a run in no cell, a truncated seed of a cell, and files that are not
records. Every table is rendered; every cell's records must be exactly its own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from kronbench import tables
from kronbench.experiment import axis_value
from kronbench.sweep import sweep_overrides
from kronbench.tables.spec import SpecError, load_yaml, preset_axes
from tests.conftest import CONF_DIR
from tests.test_experiment_identity import composed_identity

SPECS = CONF_DIR / "tables"
PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
METRIC_NAMES = sorted(
    {c["metric"] for p in SPECS.glob("*.yaml") for c in load_yaml(p).get("columns", []) if c.get("metric")}
)

# decoys (preset, cell changes, what is special)
DEVIATING = ("krona_table1_glue", {"model": "t5-base", "experiment/part/cell": "krona_paper/krona/rte"})
AMBIGUOUS = (
    "madakron_table9_experts",
    {
        "model": "bert-base-uncased",
        "experiment/part/setup": "a1_bert/sst2",
        "experiment/part/method": "pfeiffer_r48",
    },
)
NO_CELL = ("krona_table1_glue", {"model": "t5-base", "experiment/part/cell": "krona_paper/lora/wnli"})
TRUNCATED = ("krona_table4_init", {"model": "t5-base", "experiment/part/cell": "krona_paper/krona/rte",
                                   "method.init": "ku_zero"})  # fmt: skip
LOCAL = ("krona_table9_factor_shapes", {"model": "minilm", "method.factor_shape": "[2,384]"})


def cell_id(preset: str, cell: dict[str, str]) -> str:
    return f"{preset}:" + ",".join(f"{k}={v}" for k, v in sorted(cell.items()))


def score(cid: str, seed: int, salt: str = "") -> float:
    """A number that names the cell, seed and configuration (0..100 with 3 decimals)."""
    return int(hashlib.sha1(f"{cid}|{seed}|{salt}".encode()).hexdigest()[:8], 16) % 100000 / 1000


def run_hash(cid: str, salt: str = "") -> str:
    return hashlib.sha1(f"{cid}|{salt}".encode()).hexdigest()[:8]


@cache
def preset_jobs(preset: str) -> tuple[tuple[tuple[tuple[str, str], ...], tuple[int, ...]], ...]:
    """The preset's cells (one value per axis, canonical as runs record them) and their seeds."""
    parser = OverridesParser.create()
    axes = preset_axes(preset)
    cells: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for job in sweep_overrides([f"experiment={preset}"]):
        values = dict(o.split("=", 1) for o in job)
        cell = []
        for axis in sorted(axes):
            raw = values[axis]
            group = (CONF_DIR / axis).is_dir()
            cell.append((axis, raw if group else axis_value(parser.parse_override(f"{axis}={raw}").value())))
        cells.setdefault(tuple(cell), []).append(int(values["seed"]))
    return tuple((c, tuple(sorted(s))) for c, s in cells.items())


@pytest.mark.parametrize("preset", PRESETS)
def test_sweep_cells_are_the_cells_runs_record(preset: str) -> None:
    """The cells derived from the sweep (used below) are what a composed run of the preset records."""
    cell, seeds = preset_jobs(preset)[-1]
    overrides = [f"experiment={preset}", *(f"{k}={v}" for k, v in cell), f"seed={seeds[0]}"]
    ident = composed_identity(*overrides)
    assert ident.experiment.preset == preset and ident.experiment.deviations == []
    assert ident.experiment.cell == dict(cell)


def record(
    preset: str, cell: dict[str, str], seed: int, salt: str = "", deviations: tuple[str, ...] = ()
) -> dict:
    cid = cell_id(preset, cell)
    value = score(cid, seed, salt)
    return {
        "schema_version": 2, "status": "completed", "task": "synthetic", "model": cell["model"],
        "method": "synthetic", "variant": f"v-{run_hash(cid, salt)}", "seed": seed,
        "experiment": {"preset": preset, "scale": "paper", "cell": cell, "deviations": list(deviations),
                       "cell_id": cid},
        "identity": {"run_hash": run_hash(cid, salt), "data": "synthetic"},
        "metrics": {"main_metric": "accuracy", "score": value,
                    "report": {"split": "test", "metrics": {m: value for m in METRIC_NAMES}}},
        "params": {"trainable": 1000, "total": 1_000_000},
        "timing": {"train_seconds": 1 + value},
    }  # fmt: skip


def write(root: Path, rec: dict[str, Any]) -> str:
    rel = f"{rec['experiment']['preset']}/{rec['identity']['run_hash']}/seed{rec['seed']}.json"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return rel


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Records of every cell of every preset plus the decoys, rendered once; what each cell should hold."""
    root = tmp_path_factory.mktemp("results")
    own: dict[str, dict[int, tuple[str, float]]] = {}  # cell id -> seed -> (path, score)
    for preset in PRESETS:
        for cell, seeds in preset_jobs(preset):
            cid = cell_id(preset, dict(cell))
            for seed in seeds:
                rec = record(preset, dict(cell), seed)
                own.setdefault(cid, {})[seed] = (write(root, rec), rec["metrics"]["score"])
    extra: dict[str, str] = {}
    preset, cell = DEVIATING
    extra["deviating"] = write(root, record(preset, cell, 0, "short", ("train.epochs=10",)))
    preset, cell = AMBIGUOUS
    extra["ambiguous"] = write(root, record(preset, cell, 0, "other-data"))
    preset, cell = NO_CELL
    extra["no_cell"] = write(root, record(preset, cell, 0))
    preset, cell = LOCAL
    for seed in (0, 42):
        rec = record(preset, cell, seed)
        own.setdefault(cell_id(preset, cell), {})[seed] = (write(root, rec), rec["metrics"]["score"])
    preset, cell = TRUNCATED
    path, _ = own[cell_id(preset, cell)].pop(42)
    text = (root / path).read_text()
    (root / path).write_text(text[: len(text) // 2])
    extra["truncated"] = path
    (root / "junk").mkdir()
    (root / "junk" / "latin1.json").write_bytes(b'{"schema_version": 2, "note": "caf\xe9"}')
    (root / "junk" / "foreign.json").write_text(json.dumps({"name": "not ours", "values": [1, 2]}))
    (root / "junk" / "future.json").write_text(json.dumps({**record(*NO_CELL, 1), "schema_version": 99}))
    (root / "junk" / "failed.json").write_text(json.dumps({**record(*NO_CELL, 2), "status": "failed"}))
    written = tables.render_all(root, SPECS, root / "tables", plots=False)
    return {"root": root, "own": own, "extra": extra, "written": written}


@cache
def spec_of(table: str) -> dict[str, Any]:
    return load_yaml(SPECS / f"{table.removesuffix('_local')}.yaml")


def csv_rows(root: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted((root / "tables").glob("*.csv")):
        rows += list(csv.DictReader(path.open()))
    return rows


def test_every_spec_renders_every_table(world: dict[str, Any]) -> None:
    names = {p.name for p in world["written"]}
    for spec in SPECS.glob("*.yaml"):
        if load_yaml(spec).get("select") != "variants":  # those show the committed schema-1 records
            assert f"{spec.stem}.md" in names, spec.stem
    assert "krona_table9_local.md" in names  # the scale=local twin, from the MiniLM runs


def test_each_cell_holds_exactly_its_own_runs(world: dict[str, Any]) -> None:
    own, checked = world["own"], 0
    ambiguous = cell_id(*AMBIGUOUS)
    for row in csv_rows(world["root"]):
        cells = row["cells"].split()
        if len(cells) != 1:
            continue
        (cid,) = cells
        recs = sorted(row["records"].split())
        if cid == ambiguous:
            assert recs == [] and row["mean"] == "", row  # two configurations: none chosen
            continue
        expected = own.get(cid, {})
        assert recs == sorted(p for p, _ in expected.values()), (row["table"], row["row"], row["column"])
        assert [int(s) for s in row["seeds"].split()] == sorted(expected)
        if expected and not spec_of(row["table"]).get("value"):
            mean = statistics.fmean(v for _, v in expected.values())
            assert float(row["mean"]) == pytest.approx(mean, abs=1e-4), (
                row["table"],
                row["row"],
                row["column"],
            )
        checked += 1
    assert checked > 1000


def test_average_cells_average_their_own_cells(world: dict[str, Any]) -> None:
    """Per-model averages (MAdaKron Table 1) and `over:` columns: per seed, the mean over exactly their cells."""
    own = world["own"]
    rows = [
        r for r in csv_rows(world["root"]) if len(r["cells"].split()) > 1 and r["table"] == "madakron_table1"
    ]
    assert len(rows) == 14 * 4
    for row in rows:
        cids = row["cells"].split()
        assert len(cids) == 8 and all(c.startswith("madakron_table1_glue_") for c in cids)
        seeds = sorted(set.intersection(*(set(own[c]) for c in cids)))
        per_seed = [statistics.fmean(own[c][s][1] for c in cids) for s in seeds]
        assert float(row["mean"]) == pytest.approx(statistics.fmean(per_seed), abs=1e-4)


def test_known_mixups_are_gone(world: dict[str, Any]) -> None:
    """The cells that used to show another experiment's runs (issue list) now show their own."""
    by = {(r["table"], r["row"], r["column"]): r for r in csv_rows(world["root"])}
    cases = {
        ("krona_table1", "KronA", "RTE"): "krona_table1_glue:experiment/part/cell=krona_paper/krona/rte,model=t5-base",
        ("krona_table1", "KronA", "MNLI"): "krona_table1_glue:experiment/part/cell=krona_paper/krona/mnli,"
        "model=t5-base",
        ("krona_table1", "KronA <sup>B</sup>", "RTE"): "krona_table1_glue:experiment/part/cell=krona_paper/krona_b/rte,"
        "model=t5-base",
        ("krona_table9", "(2, 384)", "MNLI"): "krona_table9_factor_shapes:method.factor_shape=[2,384],model=t5-base",
        ("madakron_tableb1", "AdaKron [8]", "RTE"): "madakron_table1_glue_bert:experiment/part/method=adakron_r48,"
        "experiment/part/setup=a1_bert/rte,model=bert-base-uncased",
        ("madakron_tableb1", "Partial MAdaKron", "RTE"): "madakron_table1_glue_bert:experiment/part/method="
        "madakron_partial_r48,experiment/part/setup=a1_bert/rte,model=bert-base-uncased",
    }  # fmt: skip
    for key, cid in cases.items():
        row = by[key]
        assert row["cells"] == cid and int(row["n"]) == 4
        assert all(p.startswith(cid.split(":")[0] + "/") for p in row["records"].split())


def test_footers_list_what_the_cells_leave_out(world: dict[str, Any]) -> None:
    root, extra = world["root"], world["extra"]
    table1 = (root / "tables" / "krona_table1.md").read_text()
    assert f"same cell, other configuration — run {run_hash(cell_id(*DEVIATING), 'short')}" in table1
    assert extra["deviating"] in table1
    assert f"- matches no cell: {cell_id(*NO_CELL)}: `{extra['no_cell']}`" in table1
    table9 = (root / "tables" / "madakron_table9.md").read_text()
    assert "several configurations, none shown" in table9 and extra["ambiguous"] in table9
    # a truncated seed leaves its cell with 3 of 4 seeds and is named, with the reason, in the index
    by = {(r["table"], r["row"], r["column"]): r for r in csv_rows(root)}
    assert by[("krona_table4", "A_K ~ KU, B_K=0", "RTE")]["n"] == "3"
    assert "seeds 3/4" in by[("krona_table4", "A_K ~ KU, B_K=0", "RTE")]["flags"]


def test_index_lists_every_record_and_every_excluded_file(world: dict[str, Any]) -> None:
    root, extra = world["root"], world["extra"]
    index = (root / "README.md").read_text()
    for seeds in world["own"].values():
        for path, _ in seeds.values():
            assert f"| `{path}` |" in index
    for key in ("deviating", "ambiguous", "no_cell"):
        assert f"| `{extra[key]}` |" in index
    assert f"- `{extra['truncated']}`: truncated JSON" in index
    assert "- `junk/latin1.json`: not UTF-8" in index
    assert "- `junk/foreign.json`: foreign: no schema_version" in index
    assert "- `junk/future.json`: foreign schema: schema_version 99" in index
    assert "- `junk/failed.json`: status failed" in index


def test_render_is_deterministic(world: dict[str, Any], tmp_path: Path) -> None:
    """Rendering the same files again gives identical tables and index."""
    again = tables.render_all(world["root"], SPECS, tmp_path / "tables", plots=False)
    for path in again:
        assert path.read_text() == (world["root"] / path.relative_to(tmp_path)).read_text(), path.name


def test_two_rows_claiming_one_cell_is_reported(tmp_path: Path) -> None:
    write(tmp_path, record("krona_table6_nonlinearity", {"model": "t5-base", "method.activation": "relu"}, 0))
    spec = {"preset": "krona_table6_nonlinearity", "cell": {"model": "t5-base"}, "expected_seeds": 1,
            "rows": [{"label": "a", "cell": {"method.activation": "relu"}},
                     {"label": "b", "cell": {"method.activation": "relu"}}],
            "columns": [{"label": "QNLI"}]}  # fmt: skip
    table = tables.build_table("dup", spec, tables.load_records(tmp_path), tmp_path)
    assert [why.split(":")[0] for _, why in table.unmatched] == ["matches 2 cells (spec error)"]


def test_a_cell_must_pin_every_axis_of_its_preset(tmp_path: Path) -> None:
    spec = {"preset": "krona_table4_init", "cell": {"model": "t5-base"},
            "rows": [{"label": "KU", "cell": {"method.init": "ku_zero"}}],
            "columns": [{"label": "RTE"}]}  # fmt: skip
    with pytest.raises(SpecError, match=r"missing \['experiment/part/cell'\]"):
        tables.build_table("bad", spec, tables.Records(), tmp_path)


def test_unknown_spec_keys_are_refused(tmp_path: Path) -> None:
    spec = {"preset": "krona_table6_nonlinearity", "cell": {"model": "t5-base"},
            "rows": [{"label": "ReLU", "cel": {"method.activation": "relu"}}], "columns": [{"label": "QNLI"}]}  # fmt: skip
    with pytest.raises(SpecError, match="row 'ReLU' key 'cel'"):
        tables.build_table("typo", spec, tables.Records(), tmp_path)


def krona_record(shape: list[int], seed: int, run: str, score_: float) -> dict[str, Any]:
    return {"_path": f"{run}/seed{seed}.json", "seed": seed, "method": "krona", "identity": {"run_hash": run},
            "config": {"method": {"factor_shape": shape}}, "metrics": {"score": score_}}  # fmt: skip


def test_factor_shape_bars_pool_only_one_configuration() -> None:
    """Four configurations of (32, 24) at one seed are four bars of n=1, never one bar 'n=4'; one configuration
    over four seeds is one bar of n=4."""
    from kronbench.tables.plots import shape_bars

    one_seed = [krona_record([32, 24], 0, f"h{i}", 80.0 + i) for i in range(4)]
    four_seeds = [krona_record([2, 384], s, "g", 70.0 + s) for s in (0, 1, 2, 3)]
    bars = shape_bars(one_seed + four_seeds)
    assert [(b.shape, b.n) for b in bars] == [("(2, 384)", 4)] + [("(32, 24)", 1)] * 4
    assert [b.label for b in bars[1:]] == [f"(32, 24)\n#h{i}" for i in range(4)]


def test_a_copied_seed_is_not_counted_twice_nor_silently_dropped(tmp_path: Path) -> None:
    cell = {"model": "t5-base", "method.activation": "relu"}
    for seed in (0, 42):
        write(tmp_path, record("krona_table6_nonlinearity", cell, seed))
    copy = tmp_path / "copy" / "seed0.json"
    copy.parent.mkdir()
    copy.write_text((tmp_path / write(tmp_path, record("krona_table6_nonlinearity", cell, 0))).read_text())
    spec = {"preset": "krona_table6_nonlinearity", "cell": {"model": "t5-base"},
            "rows": [{"label": "ReLU", "cell": {"method.activation": "relu"}}], "columns": [{"label": "QNLI"}]}  # fmt: skip
    got = tables.build_table("copy", spec, tables.load_records(tmp_path), tmp_path).cells["ReLU"]["QNLI"]
    assert got.n == 0 and len(got.ambiguous) == 2
    assert "copy/seed0.json" in " ".join(p for g in got.ambiguous for p in g.paths)


def test_excluded_files_are_named_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.json").write_bytes(b"\xff\xfe{}")
    (tmp_path / "b.json").write_text('{"schema_version": 2, "status": "comp')
    (tmp_path / "c.json").write_text("[1, 2]")
    tables.render_all(tmp_path, tmp_path / "no-specs", tmp_path / "tables", plots=False)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "excluded: a.json: not UTF-8 (invalid start byte at byte 0)",
        "excluded: b.json: truncated JSON (Unterminated string starting at; line 1 column 33)",
        "excluded: c.json: foreign: JSON list, not a run record",
    ]


def test_a_spec_asking_for_deviations_shows_exactly_those_runs(tmp_path: Path) -> None:
    """A local short-schedule table names its deviations: it shows those runs, and the protocol runs go to its
    footer (and the other way round for the protocol table)."""
    cell = {"model": "t5-base", "method.activation": "relu"}
    for seed in (0, 42):
        write(tmp_path, record("krona_table6_nonlinearity", cell, seed))
        write(tmp_path, record("krona_table6_nonlinearity", cell, seed, "short", ("train.epochs=10",)))
    records = tables.load_records(tmp_path)
    spec = {"preset": "krona_table6_nonlinearity", "cell": {"model": "t5-base"}, "expected_seeds": 2,
            "rows": [{"label": "ReLU", "cell": {"method.activation": "relu"}}], "columns": [{"label": "QNLI"}]}  # fmt: skip
    protocol = tables.build_table("p", spec, records, tmp_path).cells["ReLU"]["QNLI"]
    short = tables.build_table("s", {**spec, "deviations": ["train.epochs=10"]}, records, tmp_path)
    short_cell = short.cells["ReLU"]["QNLI"]
    cid = cell_id("krona_table6_nonlinearity", cell)
    assert protocol.scores == {s: score(cid, s) for s in (0, 42)}
    assert short_cell.scores == {s: score(cid, s, "short") for s in (0, 42)}
    assert [g.deviations for g in protocol.others] == [("train.epochs=10",)] and [
        g.deviations for g in short_cell.others
    ] == [()]
