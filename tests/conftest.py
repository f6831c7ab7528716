"""Shared test fixtures: paths to ../shared, in-process Hydra composition, tiny models of each family."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from kronbench import methods as _methods  # noqa: F401  (registers method schemas)
from kronbench.config import register_schemas
from kronbench.paths import CONF_DIR

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KRONBENCH_SHARED", REPO.parent / "shared")).resolve()
DATA_DIR = SHARED / "data"
TOKENIZERS = SHARED / "models" / "tokenizers"
MINILM_FP16 = SHARED / "models" / "all-MiniLM-L6-v2-fp16"

# sections every run record has (kronbench/results.py, DESIGN.md §2)
RECORD_SECTIONS = (
    "config",
    "overrides",
    "seed",
    "metrics",
    "params",
    "timing",
    "memory",
    "data",
    "env",
    "status",
)

os.environ.setdefault("KRONBENCH_SHARED", str(SHARED))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
register_schemas()

needs_shared = pytest.mark.skipif(not DATA_DIR.exists(), reason=f"shared data not found at {DATA_DIR}")


def compose_config(*overrides: str) -> DictConfig:
    """Compose `conf/config.yaml` with overrides, exactly as `python -m kronbench` would."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def compose_cfg():
    return compose_config
