"""Tasks: loading (hub or local), split protocols, preprocessing and evaluation per task type."""

from kronbench.tasks import classification  # noqa: F401  (registers task types)
from kronbench.tasks.base import Task, build_task

__all__ = ["Task", "build_task"]
