"""Table cells: the runs a selector picks, grouped by configuration, and their statistics.

Within a cell, records group by configuration (`identity.run_hash`; the variant folder for schema-1 records) and
seeds count per group. The group whose deviations are exactly the ones the spec asks for (none by default) is the
cell's value; other groups are listed as "same cell, other configuration"; two or more eligible groups leave the
cell empty and are listed (never pick one).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kronbench.metrics import METRICS
from kronbench.tables.paper import PaperValue
from kronbench.tables.records import Records
from kronbench.tables.spec import Selector, config_key, record_deviations

P_VALUE = 0.05


def dig(data: Any, dotted: str) -> Any:
    """`dig(record, "timing.train_seconds")`; None when a key is missing."""
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def record_score(record: dict[str, Any], metric: str | None, value: str | None = None) -> float | None:
    """The record's score on `metric` (the reported split), its main score when metric is None, or the number at
    the dotted path `value` (e.g. `timing.train_seconds`)."""
    metrics = record.get("metrics") or {}
    if value is not None:
        score = dig(record, value)
    elif metric is None:
        score = metrics.get("score")
    else:
        score = ((metrics.get("report") or {}).get("metrics") or {}).get(metric)
    return None if score is None or math.isnan(float(score)) else float(score)


@dataclass
class Group:
    """The records of one configuration in a cell (one per seed)."""

    key: str
    deviations: tuple[str, ...]
    records: list[dict[str, Any]]

    @property
    def paths(self) -> list[str]:
        return [r["_path"] for r in self.records]

    def describe(self) -> str:
        dev = f" deviations {list(self.deviations)}" if self.deviations else ""
        return f"{self.key}{dev}: {', '.join(self.paths)}"


@dataclass
class Cell:
    """One table cell: per-seed scores of one configuration, and what was left out (with paths)."""

    scores: dict[int, float] = field(default_factory=dict)
    expected: int = 4
    group: Group | None = None
    others: list[Group] = field(default_factory=list)  # same cell, other configuration
    ambiguous: list[Group] = field(default_factory=list)  # several eligible configurations: no number
    selectors: list[Selector] = field(default_factory=list)
    paper: PaperValue | None = None
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
        if self.mean is None or self.paper is None or self.paper.value is None:
            return None
        return self.mean - self.paper.value

    @property
    def flags(self) -> list[str]:
        out = []
        if 0 < self.n < self.expected:
            out.append(f"seeds {self.n}/{self.expected}")
        if self.ambiguous:
            out.append(f"{len(self.ambiguous)} configurations, none chosen")
        if self.others:
            out.append(f"{len(self.others)} other configuration(s) listed below")
        return out


def groups_of(records: list[dict[str, Any]]) -> list[Group]:
    """Records grouped by configuration, sorted by key, each group's records by seed. A seed present twice in one
    configuration (e.g. a copied record) puts the later copies in a group of their own (`<key> duplicate`): the
    cell then has two eligible groups and shows neither, listing both."""
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r["_path"]):
        key = config_key(rec)
        while any(r.get("seed") == rec.get("seed") for r in by_key[key]):
            key += " duplicate"
        by_key[key].append(rec)
    return [
        Group(
            key, record_deviations(recs[0]), sorted(recs, key=lambda r: (int(r.get("seed", 0)), r["_path"]))
        )
        for key, recs in sorted(by_key.items())
    ]


def build_cell(
    selector: Selector, records: Records, metric: str | None, expected: int, value: str | None = None
) -> Cell:
    """The cell of one selector over the completed records."""
    cell = Cell(expected=expected, selectors=[selector])
    groups = groups_of([r for r in records.lookup(selector.index_keys()) if selector.in_cell(r)])
    eligible = [g for g in groups if selector.eligible(g.deviations)]
    cell.others = [g for g in groups if not selector.eligible(g.deviations)]
    if len(eligible) > 1:
        cell.ambiguous = eligible
    elif eligible:
        cell.group = eligible[0]
        for rec in cell.group.records:
            score = record_score(rec, metric, value)
            if score is not None:
                cell.scores[int(rec["seed"])] = score
    return cell


def average_cell(cells: list[Cell], expected: int) -> Cell:
    """Per seed, the mean over `cells` where that seed exists in every one (empty if any cell is empty)."""
    out = Cell(expected=expected, selectors=[s for c in cells for s in c.selectors])
    out.others = [g for c in cells for g in c.others]
    out.ambiguous = [g for c in cells for g in c.ambiguous]
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
