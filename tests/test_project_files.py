"""Project files say what they are: none is named for, or mentions, a tracker issue number."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

TRACKER = re.compile(r"\bissues?[ _#-]?\d", re.IGNORECASE)
SCANNED = (
    "kronbench",
    "conf",
    "scripts",
    "docs",
    "tests",
    "README.md",
    "Makefile",
    "pyproject.toml",
    "setup.py",
)


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", *SCANNED], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_no_file_is_named_for_an_issue_number() -> None:
    assert [f for f in tracked_files() if TRACKER.search(f.rsplit("/", 1)[-1])] == []


def test_no_file_mentions_an_issue_number() -> None:
    hits = []
    for name in tracked_files():
        path = REPO / name
        if path.suffix in (".py", ".yaml", ".sh", ".md", ".toml", "") and path.is_file():
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if TRACKER.search(line):
                    hits.append(f"{name}:{n}: {line.strip()}")
    assert hits == []


def test_gpu_job_files_write_the_committed_records_explicitly() -> None:
    jobs = [REPO / f for f in tracked_files() if f.startswith("scripts/gpu/") and f.endswith(".sh")]
    assert jobs
    for job in jobs:
        for line in job.read_text().replace("\\\n", " ").splitlines():  # continuation lines joined
            if re.match(r"(python|\$PY) -m kronbench(\.sweep)?( |$)", line):
                assert "output_dir=results" in line, f"{job.name}: {line}"
