"""Adapters leave the harness: safetensors + config per method, reloaded onto a fresh backbone with the run's score;
mergeable methods export a plain transformers checkpoint that transformers alone loads, with the same logits."""

from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from kronbench.choices import available_options
from kronbench.export import CONFIG_NAME, WEIGHTS_NAME, export_merged, load_adapter, main, save_adapter
from kronbench.models import load_model
from kronbench.registry import get_method
from kronbench.run import run, to_run_config, truncate
from kronbench.tasks import build_task
from kronbench.tasks.data import load_raw_splits
from kronbench.tasks.splits import apply_protocol
from kronbench.train import EvalSplit, Trainer
from tests.conftest import DATA_DIR, TOKENIZERS, compose_config, needs_shared

TINY = {
    "krona": ["method.factor_shape=[4,8]"],
    "krona_b": ["method.factor_shape=[4,8]"],
    "krona_b_res": ["method.factor_shape=[4,8]"],
    "lokr": ["method.factor_shape=[4,8]"],
    "adamix": ["method.r=8"],
}
needs_tokenizer = pytest.mark.skipif(not (TOKENIZERS / "bert-uncased").exists(), reason="no bert tokenizer")


def batch(tokenizer) -> dict[str, torch.Tensor]:
    return tokenizer(
        ["a short sentence", "and another, longer one"], ["one", "two"], return_tensors="pt", padding=True
    )


def trained_tiny(name: str, seed: int = 3):
    """tiny-bert with `name` attached and its trainable weights moved off their init, as a run would leave it."""
    cfg = to_run_config(
        compose_config(f"method={name}", "model=tiny-bert", f"seed={seed}", *TINY.get(name, []))
    )
    set_seed(seed)
    model, tokenizer = load_model(cfg.model, cfg.task)
    method = get_method(name)(cfg.method, cfg.model)
    method.apply(model)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return cfg, model.eval(), method, tokenizer


@needs_tokenizer
@pytest.mark.parametrize("name", available_options("method"))
def test_every_method_saves_and_reloads_onto_a_fresh_backbone(name, tmp_path):
    cfg, model, method, tokenizer = trained_tiny(name)
    with torch.no_grad():
        expected = model(**batch(tokenizer)).logits
    save_adapter(model, method, cfg.task, tmp_path, seed=cfg.seed)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert config["method"]["name"] == name and config["kronbench_version"] and config["seed"] == cfg.seed
    saved = load_file(str(tmp_path / WEIGHTS_NAME))
    assert set(saved) == {n for n, p in model.named_parameters() if p.requires_grad}

    loaded = load_adapter(tmp_path)  # rebuilt from adapter_config.json alone
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(**batch(loaded.tokenizer)).logits, expected)


@needs_tokenizer
def test_loading_is_strict_about_tensor_names(tmp_path):
    cfg, model, method, _ = trained_tiny("krona")
    save_adapter(model, method, cfg.task, tmp_path, seed=cfg.seed)
    tensors = load_file(str(tmp_path / WEIGHTS_NAME))
    name = next(n for n in tensors if "kron_a" in n)
    tensors["renamed.kron_a"] = tensors.pop(name)
    save_file(tensors, str(tmp_path / WEIGHTS_NAME))
    with pytest.raises(ValueError, match=rf"missing \['{name}'\], unexpected \['renamed.kron_a'\]"):
        load_adapter(tmp_path)


@needs_tokenizer
def test_adapter_loads_onto_a_given_base_model(tmp_path):
    cfg, model, method, tokenizer = trained_tiny("lora")
    save_adapter(model, method, cfg.task, tmp_path, seed=cfg.seed)
    set_seed(cfg.seed)
    base, _ = load_model(cfg.model, cfg.task)  # the caller's own copy of the backbone
    loaded = load_adapter(tmp_path, base_model=base)
    assert loaded.model is base and loaded.tokenizer is None
    with torch.no_grad():
        torch.testing.assert_close(base(**batch(tokenizer)).logits, model(**batch(tokenizer)).logits)


@needs_tokenizer
def test_methods_that_add_modules_cannot_export_a_plain_checkpoint(tmp_path):
    cfg, model, method, _ = trained_tiny("houlsby")
    with pytest.raises(ValueError, match=r"'houlsby' adds modules .* use save_adapter .*'krona'"):
        export_merged(model, method, tmp_path)


@needs_shared
@needs_tokenizer
def test_reloaded_adapter_reproduces_the_run_score_and_merged_export_needs_no_kronbench(tmp_path):
    overrides = [
        "model=tiny-bert", "method=krona", "method.factor_shape=[4,8]", "task=glue/rte", f"data_dir={DATA_DIR}",
        f"output_dir={tmp_path / 'results'}", "train.max_steps=6", "train.batch_size=8", "train.lr=5e-3",
        "train.max_train_samples=64", "train.max_eval_samples=64", "train.save_checkpoint=true",
        "train.progress_bar=false", "seed=1",
    ]  # fmt: skip
    record = run(compose_config(*overrides), run_dir=tmp_path / "run")
    adapter = tmp_path / "run" / "best_adapter"
    assert record["checkpoint"] == str(adapter) and (adapter / WEIGHTS_NAME).exists()
    assert not list((tmp_path / "run").glob("*.pt"))  # no pickle left behind

    # a fresh process would do exactly this: rebuild from the adapter directory, score the reported split
    loaded = load_adapter(adapter)
    cfg = to_run_config(compose_config(*overrides))
    splits = apply_protocol(loaded.task, load_raw_splits(loaded.task, str(DATA_DIR))[0])
    test_raw = truncate(splits.test, cfg.train.max_eval_samples)
    task = build_task(loaded.task, loaded.tokenizer, loaded.method.model_cfg)
    split = EvalSplit("test", task.preprocess(test_raw, "test"), test_raw)
    trainer = Trainer(loaded.model, loaded.method, task, cfg.train, "accuracy", Accelerator(cpu=True))
    assert trainer.evaluate(split)["accuracy"] == record["metrics"]["score"]
    assert record["metrics"]["report"]["merged"] is True

    # merged export: transformers alone loads it, same logits as the adapter-equipped model
    out = main([str(adapter), str(tmp_path / "merged")])
    plain = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert type(plain) is BertForSequenceClassification and plain.config.id2label[0] == "entailment"
    assert not any("kron" in n for n, _ in plain.named_parameters())
    inputs = batch(loaded.tokenizer)
    loaded.model.eval()  # Trainer.evaluate leaves the model in train mode
    with torch.no_grad():
        torch.testing.assert_close(
            plain(**inputs).logits, loaded.model(**inputs).logits, rtol=1e-5, atol=1e-5
        )
    assert (out / "tokenizer_config.json").exists()
