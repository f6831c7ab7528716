"""Fine-tuning methods. Importing this package registers every method (and its Hydra schema)."""

from kronbench.methods import adakron, bitfit, cdka, full, krona, krona_block, peft_methods  # noqa: F401  # noqa: F401  (issue 3: the Kronecker family)
from kronbench.methods.base import MergeableLayer, Method

__all__ = ["Method", "MergeableLayer"]
