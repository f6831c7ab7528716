"""One run end to end: validated config → data → model + method → train/evaluate → one result record."""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from omegaconf import DictConfig, OmegaConf

from kronbench import methods as _methods  # noqa: F401  (registers methods)
from kronbench import preflight
from kronbench.checkpointing import remove_state, state_dir
from kronbench.config import RunConfig, validate_config
from kronbench.distributed import make_accelerator
from kronbench.experiment import current_experiment_cell
from kronbench.identity import identify
from kronbench.models import load_model
from kronbench.registry import get_method
from kronbench.report import quiet_third_party, summary_lines
from kronbench.results import (
    SCHEMA_VERSION,
    UnreadableRecord,
    environment,
    load_record,
    record_state,
    write_record,
)
from kronbench.tasks import build_task
from kronbench.tasks.data import load_raw_splits
from kronbench.tasks.splits import apply_protocol
from kronbench.tracking import log_final, start_tracking
from kronbench.train import EvalSplit, Trainer

log = logging.getLogger("kronbench")


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Instantiate the dataclasses (unknown keys, then every `__post_init__` check: `config.validate_config`)."""
    return validate_config(cfg)


def truncate(ds, limit: int | None):
    return ds if limit is None or limit >= len(ds) else ds.select(range(limit))


def hydra_context() -> tuple[list[str], Path | None]:
    """The command-line overrides and the Hydra run directory, when running under Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        return list(hc.overrides.task), Path(hc.runtime.output_dir)
    except ValueError:  # not under @hydra.main (tests compose configs directly)
        return [], None


def run(cfg: DictConfig, run_dir: Path | None = None) -> dict[str, Any]:
    """Execute one run (or skip it if its record is complete) and return its record."""
    run_cfg = to_run_config(cfg)
    quiet_third_party()
    overrides, hydra_dir = hydra_context()
    run_dir = run_dir or hydra_dir
    config = OmegaConf.to_container(cfg, resolve=True)
    method_cls = get_method(run_cfg.method.name)
    identity = identify(run_cfg, config, current_experiment_cell(cfg))
    variant, path = identity.variant, identity.path

    state, reason = record_state(path)
    if run_cfg.dry_run:
        print(f"[{state}] {path}" + (f"  ({reason})" if reason else ""))
        return {"status": state, "path": str(path)}
    if state == "done" and not run_cfg.force:
        log.info("skip: %s exists (force=true reruns it)", path)
        return load_record(path)
    if (
        state == "unreadable" and not run_cfg.force
    ):  # never train over a file we cannot read: it may be a result
        raise UnreadableRecord(
            f"{reason}; it is kept as it is: force=true replaces it with this run's record"
        )

    preflight.check_outputs(run_cfg, path, run_dir)  # before anything is loaded: never train into a dead end

    # multirun executes several runs in one process: forget the previous run's precision settings (the
    # distributed PartialState is kept)
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = make_accelerator(run_cfg.train, str(run_dir or run_cfg.output_dir))
    if run_cfg.force and accelerator.is_main_process:  # force reruns from scratch, never from a saved state
        remove_state(path)
    accelerator.wait_for_everyone()
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": "running",
        "task": run_cfg.task.name,
        "task_version": run_cfg.task.version,
        "model": run_cfg.model.name,
        "method": run_cfg.method.name,
        "variant": variant,
        "seed": run_cfg.seed,
        "experiment": identity.experiment.as_record(),
        "identity": {"run_hash": identity.run_hash, "data": identity.data, "weights": identity.weights},
        "config": config,
        "overrides": overrides,
        "env": environment(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tracking = False
    t_start = time.perf_counter()
    try:
        raw, source = load_raw_splits(run_cfg.task, run_cfg.data_dir)
        preflight.check_data(run_cfg.task, raw, run_cfg.data_dir)  # empty splits, bad rows: file, row, column
        splits = apply_protocol(run_cfg.task, raw)
        set_seed(run_cfg.seed)  # before the head and any adapter are created: runs are reproducible
        model, tokenizer = load_model(run_cfg.model, run_cfg.task)
        method = method_cls(run_cfg.method, run_cfg.model)
        report = method.apply(model)
        log.info(
            "%s: %d targets, %d trainable / %d total parameters",
            run_cfg.method.name,
            len(report.targets),
            report.trainable,
            report.total,
        )
        record["params"] = report.as_dict()

        task = build_task(run_cfg.task, tokenizer, run_cfg.model)
        train_raw = truncate(splits.train, run_cfg.train.max_train_samples)
        val_raw = truncate(splits.validation, run_cfg.train.max_eval_samples)
        test_raw = truncate(splits.test, run_cfg.train.max_eval_samples) if splits.test is not None else None
        with accelerator.main_process_first():
            train_ds = task.preprocess(train_raw, "train")
            validation = EvalSplit("validation", task.preprocess(val_raw, "validation"), val_raw)
            report_split = (
                EvalSplit("test", task.preprocess(test_raw, "test"), test_raw)
                if test_raw is not None
                else validation
            )
        record["data"] = {
            "source": source,
            "split_protocol": splits.protocol,
            "raw_sizes": splits.sizes(),
            "used_sizes": {
                "train": len(train_raw),
                "validation": len(val_raw),
                "test": len(test_raw) if test_raw is not None else None,
            },
            "reported_split": report_split.name,
            "note": splits.note,
        }
        tracking = start_tracking(accelerator, run_cfg.train, record, run_dir)
        trainer = Trainer(
            model,
            method,
            task,
            run_cfg.train,
            run_cfg.task.main_metric,
            accelerator,
            run_dir,
            tracking,
            state_dir=state_dir(path),
        )
        result = trainer.fit(train_ds, validation, report_split, run_cfg.seed)
        record["metrics"] = {
            "main_metric": run_cfg.task.main_metric,
            "score": result.report["metrics"][run_cfg.task.main_metric],
            "report": result.report,
            "best": result.best,
            "final": result.final,
            "evals": result.evals,
        }
        record["timing"] = {**result.timing, "wall_seconds": round(time.perf_counter() - t_start, 3)}
        record["memory"] = result.memory
        record["distributed"] = result.distributed
        record["checkpoint"] = result.checkpoint
        record["status"] = "completed"
    except Exception as err:
        record["status"] = "failed"
        record["error"] = {
            "type": type(err).__name__,
            "message": str(err),
            "traceback": traceback.format_exc(),
        }
        record["timing"] = {"wall_seconds": round(time.perf_counter() - t_start, 3)}
        if accelerator.is_main_process:
            written = write_record(path, record)
            log.error("run failed; record written to %s", written)
        raise
    finally:
        if tracking:
            if record["status"] == "completed":
                log_final(accelerator, record)
            accelerator.end_training()
    if accelerator.is_main_process:
        written = write_record(path, record)
        remove_state(path)  # the record is complete: the run never resumes again
        for line in summary_lines(record, str(written)):
            log.info(line)
    return record
