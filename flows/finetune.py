"""The `finetune` flow: the finetune stage for another working copy, run in this worker's own (the GPU pool's).

The parent `retrain` run sends its params.yaml and dvc.lock; the stage's inputs come from the DVC
remote, its model goes back there, and its lock entry, metrics and plots return as this run's
result (persisted as JSON where the parent can read it: shared result storage, see README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.dvc_runner import repro
from flows.handoff import hand_off, take_inputs
from flows.tasks import stage_options
from prodcat.core.params import parse_params

STAGE = "finetune"


@task(cache_policy=NO_CACHE)
def reproduce_here(workspace: Path, params_yaml: str, dvc_lock: str) -> dict[str, Any]:
    """Pull the inputs, run the stage through DVC (skipped if this copy already has it), push the outputs."""
    take_inputs(workspace, STAGE, params_yaml, dvc_lock)
    ran = repro(workspace, STAGE)
    get_run_logger().info("%s: %s", STAGE, "reproduced" if ran else "up to date here, skipped by DVC")
    return hand_off(workspace, STAGE)


@flow(name="finetune", persist_result=True, result_serializer="json")  # JSON, not pickle: read by another machine
def finetune(params_yaml: str, dvc_lock: str) -> dict[str, Any]:
    """Fine-tune here for the working copy whose params.yaml and dvc.lock are given; returns the hand-off."""
    settings = parse_params(yaml.safe_load(params_yaml)).orchestration
    return reproduce_here.with_options(**stage_options(STAGE, settings, Path.cwd()))(Path.cwd(), params_yaml, dvc_lock)
