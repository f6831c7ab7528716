"""Fine-tuning methods. Importing this package registers every method (and its Hydra schema)."""

from kronbench.methods import (  # noqa: F401  (the Kronecker family and the papers' baselines)
    adakron,
    adamix,
    adapters,
    bitfit,
    cdka,
    compacter,
    dylora,
    full,
    krona,
    krona_block,
    peft_methods,
    unipelt,
)
from kronbench.methods.base import MergeableLayer, Method

__all__ = ["Method", "MergeableLayer"]
