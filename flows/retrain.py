"""The `retrain` flow: the DVC stages in order, in the working directory, one Prefect task each.

    python -m flows.retrain      # `make flow`: in-process, no server, finetune here too

Deployed (prefect.yaml), it runs on the `cpu` pool and sends `finetune` to the `gpu` pool's
deployment; DVC still decides which stages are up to date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.dvc_runner import StageError
from flows.overrides import apply_overrides
from flows.tasks import publish_audit, publish_data_quality, publish_metrics, reproduce, reproduce_elsewhere, stage_options
from prodcat.core.params import load_params
from prodcat.core.pipeline import stage_names


@flow(name="retrain")
def retrain(overrides: dict[str, Any] | None = None, finetune_deployment: str | None = None) -> dict[str, dict[str, float]]:
    """Reproduce the pipeline; returns accuracy and macro-F1 per encoder variant.

    overrides: params.yaml keys to set first, dotted as in `dvc exp run -S` ({"finetune.epochs": 3}).
    finetune_deployment: run `finetune` as a run of this deployment ("finetune/finetune") instead of here.
    """
    workspace = Path.cwd()
    if overrides:
        apply_overrides(workspace, overrides)
    settings = load_params(workspace / "params.yaml").orchestration
    # Tasks are called one after another, never submitted: DVC never runs twice at once in a workspace.
    for stage in stage_names(workspace / "dvc.yaml"):
        try:
            if stage == "finetune" and finetune_deployment:
                reproduce_elsewhere.with_options(**stage_options(stage, settings, workspace))(workspace, stage, finetune_deployment)
            else:
                reproduce.with_options(**stage_options(stage, settings, workspace))(workspace, stage)
        except StageError as error:
            if stage == "validate":
                publish_data_quality(workspace, failure=str(error))
            raise
    publish_data_quality(workspace)
    publish_audit(workspace)
    return publish_metrics(workspace)


if __name__ == "__main__":
    retrain()
