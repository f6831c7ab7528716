"""The run record: one JSON file per run, written atomically, the input of `make tables`.

Path: `<output_dir>/<task>/<model>/<method>/<variant>/seed<seed>.json`. A run whose successful record exists is
skipped unless `force=true`. A crashed run writes a `failed` record — beside a successful one, never over it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from kronbench.paths import CONF_DIR, PACKAGE_DIR

SCHEMA_VERSION = 2  # 2: records carry `experiment` (preset cell) and `identity` (data fingerprint, hash)
PACKAGES = ("torch", "transformers", "datasets", "accelerate", "peft", "hydra-core", "omegaconf", "kronbench")


def record_path(output_dir: str | Path, task: str, model: str, method: str, variant: str, seed: int) -> Path:
    return Path(output_dir) / task / model / method / variant / f"seed{seed}.json"


def failed_path(path: Path) -> Path:
    return path.with_name(path.stem + ".failed.json")


class UnreadableRecord(ValueError):
    """A record file exists but cannot be read as a run record; it is reported by path and never overwritten
    silently (`force=true` replaces it)."""


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at `path`; None when there is none; UnreadableRecord (naming the file and why) otherwise."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as err:
        raise UnreadableRecord(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise UnreadableRecord(f"{path}: cannot be read ({err.strerror})") from err
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise UnreadableRecord(
            f"{path}: not valid JSON, truncated? ({err.msg} at line {err.lineno})"
        ) from err
    if not isinstance(record, dict) or "status" not in record:
        raise UnreadableRecord(f"{path}: JSON but not a run record (no 'status')")
    return record


def load_record(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None when it is missing or unreadable (see :func:`read_record` for why)."""
    try:
        return read_record(path)
    except UnreadableRecord:
        return None


def record_state(path: Path) -> tuple[str, str]:
    """(state, reason) of a run's record: done, failed, pending (no record yet, or running) or unreadable."""
    try:
        record = read_record(path)
    except UnreadableRecord as err:
        return "unreadable", str(err)
    if record is not None and record.get("status") == "completed":
        return "done", ""
    failed = (
        record if record is not None and record.get("status") == "failed" else load_record(failed_path(path))
    )
    if failed is not None:
        message = str((failed.get("error") or {}).get("message") or "")
        return "failed", message.splitlines()[0] if message else ""
    return "pending", ""


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600: records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_record(path: Path, record: dict[str, Any]) -> Path:
    """Write a record; a failed run never replaces a completed or unreadable one (it goes to `seedN.failed.json`)."""
    if record.get("status") != "completed" and record_state(path)[0] in ("done", "unreadable"):
        path = failed_path(path)
    write_json_atomic(path, record)
    if record.get("status") == "completed":
        failed_path(path).unlink(missing_ok=True)
    return path


def git_sha() -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode != 0:
            return None
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 (16 hex digits) of the code and configs that make a run: every `kronbench/**/*.py` and
    `conf/**/*.yaml`, by relative path and content (the same from a checkout and from an installed wheel).

    It names the code a record came from where `git_sha` cannot: a GPU machine may get the working tree with stale
    or no git metadata. Check a record against a commit: check it out, then
    `python -c "from kronbench.results import code_fingerprint as f; print(f())"`.
    """
    return tree_fingerprint(PACKAGE_DIR, CONF_DIR)


def tree_fingerprint(package_dir: Path, conf_dir: Path) -> str:
    """`code_fingerprint` of the modules under `package_dir` and the configs under `conf_dir`."""
    files = {f"kronbench/{p.relative_to(package_dir).as_posix()}": p for p in package_dir.rglob("*.py")}
    files |= {f"conf/{p.relative_to(conf_dir).as_posix()}": p for p in conf_dir.rglob("*.yaml")}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def environment() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": "cuda" if gpu else "cpu",
        "gpu": gpu,
        "cuda": torch.version.cuda if gpu else None,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),  # a sweep worker's GPU
        "git_sha": git_sha(),
        "code_fingerprint": code_fingerprint(),
    }
