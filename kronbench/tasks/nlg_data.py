"""Data-to-text loaders: the official E2E csv, WebNLG 2017 xml and DART json/xml files, or their hub versions.

Every loader returns, per split, one row per *input* with columns `source` (the linearised input), `references`
(all its human texts: training uses each as a target, evaluation scores against all of them), `category`, and
for WebNLG `seen` (category present in the training data: the seen / unseen / all breakdown).

Linearisation, as the LoRA / AdaMix GPT-2 data (from Li & Liang's prefix-tuning preprocessing):
- E2E: `name[The Vaults], eatType[pub]` -> `name : The Vaults | eatType : pub` (attribute names kept as written);
- WebNLG / DART: triples `s | r | o` -> `s : r : o`, joined with ` | `; underscores in WebNLG entity names
  become spaces (`Aarhus_Airport` -> `Aarhus Airport`), as in the lexicalisations.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path

from datasets import Dataset

from kronbench.config import TaskConfig
from kronbench.tasks.data import wanted_splits
from kronbench.tasks.hub_source import load_hub_splits

Row = dict[str, object]
_E2E_SLOT = re.compile(r"\s*([^\[\],]+?)\s*\[(.*?)\]\s*,?")


def linearise_e2e(mr: str) -> str:
    """`name[The Vaults], eatType[pub]` -> `name : The Vaults | eatType : pub`."""
    return " | ".join(f"{k} : {v}" for k, v in _E2E_SLOT.findall(mr))


def linearise_triples(triples: Iterable[tuple[str, str, str] | list[str]]) -> str:
    """`[(s, r, o), ...]` -> `s : r : o | ...` (underscores of entity names as spaces, quotes stripped)."""
    parts = []
    for s, r, o in triples:
        s, o = (x.replace("_", " ").strip().strip('"') for x in (s, o))
        parts.append(f"{s} : {r.strip()} : {o}")
    return " | ".join(parts)


def split_triple(text: str) -> tuple[str, str, str]:
    s, r, o = (x.strip() for x in text.split(" | ", 2))
    return s, r, o


def group_rows(pairs: Iterable[tuple[str, str, str]]) -> list[Row]:
    """(source, reference, category) pairs -> one row per source, references in file order."""
    rows: dict[str, Row] = {}
    for source, ref, category in pairs:
        row = rows.setdefault(source, {"source": source, "references": [], "category": category})
        if ref:
            row["references"].append(ref)  # type: ignore[union-attr]
    return list(rows.values())


# ---------------------------------------------------------------------------------------------------------- E2E
E2E_FILES = {"train": "trainset.csv", "validation": "devset.csv", "test": "testset_w_refs.csv"}


def e2e_local(folder: Path, split: str) -> list[Row]:
    with open(folder / E2E_FILES[split], newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return group_rows((linearise_e2e(r["mr"]), r["ref"].strip(), "restaurant") for r in reader)


def e2e_hub(ds: Dataset, split: str) -> list[Row]:
    return group_rows(
        (linearise_e2e(r["meaning_representation"]), r["human_reference"].strip(), "restaurant") for r in ds
    )


# ------------------------------------------------------------------------------------------------- WebNLG / DART
def xml_entries(path: Path) -> list[Row]:
    """Entries of a WebNLG-format xml file (WebNLG 2017, DART test): modified triples and lexicalisations."""
    rows = []
    for entry in ET.parse(path).getroot().iter("entry"):
        triples = [split_triple(t.text or "") for t in entry.iter("mtriple")]
        refs = [(lex.text or "").strip() for lex in entry.iter("lex")]
        rows.append(
            {
                "source": linearise_triples(triples),
                "references": [r for r in refs if r],
                "category": entry.get("category", ""),
            }
        )
    return rows


WEBNLG_DIRS = {"train": "train", "validation": "dev"}
WEBNLG_TEST = "test/testdata_with_lex.xml"


def webnlg_local(folder: Path, split: str) -> list[Row]:
    if split == "test":
        return xml_entries(folder / WEBNLG_TEST)
    files = sorted((folder / WEBNLG_DIRS[split]).glob("*triples/*.xml"))
    if not files:
        raise FileNotFoundError(f"no WebNLG xml files under {folder / WEBNLG_DIRS[split]}/*triples/")
    return [row for path in files for row in xml_entries(path)]


# the hub's webnlg_challenge_2017 test split holds every 2017 test file, told apart by `test_category`; the
# official with-references file (seen + unseen, 1862 entries) is the one the local loader reads
WEBNLG_HUB_TEST_CATEGORY = "testdata_with_lex"


def webnlg_hub(ds: Dataset, split: str) -> list[Row]:
    if split == "test" and "test_category" in ds.column_names:
        ds = ds.filter(lambda r: r["test_category"] == WEBNLG_HUB_TEST_CATEGORY)
    return [
        {
            "source": linearise_triples(split_triple(t) for t in r["modified_triple_sets"]["mtriple_set"][0]),
            "references": [t.strip() for t in r["lex"]["text"] if t.strip()],
            "category": r["category"],
        }
        for r in ds
    ]


DART_FILES = {
    "train": "dart-v1.1.1-full-train",
    "validation": "dart-v1.1.1-full-dev",
    "test": "dart-v1.1.1-full-test",
}


def dart_json_rows(records: list[dict]) -> list[Row]:
    return [
        {
            "source": linearise_triples(r["tripleset"]),
            "references": [a["text"].strip() for a in r["annotations"] if a["text"].strip()],
            "category": "",
        }
        for r in records
    ]


def dart_local(folder: Path, split: str) -> list[Row]:
    stem = folder / DART_FILES[split]
    as_json, as_xml = Path(f"{stem}.json"), Path(f"{stem}.xml")  # not with_suffix: "v1.1.1" has dots
    if as_json.exists():
        return dart_json_rows(json.loads(as_json.read_text(encoding="utf-8")))
    if as_xml.exists():
        return [{**r, "category": ""} for r in xml_entries(as_xml)]
    raise FileNotFoundError(f"DART {split}: neither {as_json} nor {as_xml} exists")


def dart_hub(ds: Dataset, split: str) -> list[Row]:
    return [
        {
            "source": linearise_triples(r["tripleset"]),
            "references": [t.strip() for t in r["annotations"]["text"] if t.strip()],
            "category": "",
        }
        for r in ds
    ]


LOADERS: dict[str, tuple[Callable[[Path, str], list[Row]], Callable[[Dataset, str], list[Row]]]] = {
    "e2e": (e2e_local, e2e_hub),
    "webnlg": (webnlg_local, webnlg_hub),
    "dart": (dart_local, dart_hub),
}
# the official files each local loader reads, relative to <data_dir>/<task.local_dir>
LOCAL_LAYOUTS = {
    "e2e": ", ".join(E2E_FILES.values()),
    "webnlg": f"{{{','.join(WEBNLG_DIRS.values())}}}/*triples/*.xml and {WEBNLG_TEST}",
    "dart": ", ".join(f"{stem}.json (or .xml)" for stem in DART_FILES.values()),
}


def raw_files_alternative(cfg: TaskConfig) -> str:
    """The local-data layout that replaces the hub for a raw-file task."""
    return (
        f"set data_dir=<folder> holding the official files in <folder>/{cfg.local_dir or cfg.name}/: "
        f"{LOCAL_LAYOUTS[cfg.loader]}"  # type: ignore[index]
    )


def load_nlg_splits(cfg: TaskConfig, data_dir: str | None) -> tuple[dict[str, Dataset], str]:
    """The task's splits (rows: source, references, category[, seen]) and where they came from."""
    if cfg.loader not in LOADERS:
        raise ValueError(f"task.loader={cfg.loader!r} is unknown; known: {sorted(LOADERS)}")
    local, hub = LOADERS[cfg.loader]
    if data_dir:
        folder = Path(data_dir).expanduser() / (cfg.local_dir or cfg.name)
        if not folder.exists():
            raise FileNotFoundError(
                f"task {cfg.name!r}: missing local folder {folder} (data_dir={data_dir!r}) with the official "
                f"{cfg.loader} files; or unset data_dir to load {cfg.hub_path!r} from the hub"
            )
        rows = {split: local(folder, split) for split in wanted_splits(cfg)}
        source = f"local:{folder.resolve()}"
    else:
        hub_splits, source = load_hub_splits(cfg, wanted_splits(cfg), raw_files_alternative(cfg))
        rows = {split: hub(ds, split) for split, ds in hub_splits.items()}
    if (
        cfg.loader == "webnlg"
    ):  # seen = the category occurs in training data (WebNLG 2017's seen/unseen split)
        seen = {r["category"] for r in rows[cfg.train_split]}
        for split_rows in rows.values():
            for r in split_rows:
                r["seen"] = r["category"] in seen
    return {split: Dataset.from_list(r) for split, r in rows.items()}, source
