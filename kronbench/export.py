"""Adapters that leave the harness: save / load any method's trained weights, and export merged checkpoints.

An adapter directory follows PEFT's layout: `adapter_model.safetensors` (the trainable tensors by parameter name)
and `adapter_config.json` (the method, model and task configs that rebuild the model, the seed, the kronbench
version). :func:`load_adapter` rebuilds the backbone from that config (or takes one), attaches the method and
loads the tensors, strictly by name. :func:`export_merged` folds a mergeable method into the base weights and
writes a plain transformers checkpoint that `AutoModelFor*.from_pretrained` loads without kronbench.

Run: python -m kronbench.export <adapter_dir> <out_dir>     (merged checkpoint + tokenizer from an adapter)
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import set_seed
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import kronbench
from kronbench import methods as _methods  # noqa: F401  (registers methods)
from kronbench.config import ModelConfig, TaskConfig
from kronbench.methods.base import Method
from kronbench.models import load_model
from kronbench.registry import METHOD_SCHEMAS, METHODS, get_method

WEIGHTS_NAME = "adapter_model.safetensors"
CONFIG_NAME = "adapter_config.json"
FORMAT = "kronbench-adapter"


@dataclass
class LoadedAdapter:
    """A rebuilt model with its method attached and trained weights loaded."""

    model: PreTrainedModel
    method: Method
    tokenizer: PreTrainedTokenizerBase | None  # None when the caller passed the base model
    task: TaskConfig
    config: dict[str, Any]  # the adapter_config.json contents


def trainable_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every trainable parameter by name, as contiguous CPU copies (safetensors stores no shared storage)."""
    return {
        name: p.detach().to("cpu", copy=True).contiguous()
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def save_adapter(
    model: nn.Module, method: Method, task: TaskConfig, directory: str | Path, seed: int = 0
) -> Path:
    """Write the model's trainable tensors and the configs that rebuild it to `directory`; return it.

    `seed` is the run's seed: a rebuilt randomly initialised backbone (`model.init=random`) or an untrained head
    is drawn again from it, exactly as the run drew it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_cfg: ModelConfig = method.model_cfg
    config = {
        "format": FORMAT,
        "kronbench_version": kronbench.__version__,
        "method_name": method.config.name,
        "base_model_name_or_path": model_cfg.path or model_cfg.pretrained,
        "mergeable": method.mergeable,
        "seed": seed,
        "method": dataclasses.asdict(method.config),
        "model": dataclasses.asdict(model_cfg),
        "task": dataclasses.asdict(task),
    }
    tensors = trainable_tensors(model)
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt", "kronbench": FORMAT})
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def read_adapter_config(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {directory} is not a kronbench adapter directory")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: format {config.get('format')!r} is not {FORMAT!r}")
    return config


def structured(schema: type, values: dict[str, Any]) -> Any:
    """A config dataclass from saved values, typed (nested dataclasses too) and checked as at composition."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy `tensors` into the model's trainable parameters; the names and shapes must match exactly."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(set(params) - set(tensors)), sorted(set(tensors) - set(params))
    if missing or unexpected:
        raise ValueError(
            f"{source}: adapter tensors do not match the rebuilt model's trainable parameters; "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    with torch.no_grad():
        for name, value in tensors.items():
            if value.shape != params[name].shape:
                raise ValueError(
                    f"{source}: {name} has shape {tuple(value.shape)}, the model expects {tuple(params[name].shape)}"
                )
            params[name].copy_(value.to(params[name].device, params[name].dtype))


def load_adapter(directory: str | Path, base_model: PreTrainedModel | None = None) -> LoadedAdapter:
    """Rebuild the backbone from the adapter's config (or use `base_model`), attach its method, load its weights."""
    directory = Path(directory)
    config = read_adapter_config(directory)
    name = config["method_name"]
    get_method(name)  # unknown methods fail here, naming the registered ones
    method_cfg = structured(METHOD_SCHEMAS[name], config["method"])
    model_cfg = structured(ModelConfig, config["model"])
    task_cfg = structured(TaskConfig, config["task"])
    tokenizer = None
    if base_model is None:
        set_seed(config["seed"])  # as the run did before loading: same random init of backbone / head
        base_model, tokenizer = load_model(model_cfg, task_cfg)
    method = METHODS[name](method_cfg, model_cfg)
    method.apply(base_model)
    load_weights(base_model, load_file(str(directory / WEIGHTS_NAME)), directory / WEIGHTS_NAME)
    base_model.eval()
    return LoadedAdapter(base_model, method, tokenizer, task_cfg, config)


def export_merged(
    model: PreTrainedModel,
    method: Method,
    directory: str | Path,
    tokenizer: PreTrainedTokenizerBase | None = None,
    task: TaskConfig | None = None,
) -> Path:
    """Save a merged copy of `model` as a plain transformers checkpoint (+ tokenizer); `model` is left as it is."""
    if not method.mergeable:
        mergeable = sorted(n for n, cls in METHODS.items() if cls.mergeable)
        raise ValueError(
            f"method {method.config.name!r} adds modules the base architecture does not have, so it cannot be "
            f"exported as a plain checkpoint; use save_adapter for it. Mergeable methods: {mergeable}"
        )
    merged = method.merge_and_unload(copy.deepcopy(model))
    if task is not None and task.label_names and task.type != "regression":
        merged.config.id2label = dict(enumerate(task.label_names))
        merged.config.label2id = {label: i for i, label in enumerate(task.label_names)}
    directory = Path(directory)
    merged.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m kronbench.export", description=__doc__.splitlines()[0])
    parser.add_argument("adapter_dir", help="a directory written by save_adapter (a run's best_adapter/)")
    parser.add_argument("out_dir", help="where the merged transformers checkpoint goes")
    args = parser.parse_args(argv)
    loaded = load_adapter(args.adapter_dir)
    out = export_merged(loaded.model, loaded.method, args.out_dir, loaded.tokenizer, loaded.task)
    print(f"merged {loaded.config['method_name']} checkpoint written to {out}")
    return out


if __name__ == "__main__":
    main()
