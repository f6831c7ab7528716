"""Hub sources: pinned revisions, and one clear error when a dataset or model cannot be read from the hub.

A source is *pinned* when its revision is a full 40-hex commit hash. A source that no stored public page gave a
hash for says so: `revision: null` with `unpinned_reason`, and the run record's `data.source` says "unpinned".
See docs/SOURCES.md for where each hash was read.
"""

from __future__ import annotations

import re

# the branch the hub's parquet converter writes for every dataset it could convert, script-era ones included
PARQUET_EXPORT_BRANCH = "refs/convert/parquet"

_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")


class HubLoadError(FileNotFoundError):
    """A hub repository could not be read; the message names it, the revision, why, and the local alternative."""


def is_commit_hash(revision: str | None) -> bool:
    return bool(revision) and _COMMIT_HASH.fullmatch(revision) is not None  # type: ignore[arg-type]


def revision_label(revision: str | None, unpinned_reason: str | None, default: str = "main") -> str:
    """`<hash>`, or `<branch> (unpinned: <reason>)` for a source without a commit hash."""
    if is_commit_hash(revision):
        return revision  # type: ignore[return-value]
    return f"{revision or default} (unpinned: {unpinned_reason or 'no commit hash configured'})"


def failure_reason(err: BaseException) -> str:
    """Why a hub load failed, in words: offline, script-only repository, missing config/split/file, or other."""
    text = f"{type(err).__name__}: {err}"
    names = {type(e).__name__ for e in _chain(err)}
    if "Dataset scripts are no longer supported" in text:
        return f"script-only repository: datasets>=4 cannot run its loading script ({text})"
    if names & {"OfflineModeIsEnabled", "ConnectionError", "ConnectError", "TimeoutException", "LocalEntryNotFoundError"}:
        return f"hub unreachable or offline mode (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) ({text})"
    if "couldn't connect" in text.lower() or "offline" in text.lower():
        return f"hub unreachable or offline mode (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) ({text})"
    if "BuilderConfig" in text or "config name" in text.lower() or "Available configs" in text:
        return f"missing config ({text})"
    if names & {"RevisionNotFoundError"} or "revision" in text.lower():
        return f"unknown revision ({text})"
    if names & {"DatasetNotFoundError", "RepositoryNotFoundError", "EntryNotFoundError", "FileNotFoundError"}:
        return f"repository, file or data files not found ({text})"
    return text


def hub_error(what: str, repo: str, revision: str, err: BaseException, alternative: str) -> HubLoadError:
    """The one error for a failed hub load: repository, revision, reason and the exact local-data alternative."""
    return HubLoadError(
        f"{what}: could not load hub repository {repo!r} at revision {revision}: {failure_reason(err)}. "
        f"Without the hub: {alternative}"
    )


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
