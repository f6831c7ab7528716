"""Fine-tuning methods. Importing this package registers every method (and its Hydra schema)."""

from kronbench.methods import bitfit, full, krona, peft_methods  # noqa: F401
from kronbench.methods.base import Method, MergeableLayer

__all__ = ["Method", "MergeableLayer"]
