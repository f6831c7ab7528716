"""Hub sources: every config is pinned or says why not; the parquet and parquet-export layouts map configs and
splits as configured (local hub-like folders, the same `datasets.load_dataset` call); a hub failure is one clear
error."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset, Features, Sequence, Value
from omegaconf import OmegaConf

from kronbench.config import ModelConfig
from kronbench.hub import PARQUET_EXPORT_BRANCH, HubLoadError, is_commit_hash
from kronbench.run import to_run_config
from kronbench.tasks import hub_source
from kronbench.tasks.data import load_raw_splits
from tests.conftest import CONF_DIR, TOKENIZERS, compose_config

TASKS = sorted(
    str(p.relative_to(CONF_DIR / "task").with_suffix("")) for p in (CONF_DIR / "task").rglob("*.yaml")
)
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
GLUE_REV = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"


def task(name: str, **changes: Any):
    return dataclasses.replace(to_run_config(compose_config(f"task={name}")).task, **changes)


def write_parquet(path: Path, rows: dict[str, list], features: Features | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(path))


# ------------------------------------------------------------------------------------------- pinned or says why
@pytest.mark.parametrize("path", [f"task/{t}" for t in TASKS] + [f"model/{m}" for m in MODELS])
def test_every_config_names_a_commit_or_why_it_is_unpinned(path):
    raw = OmegaConf.load(CONF_DIR / f"{path}.yaml")
    revision, reason = raw.get("revision"), raw.get("unpinned_reason")
    if revision is None:
        assert reason and len(reason.strip()) > 20, f"{path}: revision null needs an unpinned_reason"
    else:
        assert is_commit_hash(revision), f"{path}: revision {revision!r} is not a full 40-hex commit hash"
        assert reason is None, f"{path}: pinned, so no unpinned_reason"


def test_composed_configs_carry_the_pins():
    assert task("glue/rte").revision == GLUE_REV
    web = task("web_nlg")
    assert web.revision is None and web.unpinned_reason and web.hub_format == "parquet_export"
    assert (
        web.hub_splits == {"validation": "dev"} and hub_source.export_config(web) == "webnlg_challenge_2017"
    )
    model = to_run_config(compose_config("model=t5-base")).model
    assert model.revision == "a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1"


def test_source_description_names_revision_or_why_unpinned():
    assert hub_source.describe(task("glue/rte")) == f"hub:nyu-mll/glue/rte@{GLUE_REV}"
    web = hub_source.describe(task("web_nlg"))
    assert web.startswith(
        f"hub:webnlg-challenge/web_nlg/webnlg_challenge_2017@{PARQUET_EXPORT_BRANCH} (unpinned: "
    )
    dart = hub_source.describe(task("dart"))
    assert dart == "hub:Yale-LILY/dart/default@0cbc56250f7a0af9599e4f400a3e7195a82942fc [parquet export]"


# ------------------------------------------------------------------------------------ layouts, with local repos
def glue_like_repo(root: Path) -> Path:
    """Parquet on main, as nyu-mll/glue: `<config>/<split>-00000-of-00001.parquet` declared in the card."""
    card = "---\nconfigs:\n"
    for config, label in (("rte", 0), ("cola", 1)):
        card += f"- config_name: {config}\n  data_files:\n"
        for split in ("train", "validation", "test"):
            write_parquet(
                root / config / f"{split}-00000-of-00001.parquet",
                {"sentence1": [f"{config} {split}"], "sentence2": ["b"], "label": [label], "idx": [0]},
            )
            card += f"  - split: {split}\n    path: {config}/{split}-*\n"
    (root / "README.md").write_text(card + "---\n")
    return root


def test_parquet_on_main_reads_the_named_config_only(tmp_path):
    repo = glue_like_repo(tmp_path / "glue")
    splits, source = load_raw_splits(task("glue/rte", hub_path=str(repo)), None)
    assert set(splits) == {"train", "validation"}
    assert splits["validation"]["sentence1"] == ["rte validation"] and splits["train"]["label"] == [0]
    assert source == f"hub:{repo}/rte@{GLUE_REV}"


def test_parquet_on_main_maps_split_names_and_names_a_missing_split(tmp_path):
    repo = glue_like_repo(tmp_path / "glue")
    cfg = task("glue/rte", hub_path=str(repo), hub_splits={"validation": "test"})
    splits, _ = load_raw_splits(cfg, None)
    assert splits["validation"]["sentence1"] == ["rte test"]
    with pytest.raises(HubLoadError, match=r"missing split.*'dev'"):
        load_raw_splits(task("glue/rte", hub_path=str(repo), hub_splits={"validation": "dev"}), None)


def test_parquet_on_main_names_a_missing_config(tmp_path):
    repo = glue_like_repo(tmp_path / "glue")
    with pytest.raises(HubLoadError, match="missing config") as err:
        load_raw_splits(task("glue/rte", hub_path=str(repo), hub_config="rtex"), None)
    assert str(repo) in str(err.value) and GLUE_REV in str(err.value)


WEBNLG = Features(
    {
        "category": Value("string"),
        "modified_triple_sets": {"mtriple_set": Sequence(Sequence(Value("string")))},
        "lex": Sequence({"text": Value("string")}),
        "test_category": Value("string"),
    }
)


def webnlg_rows(category: str, subject: str, test_category: str = "") -> dict[str, list]:
    return {
        "category": [category],
        "modified_triple_sets": [{"mtriple_set": [[f"{subject} | country | Denmark"]]}],
        "lex": [{"text": [f"{subject.replace('_', ' ')} is in Denmark.", ""]}],
        "test_category": [test_category],
    }


def test_parquet_export_reads_one_config_folder_and_maps_dev_to_validation(tmp_path):
    """The refs/convert/parquet layout: `<config>/<split>/NNNN.parquet`, other configs and index files beside."""
    repo = tmp_path / "web_nlg"
    cfg_dir = repo / "webnlg_challenge_2017"
    write_parquet(cfg_dir / "train" / "0000.parquet", webnlg_rows("Airport", "Aarhus_Airport"), WEBNLG)
    write_parquet(cfg_dir / "dev" / "0000.parquet", webnlg_rows("Airport", "Billund_Airport"), WEBNLG)
    test = {
        k: webnlg_rows("Airport", "A_Airport", "testdata_with_lex")[k]
        + webnlg_rows("Artist", "B_Artist", "testdata_with_lex")[k]
        + webnlg_rows("Artist", "B_Artist", "testdata_unseen_with_lex")[k]
        for k in WEBNLG
    }
    write_parquet(cfg_dir / "test" / "0000.parquet", test, WEBNLG)
    (cfg_dir / "train" / "index.duckdb").write_bytes(b"not parquet")
    write_parquet(
        repo / "release_v3.0_en" / "train" / "0000.parquet", webnlg_rows("City", "Elsewhere"), WEBNLG
    )

    splits, source = load_raw_splits(task("web_nlg", hub_path=str(repo)), None)
    # one config folder: no row of release_v3.0_en
    assert splits["train"]["source"] == ["Aarhus Airport : country : Denmark"]
    assert splits["validation"]["references"] == [["Billund Airport is in Denmark."]]
    assert splits["test"]["category"] == ["Airport", "Artist"]  # the with-lex file only
    assert splits["test"]["seen"] == [True, False]
    assert source.startswith(f"hub:{repo}/webnlg_challenge_2017@{PARQUET_EXPORT_BRANCH} (unpinned: ")


def test_parquet_export_default_folder_for_a_script_without_configs(tmp_path):
    repo = tmp_path / "e2e"
    for split, mr in (("train", "name[A], eatType[pub]"), ("validation", "name[B]"), ("test", "name[C]")):
        write_parquet(
            repo / "default" / split / "0000.parquet",
            {"meaning_representation": [mr, mr], "human_reference": [f"{split} one", f"{split} two"]},
        )
    splits, source = load_raw_splits(task("e2e_nlg", hub_path=str(repo)), None)
    assert splits["train"]["source"] == ["name : A | eatType : pub"]
    assert splits["test"]["references"] == [["test one", "test two"]]
    assert source == f"hub:{repo}/default@5061e4307d2e553f9b51ccb73998d7039fe6ed90 [parquet export]"


def test_export_data_files_name_the_config_folder_and_hub_split():
    files = hub_source.export_data_files(task("web_nlg"), ["train", "validation", "test"])
    assert files == {
        "train": "webnlg_challenge_2017/train/*.parquet",
        "validation": "webnlg_challenge_2017/dev/*.parquet",
        "test": "webnlg_challenge_2017/test/*.parquet",
    }
    assert hub_source.hub_revision(task("web_nlg")) == PARQUET_EXPORT_BRANCH
    assert hub_source.hub_revision(task("dart")) == "0cbc56250f7a0af9599e4f400a3e7195a82942fc"


# ------------------------------------------------------------------------------------------- one clear error
FAILURES = [
    (ConnectionError("Couldn't reach 'x' on the Hub (OfflineModeIsEnabled)"), "offline mode"),
    (RuntimeError("Dataset scripts are no longer supported, but found web_nlg.py"), "script-only repository"),
    (ValueError("BuilderConfig 'rtex' not found. Available: ['ax', 'cola']"), "missing config"),
]


@pytest.mark.parametrize(("error", "reason"), FAILURES)
def test_hub_failure_names_repo_revision_reason_and_jsonl_layout(monkeypatch, error, reason):
    def fail(*args: Any, **kwargs: Any):
        raise error

    monkeypatch.setattr(hub_source.datasets, "load_dataset", fail)
    with pytest.raises(HubLoadError) as err:
        load_raw_splits(task("glue/rte"), None)
    message = str(err.value)
    assert "'nyu-mll/glue'" in message and GLUE_REV in message and reason in message
    assert "data_dir=<folder> holding <folder>/glue/rte/<split>.jsonl" in message
    assert isinstance(err.value, FileNotFoundError) and err.value.__cause__ is error


@pytest.mark.parametrize(("error", "reason"), FAILURES)
def test_hub_failure_of_a_raw_file_task_names_the_official_files(monkeypatch, error, reason):
    def fail(*args: Any, **kwargs: Any):
        raise error

    monkeypatch.setattr(hub_source.datasets, "load_dataset", fail)
    with pytest.raises(HubLoadError) as err:
        load_raw_splits(task("web_nlg"), None)
    message = str(err.value)
    assert "'webnlg-challenge/web_nlg'" in message and f"{PARQUET_EXPORT_BRANCH} (unpinned: " in message
    assert reason in message
    assert "<folder>/web_nlg/raw_2017/" in message and "test/testdata_with_lex.xml" in message


def test_offline_hub_load_is_reported_as_offline(monkeypatch):
    """The real `datasets` call with offline mode on: no network, one error saying so."""
    monkeypatch.setattr(hub_source.datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubLoadError, match="offline mode") as err:
        load_raw_splits(task("glue/rte"), None)
    assert GLUE_REV in str(err.value)


# ---------------------------------------------------------------------------------------------------- models
HASH = "86b5e0934494bd15c9632b12f734a8a67f723594"


def hub_model(**kw: Any) -> ModelConfig:
    return ModelConfig(
        **{
            "name": "m",
            "pretrained": "google-bert/bert-base-uncased",
            "family": "bert",
            "revision": HASH,
            **kw,
        }
    )


@pytest.mark.skipif(not (TOKENIZERS / "bert-uncased").exists(), reason="shared tokenizers not found")
def test_load_model_reads_config_tokenizer_and_weights_at_one_revision(monkeypatch):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from kronbench import models

    calls: list[tuple[str, str, Any]] = []
    real_tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZERS / "bert-uncased"))
    tiny = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)

    def record(what: str, make):
        def load(source: str, **kwargs: Any):
            calls.append((what, source, kwargs.get("revision")))
            return make(kwargs)

        return load

    monkeypatch.setattr(models.AutoConfig, "from_pretrained", record("config", lambda kw: tiny))
    monkeypatch.setattr(
        models.AutoTokenizer, "from_pretrained", record("tokenizer", lambda kw: real_tokenizer)
    )
    monkeypatch.setattr(
        models.AutoModelForSequenceClassification,
        "from_pretrained",
        record("weights", lambda kw: BertForSequenceClassification(kw["config"])),
    )
    cfg = hub_model()
    model, tokenizer = models.load_model(cfg, task("glue/rte"))
    assert tokenizer is real_tokenizer and model.config.hidden_size == 32
    assert calls == [(what, cfg.pretrained, HASH) for what in ("config", "tokenizer", "weights")]


def test_local_sources_take_no_revision():
    from kronbench import models

    seen: list[dict] = []
    models.from_source(lambda source, **kw: seen.append(kw), "/some/local/dir", hub_model())
    assert seen == [{}]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError("We couldn't connect to 'https://huggingface.co' to load the files"), "offline mode"),
        (
            OSError("abc is not a valid git identifier (branch name, tag name or commit id)"),
            "unknown revision",
        ),
    ],
)
def test_model_hub_failure_names_repo_revision_reason_and_model_path(error, reason):
    from kronbench import models

    def fail(source: str, **kwargs: Any):
        raise error

    with pytest.raises(HubLoadError) as err:
        models.from_source(fail, "google-bert/bert-base-uncased", hub_model())
    message = str(err.value)
    assert "'google-bert/bert-base-uncased'" in message and HASH in message and reason in message
    assert "model.path=<dir>" in message


def test_unpinned_model_error_says_why():
    from kronbench import models

    cfg = to_run_config(compose_config("model=deberta-v2-xxlarge")).model

    def fail(source: str, **kwargs: Any):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    with pytest.raises(HubLoadError, match=r"main \(unpinned: stored hub pages show only short hashes"):
        models.from_source(fail, cfg.pretrained, cfg)
