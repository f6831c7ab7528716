"""Fine-tuning methods. Importing this package registers every method (and its Hydra schema)."""

from kronbench.methods import (  # noqa: F401  (issue 3: the Kronecker family; issue 5: the papers' baselines)
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
