"""kronbench: Kronecker-product adapters for parameter-efficient fine-tuning, and the harness that compares them."""

__version__ = "0.1.0"
