"""Load a backbone with the head its task needs, and its tokenizer, from the hub, a local folder or a package.

Per-family facts (target modules, FFN/attention sites, head names) live in `conf/model/*.yaml`, not here.
Weights are always loaded in the configured dtype (`model.dtype`), whatever dtype the checkpoint stores.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from kronbench.config import ModelConfig, TaskConfig
from kronbench.hub import hub_error, revision_label
from kronbench.tasks.formats import resolve_format

# transformers' model_type for each family (used for randomly initialised models with no config file at hand)
FAMILY_MODEL_TYPE = {
    "bert": "bert",
    "roberta": "roberta",
    "deberta": "deberta-v2",
    "t5": "t5",
    "gpt2": "gpt2",
}

GPT2_EOS = "<|endoftext|>"

# the AutoModel class per task type (or per family where it differs); "text_to_text" is used for any task whose
# resolved format is text-to-text (T5 on GLUE/SuperGLUE/SQuAD by default, see kronbench.tasks.formats)
GENERATIVE_HEADS = {"t5": AutoModelForSeq2SeqLM, "gpt2": AutoModelForCausalLM}
TASK_HEADS: dict[str, type | dict[str, type]] = {
    "classification": AutoModelForSequenceClassification,
    "regression": AutoModelForSequenceClassification,
    "record": AutoModelForSequenceClassification,  # one binary decision per candidate entity
    "multiple_choice": AutoModelForMultipleChoice,
    "span_extraction": AutoModelForQuestionAnswering,
    "generation": GENERATIVE_HEADS,
    "text_to_text": GENERATIVE_HEADS,
}


def head_class(cfg: ModelConfig, task: TaskConfig) -> type:
    """The AutoModel class for this model on this task (errors name the family and what would work)."""
    fmt = resolve_format(task, cfg)
    key = "text_to_text" if fmt == "text_to_text" else task.type
    if key not in TASK_HEADS:
        raise ValueError(f"task type {task.type!r} has no model head yet; known: {sorted(TASK_HEADS)}")
    head = TASK_HEADS[key]
    if isinstance(head, dict):
        if cfg.family not in head:
            raise ValueError(
                f"model family {cfg.family!r} has no generative head for task {task.name!r} ({key}); "
                f"use one of {sorted(head)}, or task.format=classification_head for NLU tasks"
            )
        return head[cfg.family]
    if key == "multiple_choice" and cfg.family in ("t5", "gpt2"):
        raise ValueError(
            f"model family {cfg.family!r} has no multiple-choice head in transformers; "
            f"{'use task.format=text_to_text' if cfg.family == 't5' else 'use an encoder'} for {task.name!r}"
        )
    return head


def package_path(spec: str) -> Path:
    """Resolve `"python_package:subdir"` to a directory inside an installed package."""
    package, _, subdir = spec.partition(":")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(
            f"model package {package!r} is not installed (pip install {package.replace('_', '-')})"
        )
    return Path(next(iter(found.submodule_search_locations))) / subdir


def weights_source(cfg: ModelConfig) -> str:
    """Where the weights come from: `model.path`, else `model.package` if installed, else the hub id."""
    if cfg.path:
        path = Path(cfg.path).expanduser()
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"model.path={cfg.path!r}: no config.json in {path.resolve()}")
        return str(path)
    if cfg.package:
        try:
            return str(package_path(cfg.package))
        except FileNotFoundError:
            pass  # fall back to the hub id
    return cfg.pretrained


def from_source(load: Callable[..., Any], source: str, cfg: ModelConfig, **kwargs: Any) -> Any:
    """`load(source, ...)`; from the hub id at `model.revision` (config, tokenizer and weights: one commit), and
    a hub failure is one error naming the repository, revision, reason and the `model.path=` alternative."""
    if source != cfg.pretrained:  # a local folder or package: no revision
        return load(source, **kwargs)
    try:
        return load(source, revision=cfg.revision, **kwargs)
    except (OSError, ValueError) as err:  # offline, unknown repo or revision, missing file
        raise hub_error(
            f"model {cfg.name!r}",
            source,
            revision_label(cfg.revision, cfg.unpinned_reason),
            err,
            "set model.path=<dir> holding config.json, the weights and the tokenizer files of that commit",
        ) from err


def load_config(cfg: ModelConfig, task: TaskConfig) -> PretrainedConfig:
    """The HF config with task-head fields and `config_overrides` applied."""
    kwargs = dict(cfg.config_overrides)
    if (
        task.type in ("classification", "regression", "record")
        and resolve_format(task, cfg) != "text_to_text"
    ):
        kwargs["num_labels"] = task.num_labels
        if task.type == "regression":
            kwargs["problem_type"] = "regression"
    if cfg.init == "random" and not cfg.path:
        # the family's default config sized by `config_overrides`: no download, works offline
        base = AutoConfig.for_model(FAMILY_MODEL_TYPE[cfg.family])
    else:
        base = from_source(AutoConfig.from_pretrained, weights_source(cfg), cfg)
    for key, value in kwargs.items():
        setattr(base, key, value)
    return base


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    source = cfg.tokenizer or weights_source(cfg)
    tokenizer = from_source(AutoTokenizer.from_pretrained, source, cfg)
    if tokenizer.eos_token is None and GPT2_EOS in tokenizer.get_vocab():  # a bare GPT-2 tokenizer.json
        tokenizer.eos_token = tokenizer.bos_token = GPT2_EOS
    if tokenizer.pad_token is None:  # GPT-2 has none: pad with EOS (masked out by the attention mask)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(cfg: ModelConfig, task: TaskConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The backbone with its task head, in `cfg.dtype`, and its tokenizer."""
    auto_cls = head_class(cfg, task)
    dtype = getattr(torch, cfg.dtype)
    config = load_config(cfg, task)
    tokenizer = load_tokenizer(cfg)
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id
    if cfg.init == "random":
        model = auto_cls.from_config(config, dtype=dtype)
    else:
        model = from_source(auto_cls.from_pretrained, weights_source(cfg), cfg, config=config, dtype=dtype)
    return model, tokenizer
