"""Read every file under the results folder once and account for each: a run record, a bench record, or an
excluded file with the reason (unreadable, not UTF-8, truncated JSON, foreign schema, failed run)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_SCHEMAS = (1, 2)  # kronbench run records: 1 before records carried their experiment cell, 2 with it
BENCH_SCHEMAS = (1, 2)
SKIP_DIRS = ("tables",)  # our own output
TRAINER_RUN_KIND = "trainer_run"  # one run of `make bench-trainer`, beside the summaries (kind "trainer")


@dataclass(frozen=True)
class Excluded:
    """A file under the results folder that no table uses, and why."""

    path: str  # relative to the results root, POSIX
    reason: str


@dataclass
class Records:
    """Everything `make tables` read: completed run records, bench records and every excluded file.

    Each record dict carries `_path` (relative to the results root). `failed` holds failed run records (they are
    listed in `excluded` as well, with the reason).
    """

    completed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    bench: list[dict[str, Any]] = field(default_factory=list)
    trainer_bench: list[dict[str, Any]] = field(default_factory=list)  # `make bench-trainer` (kind "trainer")
    # the runs those summarise (kind "trainer_run")
    trainer_runs: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    _index: dict[tuple[str, ...], list[dict[str, Any]]] | None = field(default=None, repr=False)

    def lookup(self, keys: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        """Completed records under any of `keys` (`kronbench.tables.spec.record_keys`), in path order."""
        if self._index is None:
            from kronbench.tables.spec import record_keys

            self._index = {}
            for rec in self.completed:
                for key in record_keys(rec):
                    self._index.setdefault(key, []).append(rec)
        return sorted(
            {id(r): r for k in keys for r in self._index.get(k, [])}.values(), key=lambda r: r["_path"]
        )


def read_json(path: Path) -> tuple[Any, str | None]:
    """(data, None) or (None, reason): never raises for a file that exists."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 ({err.reason} at byte {err.start})"
    if not text.strip():
        return None, "empty file"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        stripped = text.rstrip()
        truncated = (
            err.pos >= len(stripped)
            or err.msg.startswith("Unterminated string")
            or stripped.count("{") + stripped.count("[") > stripped.count("}") + stripped.count("]")
        )
        what = "truncated JSON" if truncated else "invalid JSON"
        return None, f"{what} ({err.msg}; line {err.lineno} column {err.colno})"


def run_record_problem(data: Any) -> str | None:
    """Why `data` is not a usable kronbench run record (None when it is one)."""
    if not isinstance(data, dict):
        return f"foreign: JSON {type(data).__name__}, not a run record"
    version = data.get("schema_version")
    if version is None:
        return "foreign: no schema_version (not a kronbench run record)"
    if version not in RUN_SCHEMAS:
        return f"foreign schema: schema_version {version!r} (known: {', '.join(map(str, RUN_SCHEMAS))})"
    missing = [k for k in ("status", "task", "model", "method", "seed") if k not in data]
    if missing:
        return f"foreign: no {', '.join(missing)}"
    return None


TRAINER_BENCH_SCHEMAS = (1,)


def trainer_bench_problem(data: dict[str, Any]) -> str | None:
    """Why a `make bench-trainer` record (kind "trainer") is not usable (None when it is)."""
    if data.get("schema_version") not in TRAINER_BENCH_SCHEMAS:
        return f"foreign schema: trainer bench schema_version {data.get('schema_version')!r}"
    missing = [k for k in ("scenario", "method", "mode", "steady_step_ms") if k not in data]
    return f"foreign: trainer bench record without {', '.join(missing)}" if missing else None


def trainer_run_problem(data: dict[str, Any]) -> str | None:
    """Why one run of `make bench-trainer` (kind "trainer_run") is not usable (None when it is)."""
    if data.get("schema_version") not in TRAINER_BENCH_SCHEMAS:
        return f"foreign schema: trainer bench run schema_version {data.get('schema_version')!r}"
    missing = [k for k in ("scenario", "method", "mode", "round", "timing") if k not in data]
    return f"foreign: trainer bench run record without {', '.join(missing)}" if missing else None


def summaries_without_their_runs(out: Records) -> None:
    """Exclude a trainer-bench summary that names a run record (`runs`) the results folder does not hold: its
    numbers would come from runs nobody can check."""
    present = {r["_path"] for r in out.trainer_runs}
    kept = []
    for summary in out.trainer_bench:
        folder = summary["_path"].rsplit("/", 1)[0]
        missing = [run for run in summary.get("runs") or [] if f"{folder}/{run}" not in present]
        if missing:
            out.excluded.append(
                Excluded(
                    summary["_path"],
                    f"names run records it comes from that are missing: {', '.join(missing)}",
                )
            )
        else:
            kept.append(summary)
    out.trainer_bench = kept


def bench_record_problem(data: Any) -> str | None:
    """Why `data` is not a usable bench record (None when it is one)."""
    if not isinstance(data, dict):
        return f"foreign: JSON {type(data).__name__}, not a bench record"
    if data.get("schema") not in BENCH_SCHEMAS:
        return f"foreign schema: bench schema {data.get('schema')!r} (known: {', '.join(map(str, BENCH_SCHEMAS))})"
    if data.get("kind") not in ("train", "infer") or not data.get("method"):
        return "foreign: no bench kind/method"
    return None


def load_records(root: Path) -> Records:
    """Every `*.json` under `root` (except `tables/` and hidden files), sorted by path, read once, accounted for."""
    out = Records()
    if not root.is_dir():
        return out
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS or any(p.startswith(".") for p in rel.parts):
            continue
        name = rel.as_posix()
        data, reason = read_json(path)
        if reason is None and rel.parts[0] == "bench":
            reason = add_bench(out, data, name)
        elif reason is None:
            reason = add_run(out, data, name)
        if reason is not None:
            out.excluded.append(Excluded(name, reason))
    summaries_without_their_runs(out)
    return out


def add_bench(out: Records, data: Any, name: str) -> str | None:
    """Add the bench record(s) of one file (a record or a list of them); the reason when it holds none."""
    if isinstance(data, dict) and data.get("kind") == "trainer":
        reason = trainer_bench_problem(data)
        if reason is None:
            out.trainer_bench.append({**data, "_path": name})
        return reason
    if isinstance(data, dict) and data.get("kind") == TRAINER_RUN_KIND:
        reason = trainer_run_problem(data)
        if reason is None:
            out.trainer_runs.append({**data, "_path": name})
        return reason
    items = data if isinstance(data, list) else [data]
    reason = next((p for p in map(bench_record_problem, items) if p), None)
    if reason is None:
        out.bench += [{**d, "_path": name} for d in items]
    return reason


def add_run(out: Records, data: Any, name: str) -> str | None:
    """Add one run record: completed ones are table input; failed ones are kept and excluded with the reason."""
    reason = run_record_problem(data)
    if reason is not None:
        return reason
    record = {**data, "_path": name}
    if data["status"] == "completed" and not name.endswith(".failed.json"):
        out.completed.append(record)
        return None
    out.failed.append(record)
    message = str((data.get("error") or {}).get("message") or "").splitlines()
    return f"status {data['status']}" + (f": {message[0][:160]}" if message else "")


def report_excluded(records: Records, stream: Any = None) -> None:
    """One stderr line per excluded file: `excluded: <path>: <reason>`."""
    stream = stream or sys.stderr
    for item in records.excluded:
        print(f"excluded: {item.path}: {item.reason}", file=stream)
