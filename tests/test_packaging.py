"""kronbench as a package: the wheel carries the configs and runs a job from outside the checkout, the console
commands and Hydra's shell completion work, an editable install reads the checkout's conf/, the configs are found
in one place, dependency floors match the APIs the code uses, and W&B stays optional."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from kronbench import paths
from tests.conftest import DATA_DIR, REPO, SHARED, needs_shared

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SOURCES = ["kronbench", "conf", "pyproject.toml", "setup.py", "README.md"]  # what a build reads
TINY_JOB = [
    "method=krona",
    "task=glue/rte",
    "model=tiny-bert",
    "method.factor_shape=[4,8]",
    f"data_dir={DATA_DIR}",
    "train=demo",
    "train.max_steps=2",
    "train.max_train_samples=16",
    "train.max_eval_samples=16",
    "train.batch_size=8",
    "train.progress_bar=false",
]


def floors() -> dict[str, Version]:
    """Each dependency's lower bound from pyproject.toml."""
    out = {}
    for line in PYPROJECT["project"]["dependencies"]:
        req = Requirement(line)
        lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==")]
        if lows:
            out[req.name] = max(lows)
    return out


def test_dependency_floors_cover_the_apis_the_code_uses() -> None:
    models = (REPO / "kronbench" / "models.py").read_text()
    bench = (REPO / "kronbench" / "bench.py").read_text()
    low = floors()
    if "dtype=dtype" in models:  # from_pretrained / from_config(dtype=...): transformers 4.56
        assert low["transformers"] >= Version("4.56")
    if "recompile_limit" in bench:  # torch._dynamo.config.recompile_limit: torch 2.7
        assert low["torch"] >= Version("2.7")
    assert low["hydra-core"] >= Version("1.3")  # version_base="1.3"


def test_license_is_an_spdx_expression_and_wandb_is_an_extra() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert not any(Requirement(r).name == "wandb" for r in project["dependencies"])
    assert any(Requirement(r).name == "wandb" for r in project["optional-dependencies"]["wandb"])


def test_the_package_imports_and_composes_without_wandb() -> None:
    code = (
        "import sys; sys.modules['wandb'] = None\n"  # `import wandb` now raises ImportError
        "import kronbench.__main__, kronbench.run, kronbench.train, kronbench.sweep, kronbench.tables\n"
        "from kronbench.run import to_run_config\n"
        "from tests.conftest import compose_config\n"
        "to_run_config(compose_config('model=tiny-bert'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_config_folder_is_the_checkout_conf_or_the_packaged_copy(tmp_path: Path) -> None:
    assert paths.CONF_DIR == REPO / "conf" and paths.REPO == REPO
    checkout = tmp_path / "checkout"
    (checkout / "conf").mkdir(parents=True)
    (checkout / "conf" / "config.yaml").write_text("seed: 0\n")
    (checkout / "pyproject.toml").write_text("")
    assert paths.conf_dir(checkout / "kronbench") == checkout / "conf"
    installed = tmp_path / "site-packages" / "kronbench"
    (installed / "conf").mkdir(parents=True)
    (installed / "conf" / "config.yaml").write_text("seed: 0\n")
    assert paths.checkout_root(installed) is None
    assert paths.conf_dir(installed) == installed / "conf"
    with pytest.raises(FileNotFoundError, match="configs not found"):
        paths.conf_dir(tmp_path / "elsewhere" / "kronbench")


def test_only_kronbench_paths_locates_the_config_folder() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in [*(REPO / "kronbench").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
        if p.name not in ("paths.py", "test_packaging.py") and '/ "conf"' in p.read_text()
    ]
    assert offenders == []


def venv_with_project_deps(root: Path) -> Path:
    """A fresh venv (no kronbench) whose imports fall back to this interpreter's site-packages (no network).

    The fallback is a plain path line in a .pth file, so the .pth files of that folder (the project's editable
    kronbench) are not processed: the only kronbench the venv sees is the one installed into it.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin"


def pip_install(bin_dir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--no-deps", "--no-index",
         "--no-build-isolation", *args],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def copy_sources(dest: Path) -> Path:
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def run_cmd(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = os.environ | {
        "KRONBENCH_SHARED": str(SHARED),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    full_env.pop("PYTHONPATH", None)
    full_env.pop("KRONBENCH_RESULTS_DIR", None)
    return subprocess.run(args, cwd=cwd, env=full_env | env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@needs_shared
def test_wheel_installs_into_a_fresh_venv_and_runs_a_job_outside_the_checkout(tmp_path: Path) -> None:
    src = copy_sources(tmp_path / "src")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    assert "warning" not in (build.stdout + build.stderr).lower(), build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("kronbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"kronbench/conf/{p.relative_to(REPO / 'conf').as_posix()}" for p in (REPO / "conf").rglob("*.yaml")
    }
    assert expected <= names and "kronbench/conf/config.yaml" in names

    bin_dir = venv_with_project_deps(tmp_path / "venv")
    pip_install(bin_dir, str(wheel))
    work = tmp_path / "work"
    work.mkdir()
    where = run_cmd(
        [str(bin_dir / "python"), "-c", "from kronbench import paths; print(paths.CONF_DIR)"], work
    )
    assert where.stdout.strip().startswith(str(tmp_path / "venv")), where.stdout + where.stderr

    job = run_cmd([str(bin_dir / "kronbench"), *TINY_JOB], work)
    assert job.returncode == 0, job.stderr[-3000:]
    (record_path,) = (work / "outputs" / "results" / "glue" / "rte" / "tiny-bert" / "krona").glob(
        "*/seed0.json"
    )
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed" and record["timing"]["optimizer_steps"] == 2
    assert not (work / "results").exists()

    install = run_cmd([str(bin_dir / "kronbench"), "--shell-completion", "install=bash"], work)
    assert (
        install.returncode == 0
        and "complete -o nospace -o default -F hydra_bash_completion kronbench" in (install.stdout)
    ), install.stdout + install.stderr
    line = "kronbench method=kro"
    query = run_cmd(
        [str(bin_dir / "kronbench"), "-sc", "query=bash"], work, COMP_LINE=line, COMP_POINT=str(len(line))
    )
    assert "method=krona" in query.stdout.split() and "method=krona_b" in query.stdout.split(), query.stderr

    sweep = run_cmd(
        [str(bin_dir / "kronbench-sweep"), "experiment=krona_table9_factor_shapes", "scale=local"], work
    )
    assert sweep.returncode == 0 and " runs: " in sweep.stdout, sweep.stdout + sweep.stderr
    for tool in ("kronbench-tables", "kronbench-bench", "kronbench-bench-trainer"):
        helped = run_cmd([str(bin_dir / tool), "--help"], work)
        assert helped.returncode == 0 and "usage:" in helped.stdout, tool + helped.stderr


def test_editable_install_reads_the_checkout_conf(tmp_path: Path) -> None:
    src = copy_sources(tmp_path / "src")
    bin_dir = venv_with_project_deps(tmp_path / "venv")
    pip_install(bin_dir, "-e", str(src))
    work = tmp_path / "work"
    work.mkdir()
    where = run_cmd(
        [str(bin_dir / "python"), "-c", "from kronbench import paths; print(paths.CONF_DIR)"], work
    )
    assert where.stdout.strip() == str(src / "conf"), where.stdout + where.stderr
    helped = run_cmd([str(bin_dir / "kronbench"), "--help"], work)
    assert helped.returncode == 0 and "method: adakron" in helped.stdout, helped.stderr[-3000:]
