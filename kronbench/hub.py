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
    """Why a hub load failed, in words: script-only repository, offline, unknown revision, missing config or
    split, repository or files not found; else the error itself."""
    text = f"{type(err).__name__}: {err}"
    low = text.lower()
    chain = _chain(err)
    names = {type(e).__name__ for e in chain}
    if "dataset scripts are no longer supported" in low:
        return f"script-only repository: datasets>=4 refuses its loading script ({text})"
    if (
        any(isinstance(e, ConnectionError) for e in chain)
        or names & {"OfflineModeIsEnabled", "ConnectError", "TimeoutException", "LocalEntryNotFoundError"}
        or "couldn't connect" in low
        or "offline mode" in low
    ):
        return f"hub unreachable or offline mode (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) ({text})"
    if "RevisionNotFoundError" in names or "not a valid git identifier" in low:
        return f"unknown revision ({text})"
    if "builderconfig" in low or "config name is missing" in low:
        return f"missing config ({text})"
    if isinstance(err, KeyError):
        return f"missing split ({text})"
    if names & {"RepositoryNotFoundError", "DatasetNotFoundError"}:
        return f"repository not found ({text})"
    if any(isinstance(e, FileNotFoundError) for e in chain) or "EntryNotFoundError" in names:
        return f"files not found at that revision ({text})"
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
