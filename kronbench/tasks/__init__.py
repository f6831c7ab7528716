"""Tasks: loading (hub or local), split protocols, preprocessing and evaluation per task type."""

from kronbench.tasks import (  # noqa: F401  (registers task types)
    classification,
    generation,
    multiple_choice,
    record,
    squad,
)
from kronbench.tasks.base import Task, build_task

__all__ = ["Task", "build_task"]
