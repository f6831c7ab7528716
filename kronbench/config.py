"""Structured-config schemas for one run: model × method × task × train settings × seed.

Hydra merges `conf/` YAML files into these dataclasses, so a typo'd key or a wrong type fails at startup with
Hydra's own error. Cross-field checks that need no model live in `__post_init__` and name the bad value.
Method schemas subclass :class:`MethodConfig` and are registered by :func:`kronbench.registry.register_method`.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

MODEL_FAMILIES = ("bert", "roberta", "deberta", "t5", "gpt2")
DTYPES = ("float32", "float16", "bfloat16")
TASK_TYPES = ("classification", "regression", "multiple_choice", "span_extraction", "generation", "record")
SPLIT_PROTOCOLS = (
    "dev_as_test",
    "halve_dev",
    "train_holdout",
    "train_holdout_as_test",
    "train_85_15",
    "dev_by_article",
)
# Which source a paper preset's optimisation settings follow where a paper's text and its authors' code disagree
# (conf/experiment/part/protocol/*.yaml): "authors_code" (the released scripts), "paper_text" (the paper's words),
# "custom" (an ad-hoc run, no preset).
TRAIN_PROTOCOLS = ("custom", "authors_code", "paper_text")
# how a model solves a task: "auto" = text_to_text for T5 on NLU/QA tasks, the task head otherwise (see
# kronbench.tasks.formats.resolve_format); generation tasks are always generative
TASK_FORMATS = ("auto", "text_to_text", "classification_head")
# where a task's hub files live: "parquet" = the repository's own parquet files at `revision`, loaded by config
# name; "parquet_export" = the hub converter's `refs/convert/parquet` branch (script-era repositories), read as
# `<parquet_config>/<hub split>/*.parquet` (see kronbench/tasks/hub_source.py)
HUB_FORMATS = ("parquet", "parquet_export")


class ConfigError(ValueError):
    """A composed config that is not valid: an unknown key or a bad value, named with what would be valid."""


def choice(default: Any, options: tuple[str, ...], help: str) -> Any:
    """A string field limited to `options`; `help` (what the field chooses) is shown with a bad value."""
    return field(default=default, metadata={"choices": options, "help": help})


def check_choices(obj: Any, section: str) -> None:
    """Raise ValueError naming the first `choice` field of `obj` whose value is not one of its options."""
    for f in dataclasses.fields(obj):
        options = f.metadata.get("choices")
        value = getattr(obj, f.name)
        if options is not None and value not in options:
            raise ValueError(
                f"{section}.{f.name}={value!r} is not valid; choose one of {list(options)} ({f.metadata['help']})"
            )


def _check_min(value: float | None, minimum: float, what: str, why: str = "") -> None:
    """`value` (when set) must be >= `minimum`; the error names the key, the value and the bound."""
    if value is not None and value < minimum:
        raise ValueError(f"{what}={value!r} is not valid; it must be >= {minimum:g}{why}")


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
    family: str = choice(MISSING, MODEL_FAMILIES, "architecture family: attach points and model classes")
    path: str | None = None  # local directory with weights; wins over `package` and `pretrained`
    package: str | None = None  # "python_package:subdir" holding the weights (e.g. a PyPI-shipped model)
    tokenizer: str | None = None  # tokenizer directory or hub id; defaults to the weights' source
    init: str = choice(
        "pretrained", ("pretrained", "random"), "pretrained weights, or random ones of the configured size"
    )
    config_overrides: dict[str, Any] = field(
        default_factory=dict
    )  # applied to the HF config (tiny test models)
    dtype: str = choice("float32", DTYPES, "dtype the weights are loaded in")
    head_modules: list[str] = field(default_factory=lambda: ["classifier"])  # trained with every method
    attention_targets: list[str] = field(default_factory=list)  # default targets of weight-level methods
    ffn_targets: list[str] = field(
        default_factory=list
    )  # FFN weight matrices (for methods that ask for them)
    sites: dict[str, SiteConfig] = field(default_factory=dict)  # "ffn", "attention" block locations

    def __post_init__(self) -> None:
        check_choices(self, "model")


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
    type: str = choice("classification", TASK_TYPES, "the task's code and model head (kronbench.tasks)")
    hub_path: str = MISSING  # e.g. "nyu-mll/glue"
    hub_config: str | None = None  # e.g. "rte"
    revision: str | None = None  # hub commit hash read (main or the parquet-export branch, per hub_format)
    unpinned_reason: str | None = None  # why `revision` is null (no commit hash could be verified)
    hub_format: str = choice("parquet", HUB_FORMATS, "where the hub files live, see HUB_FORMATS")
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
    split_protocol: str = choice(
        "dev_as_test", SPLIT_PROTOCOLS, "train/validation/test carving, kronbench.tasks.splits"
    )
    holdout_size: int = 1000  # rows taken from train for `train_holdout`
    max_length: int = 128
    # --- SuperGLUE, SQuAD, NLG, text-to-text (all defaulted: older YAMLs keep working) ---
    format: str = choice(
        "auto", TASK_FORMATS, "text_to_text or the task head; auto: text_to_text for T5 on NLU/QA"
    )
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
        check_choices(self, "task")
        if not 0.0 < self.dev_train_fraction < 1.0:
            raise ValueError(f"task.dev_train_fraction={self.dev_train_fraction} must be in (0, 1)")
        if self.label_words and len(self.label_words) != len(self.label_names):
            raise ValueError(
                f"task {self.name!r}: label_words {self.label_words} do not match label_names {self.label_names}"
            )
        _check_min(self.max_length, 1, "task.max_length")
        _check_min(self.holdout_size, 1, "task.holdout_size")
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


# torch.compile modes whose inductor settings replay CUDA graphs (torch._inductor.list_mode_options())
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


@dataclass
class TrainConfig:
    """Optimisation and evaluation schedule of the one training loop (`kronbench.train`)."""

    protocol: str = choice("custom", TRAIN_PROTOCOLS, "where the optimisation settings come from (recorded)")
    optimizer: str = choice("adamw", ("adamw", "adafactor"), "the optimizer")
    lr: float = 1e-3
    weight_decay: float = 0.0
    # Adafactor's own step size (the MAdaKron paper's text: no lr set); the warmup/decay schedule and weight decay
    # still apply (kronbench/optim.py) and train.lr is not used
    adafactor_relative_step: bool = False
    batch_size: int = 32  # global: per-device batch × processes × grad_accum (kronbench/distributed.py)
    eval_batch_size: int = 128
    grad_accum: int = 1
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    warmup_steps: int = 0
    warmup_ratio: float = 0.0  # used when warmup_steps == 0
    scheduler: str = choice("linear", ("linear", "constant"), "after warmup: linear decay to 0, or flat")
    max_grad_norm: float = 1.0
    mixed_precision: str = choice(
        "no", ("no", "fp16", "bf16"), "autocast dtype; fp16 on V100, bf16 on A100/H100"
    )
    eval_strategy: str = choice(
        "epoch", ("epoch", "steps"), "evaluate every epoch or every train.eval_steps steps"
    )
    eval_steps: int = 500
    max_train_samples: int | None = None  # truncate the train split (quick runs)
    max_eval_samples: int | None = None  # truncate validation/test splits (quick runs)
    merged_eval: bool = True  # final evaluation on the merged model when the method is mergeable
    save_checkpoint: bool = True  # best weights as an adapter dir (kronbench.export) in the Hydra run dir
    save_state: bool = True  # resumable state at each evaluation (kronbench/checkpointing.py)
    log_every: int = 50
    num_workers: int = 0
    compile: bool = False  # torch.compile the model (kronbench/compile.py); eager when it cannot compile
    compile_mode: str = choice(
        "default",
        ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
        "torch.compile mode; reduce-overhead and max-autotune replay CUDA graphs (compile_scope=model only)",
    )
    compile_scope: str = choice(
        "blocks",
        ("blocks", "model"),
        "blocks: each repeated layer compiled (one graph shared by identical layers, fast to compile); "
        "model: the whole forward",
    )
    compile_backend: str = "inductor"  # torch.compile backend ("aot_eager": trace only, for debugging)
    # false: evaluate eagerly (a short run, e.g. the trainer bench's, spends more compiling its evaluation
    # variants — a graph per grad mode and eval batch shape, a CUDA graph each — than they save)
    compile_eval: bool = True
    pad_to_multiple_of: int | None = (
        None  # pad batches to a multiple of this length (bounded shapes for compile)
    )
    profile_steps: int = (
        0  # > 0: GPU kernel time of this many steady steps into timing.profile (profiling.py)
    )
    group_by_length: bool = False  # batches of similar lengths (less padding); off in paper presets
    pin_memory: bool = True  # page-locked host batches when training on CUDA (faster host-to-device copies)
    progress_bar: bool = True
    trackers: list[str] = field(
        default_factory=list
    )  # accelerate trackers: "wandb", "tensorboard" (tracking.py)
    wandb: bool = False  # shorthand for trackers=[wandb]
    wandb_project: str = "kronbench"  # the project name of every tracker
    wandb_mode: str = choice(
        "offline", ("offline", "online", "disabled"), "W&B mode: offline needs no network, online a login"
    )

    def __post_init__(self) -> None:
        check_choices(self, "train")
        for name in self.trackers:
            if name not in ("wandb", "tensorboard"):
                raise ValueError(
                    f"train.trackers: {name!r} is not valid; choose from ['wandb', 'tensorboard']"
                )
        _check_min(self.pad_to_multiple_of, 1, "train.pad_to_multiple_of", " (or null: no bucketing)")
        _check_min(self.profile_steps, 0, "train.profile_steps", " (0: no profiler window)")
        if self.compile and self.compile_mode in CUDA_GRAPH_MODES and self.compile_scope == "blocks":
            raise ValueError(
                f"train.compile_mode={self.compile_mode} (CUDA graphs) needs train.compile_scope=model: at scope "
                "'blocks' the identical layers replay one CUDA graph, whose output buffer each layer's call "
                "overwrites while the next layer still reads it (max-autotune-no-cudagraphs works at both scopes)"
            )
        if self.adafactor_relative_step and self.optimizer != "adafactor":
            raise ValueError(
                f"train.adafactor_relative_step=true needs train.optimizer=adafactor, got {self.optimizer!r}"
            )
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError(
                f"train.epochs={self.epochs} and train.max_steps={self.max_steps} train nothing; "
                "set train.epochs > 0 or train.max_steps > 0"
            )
        for name in ("batch_size", "eval_batch_size", "grad_accum", "log_every"):
            _check_min(getattr(self, name), 1, f"train.{name}")
        for name in ("max_train_samples", "max_eval_samples"):
            _check_min(getattr(self, name), 1, f"train.{name}", " (null uses every row)")
        if self.eval_strategy == "steps":
            _check_min(self.eval_steps, 1, "train.eval_steps", " with train.eval_strategy=steps")
        for name in ("weight_decay", "warmup_steps", "max_grad_norm", "num_workers"):
            _check_min(getattr(self, name), 0, f"train.{name}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"train.warmup_ratio={self.warmup_ratio} is not valid; it must be in [0, 1)")
        if self.lr <= 0 and not (self.optimizer == "adafactor" and self.adafactor_relative_step):
            raise ValueError(f"train.lr={self.lr} is not valid; it must be > 0")


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
    output_dir: str = "outputs/results"  # result records root (the committed records: output_dir=results)
    force: bool = False  # rerun even if a successful record exists
    dry_run: bool = False  # print what would run and whether its record exists, then stop
    # what a paper preset assumes that no paper states, one entry per setting (merged across the preset's parts,
    # written to the record's config): {"train.lr": "RoBERTa scripts' value, no BERT script released", ...}
    assumptions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_min(self.seed, 0, "seed")


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


def unknown_keys(node: DictConfig | ListConfig, path: str = "") -> list[str]:
    """Keys of schema-typed nodes that their dataclass does not declare, each with the valid keys.

    Hydra's `+key=value` opens the struct flag to add a key, so `+train.epocs=1` composes; instantiation would
    then set it as a stray attribute and the run would train with it ignored.
    """
    problems: list[str] = []
    if node._is_none() or node._is_missing() or node._is_interpolation():
        return problems
    children = node.keys() if isinstance(node, DictConfig) else range(len(node))
    schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    declared = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else None
    for key in children:
        full = f"{path}.{key}" if path else str(key)
        if declared is not None and key not in declared:
            close = difflib.get_close_matches(str(key), declared, n=1)
            hint = f"did you mean {path + '.' if path else ''}{close[0]}? " if close else ""
            problems.append(
                f"unknown key {full!r} ({schema.__name__} has no {key!r}); {hint}valid keys: {declared}"
            )
            continue
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)):
            problems.extend(unknown_keys(child, full))
    return problems


def validate_config(cfg: DictConfig) -> RunConfig:
    """The composed config as a :class:`RunConfig`, or a :class:`ConfigError` naming every bad key or value.

    Runs right after composition (`python -m kronbench`, `--cfg job`, `-m`, `python -m kronbench.sweep`), so
    nothing is loaded or trained from a config that could not run: unknown keys, then every dataclass's
    `__post_init__` checks.
    """
    problems = unknown_keys(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        run_cfg = OmegaConf.to_object(cfg)
    except (ValueError, TypeError, OmegaConfBaseException) as err:
        raise ConfigError(str(err).split("\n    full_key:")[0]) from err
    if not isinstance(run_cfg, RunConfig):
        raise ConfigError(
            f"config root is {type(run_cfg).__name__}, expected RunConfig (is run_schema in defaults?)"
        )
    return run_cfg
