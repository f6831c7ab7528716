"""Where kronbench's files are: the Hydra configs and the checkout root, from a checkout or an installed wheel.

From a checkout (source tree or editable install) the configs are the repository's `conf/`, so edits there take
effect at once; an installed wheel carries the same files as `kronbench/conf/` (pyproject's package-dir mapping).
Every module that composes configs or reads `conf/` takes the folder from here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def checkout_root(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The repository root when `package_dir` sits in a kronbench checkout (pyproject.toml beside conf/), else None."""
    root = package_dir.parent
    if (root / "pyproject.toml").is_file() and (root / "conf" / "config.yaml").is_file():
        return root
    return None


def conf_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """The config folder: the checkout's `conf/`, else the copy shipped inside the package."""
    root = checkout_root(package_dir)
    conf = root / "conf" if root else package_dir / "conf"
    if not (conf / "config.yaml").is_file():
        raise FileNotFoundError(f"kronbench configs not found at {conf} (a broken install?)")
    return conf


def project_dir() -> Path:
    """The folder relative output paths of the tools (tables, bench) resolve against: the checkout, else cwd."""
    return REPO or Path.cwd()


REPO: Path | None = checkout_root()
CONF_DIR: Path = conf_dir()
