"""Structured-config schemas for one run: model × method × task × train settings × seed.

Hydra merges `conf/` YAML files into these dataclasses, so a typo'd key or a wrong type fails at startup with
Hydra's own error. Cross-field checks that need no model live in `__post_init__` and name the bad value.
Method schemas subclass :class:`MethodConfig` and are registered by :func:`kronbench.registry.register_method`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

MODEL_FAMILIES = ("bert", "roberta", "deberta", "t5", "gpt2")
DTYPES = ("float32", "float16", "bfloat16")
TASK_TYPES = ("classification", "regression", "multiple_choice", "span_extraction", "generation", "record")
SPLIT_PROTOCOLS = ("dev_as_test", "halve_dev", "train_holdout", "train_85_15", "dev_by_article")
# how a model solves a task: "auto" = text_to_text for T5 on NLU/QA tasks, the task head otherwise (see
# kronbench.tasks.formats.resolve_format); generation tasks are always generative
TASK_FORMATS = ("auto", "text_to_text", "classification_head")
# where a task's hub files live: "parquet" = the repository's own parquet files at `revision`, loaded by config
# name; "parquet_export" = the hub converter's `refs/convert/parquet` branch (script-era repositories), read as
# `<parquet_config>/<hub split>/*.parquet` (see kronbench/tasks/hub_source.py)
HUB_FORMATS = ("parquet", "parquet_export")


def _check_choice(value: Any, valid: tuple[str, ...], what: str) -> None:
    if value not in valid:
        raise ValueError(f"{what}={value!r} is not valid; choose one of {list(valid)}")


@dataclass
class SiteConfig:
    """Where a block-level adapter sits, found by module name.

    `block` is a regex (fullmatch) over module names; `input` and `output` are paths relative to each matched
    block ("" = the block itself). A parallel adapter reads the input of `input` and adds to the output of
    `output`; a sequential adapter transforms the output of `output`.
    """

    block: str = MISSING
    input: str = ""
    output: str = ""


@dataclass
class ModelConfig:
    """A backbone: where its weights come from and where methods attach to it (declared per family)."""

    name: str = MISSING  # short name used in result paths, e.g. "minilm"
    pretrained: str = MISSING  # hub id used where the hub is reachable
    revision: str | None = None  # commit of `pretrained` that weights, config and tokenizer are read from
    unpinned_reason: str | None = None  # why `revision` is null (no commit hash could be verified)
    family: str = MISSING  # one of MODEL_FAMILIES
    path: str | None = None  # local directory with weights; wins over `package` and `pretrained`
    package: str | None = None  # "python_package:subdir" holding the weights (e.g. a PyPI-shipped model)
    tokenizer: str | None = None  # tokenizer directory or hub id; defaults to the weights' source
    init: str = (
        "pretrained"  # "pretrained" or "random" (random weights of the configured size: tests, timing)
    )
    config_overrides: dict[str, Any] = field(
        default_factory=dict
    )  # applied to the HF config (tiny test models)
    dtype: str = "float32"  # dtype the weights are loaded in
    head_modules: list[str] = field(default_factory=lambda: ["classifier"])  # trained with every method
    attention_targets: list[str] = field(default_factory=list)  # default targets of weight-level methods
    ffn_targets: list[str] = field(
        default_factory=list
    )  # FFN weight matrices (for methods that ask for them)
    sites: dict[str, SiteConfig] = field(default_factory=dict)  # "ffn", "attention" block locations

    def __post_init__(self) -> None:
        _check_choice(self.family, MODEL_FAMILIES, "model.family")
        _check_choice(self.dtype, DTYPES, "model.dtype")
        _check_choice(self.init, ("pretrained", "random"), "model.init")


@dataclass
class GenerationSettings:
    """Decoding settings for generative evaluation (text-to-text NLU, data-to-text NLG)."""

    num_beams: int = 1  # NLG tasks: 10 (LoRA/AdaMix protocol)
    length_penalty: float = 1.0  # NLG tasks: 0.8
    no_repeat_ngram_size: int = 0  # NLG tasks: 4
    max_new_tokens: int = 16  # longest generated continuation
    max_target_length: int = 128  # training targets are truncated to this many tokens


@dataclass
class TaskConfig:
    """A dataset, its preprocessing inputs and its metrics; the code lives in `kronbench.tasks` by `type`."""

    name: str = MISSING  # "glue/rte": also the result folder and the local data sub-folder
    version: str = "1"  # bump when preprocessing or metrics change: tables never mix versions
    type: str = "classification"  # one of TASK_TYPES
    hub_path: str = MISSING  # e.g. "nyu-mll/glue"
    hub_config: str | None = None  # e.g. "rte"
    revision: str | None = None  # hub commit hash read (main or the parquet-export branch, per hub_format)
    unpinned_reason: str | None = None  # why `revision` is null (no commit hash could be verified)
    hub_format: str = "parquet"  # one of HUB_FORMATS
    parquet_config: str | None = None  # parquet_export folder; default hub_config, else "default"
    hub_splits: dict[str, str] = field(default_factory=dict)  # our split name -> the hub's, where they differ
    local_dir: str | None = None  # sub-folder of data_dir holding <split>.jsonl; default: task.name
    text_fields: list[str] = field(default_factory=list)  # one or two text columns
    label_field: str = "label"
    label_names: list[str] = field(default_factory=list)  # empty for regression
    metrics: list[str] = field(default_factory=lambda: ["accuracy"])
    main_metric: str = "accuracy"
    train_split: str = "train"
    validation_split: str = "validation"
    test_split: str | None = None  # labelled test split, when one exists
    split_protocol: str = "dev_as_test"  # see kronbench.tasks.splits
    holdout_size: int = 1000  # rows taken from train for `train_holdout`
    max_length: int = 128
    # --- issue 4: SuperGLUE, SQuAD, NLG, text-to-text (all defaulted: older YAMLs keep working) ---
    format: str = "auto"  # one of TASK_FORMATS; e.g. task.format=classification_head for T5 with a head
    prefix: str | None = None  # T5 task prefix ("rte", "cb", ...); default: hub_config
    label_words: list[str] = field(
        default_factory=list
    )  # text-to-text targets per label; default label_names
    t2t_fields: list[str] = field(default_factory=list)  # columns rendered "name: value" in T5 inputs
    choice_fields: list[str] = field(default_factory=list)  # multiple choice: one column per choice
    group_field: str | None = (
        None  # MultiRC: rows sharing these (dotted, comma-separated) fields = one question
    )
    loader: str | None = None  # raw-file loader ("e2e", "webnlg", "dart"); None: <split>.jsonl / hub
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    doc_stride: int = 128  # SQuAD: overlap between sliding windows over a long context
    max_answer_length: int = 30  # SQuAD: longest predicted answer span, in tokens
    n_best: int = 20  # SQuAD: start/end candidates considered per window
    version_2_with_negative: bool = False  # SQuAD v2.0: unanswerable questions (null answers)
    article_field: str = "title"  # dev_by_article: rows sharing this field stay on one side
    dev_train_fraction: float = 0.9  # dev_by_article: fraction of dev articles used for training

    def __post_init__(self) -> None:
        _check_choice(self.type, TASK_TYPES, "task.type")
        _check_choice(self.split_protocol, SPLIT_PROTOCOLS, "task.split_protocol")
        _check_choice(self.format, TASK_FORMATS, "task.format")
        _check_choice(self.hub_format, HUB_FORMATS, "task.hub_format")
        if not 0.0 < self.dev_train_fraction < 1.0:
            raise ValueError(f"task.dev_train_fraction={self.dev_train_fraction} must be in (0, 1)")
        if self.label_words and len(self.label_words) != len(self.label_names):
            raise ValueError(
                f"task {self.name!r}: label_words {self.label_words} do not match label_names {self.label_names}"
            )
        if self.main_metric not in self.metrics:
            raise ValueError(
                f"task.main_metric={self.main_metric!r} is not among task.metrics={self.metrics}"
            )
        if self.type == "classification" and len(self.label_names) < 2:
            raise ValueError(
                f"task {self.name!r}: classification needs >= 2 label_names, got {self.label_names}"
            )

    @property
    def num_labels(self) -> int:
        if self.type == "record":
            return 2  # ReCoRD with a head: one binary decision per candidate entity
        return 1 if self.type == "regression" else len(self.label_names)


@dataclass
class TrainConfig:
    """Optimisation and evaluation schedule of the one training loop (`kronbench.train`)."""

    optimizer: str = "adamw"  # "adamw" or "adafactor"
    lr: float = 1e-3
    weight_decay: float = 0.0
    adafactor_relative_step: bool = False  # Adafactor's own lr schedule (as the MAdaKron paper, no lr set)
    batch_size: int = 32
    eval_batch_size: int = 128
    grad_accum: int = 1
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    warmup_steps: int = 0
    warmup_ratio: float = 0.0  # used when warmup_steps == 0
    scheduler: str = "linear"  # "linear" (warmup then linear decay) or "constant" (warmup then flat)
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"  # "no", "fp16" (V100), "bf16"
    eval_strategy: str = "epoch"  # "epoch" or "steps"
    eval_steps: int = 500
    max_train_samples: int | None = None  # truncate the train split (quick runs)
    max_eval_samples: int | None = None  # truncate validation/test splits (quick runs)
    merged_eval: bool = True  # final evaluation on the merged model when the method is mergeable
    save_checkpoint: bool = True  # write the best trainable weights to the Hydra run dir
    log_every: int = 50
    num_workers: int = 0
    compile: bool = False  # torch.compile the model (kronbench/compile.py); eager when it cannot compile
    compile_mode: str = (
        "default"  # torch.compile mode: "default", "reduce-overhead" (CUDA graphs), "max-autotune"
    )
    compile_backend: str = "inductor"  # torch.compile backend ("aot_eager": trace only, for debugging)
    pad_to_multiple_of: int | None = (
        None  # pad batches to a multiple of this length (bounded shapes for compile)
    )
    group_by_length: bool = False  # batches of similar lengths (less padding); off in paper presets
    pin_memory: bool = True  # page-locked host batches when training on CUDA (faster host-to-device copies)
    progress_bar: bool = True
    wandb: bool = False
    wandb_project: str = "kronbench"
    wandb_mode: str = "offline"  # "offline" works without network; "online" needs a login

    def __post_init__(self) -> None:
        _check_choice(self.optimizer, ("adamw", "adafactor"), "train.optimizer")
        _check_choice(self.scheduler, ("linear", "constant"), "train.scheduler")
        _check_choice(self.mixed_precision, ("no", "fp16", "bf16"), "train.mixed_precision")
        _check_choice(self.eval_strategy, ("epoch", "steps"), "train.eval_strategy")
        _check_choice(self.wandb_mode, ("offline", "online", "disabled"), "train.wandb_mode")
        _check_choice(self.compile_mode, ("default", "reduce-overhead", "max-autotune"), "train.compile_mode")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ValueError(
                f"train.pad_to_multiple_of={self.pad_to_multiple_of} must be >= 1 (or null: no bucketing)"
            )
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError(f"train.epochs={self.epochs} and train.max_steps={self.max_steps}: set one > 0")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError(
                f"train.batch_size={self.batch_size}, train.grad_accum={self.grad_accum}: must be >= 1"
            )


@dataclass
class MethodConfig:
    """Fields every method has. Subclasses add theirs; see `conf/method/*.yaml`."""

    name: str = MISSING
    variant: str | None = None  # result sub-folder; default: the method's tag + a hash of the run config
    target_modules: list[str] | None = None  # exact names or ".suffix"/"suffix" matches; None: model default
    target_regex: str | None = None  # fullmatch over module names (overrides target_modules)
    exclude_modules: list[str] = field(default_factory=list)  # exact names or suffixes, applied first
    train_head: bool = True  # train the task head (classifier) alongside the method
    # also train the backbone's layer norms (weights and any biases), as the Compacter code base's T5 configs do
    # (`unfreeze_layer_norms: true`); the KronA paper's 0.07% rows on T5-base come out only with them
    train_layer_norms: bool = False

    def tag(self) -> str:
        """Short human-readable description of the method's hyperparameters (used in result paths)."""
        return self.name


@dataclass
class RunConfig:
    """The whole run. `method` is typed per method through its own schema in the `method` group."""

    model: ModelConfig = MISSING
    method: Any = MISSING
    task: TaskConfig = MISSING
    train: TrainConfig = MISSING
    seed: int = 0
    data_dir: str | None = None  # local data root (<data_dir>/<task.name>/<split>.jsonl); None: the hub
    output_dir: str = "results"  # result records root
    force: bool = False  # rerun even if a successful record exists
    dry_run: bool = False  # print what would run and whether its record exists, then stop


def register_schemas() -> None:
    """Store the run schema in Hydra's ConfigStore; `conf/config.yaml` lists it first in its defaults.

    `model`, `task` and `train` are typed fields of :class:`RunConfig`, so their YAML files are validated on
    merge. Method schemas differ per method and are stored by :func:`kronbench.registry.register_method`.
    Also registers the `${consistency_weight:<task type>}` resolver: a method YAML's protocol default for the
    two-pass consistency weight, resolved per task so the record states the number a run used.
    """
    from kronbench.consistency import protocol_weight

    ConfigStore.instance().store(name="run_schema", node=RunConfig)
    OmegaConf.register_new_resolver(
        "consistency_weight", lambda task_type: protocol_weight(None, task_type == "generation"), replace=True
    )
