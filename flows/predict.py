"""The `predict` flow: batch scoring with stages/predict.py and the models `retrain` left in this working copy."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.tasks import stage_options
from flows.dvc_runner import run_stage_cli
from prodcat.params import load_params


@task(cache_policy=NO_CACHE)
def score(workspace: Path, catalog: str, output: str, variant: str | None) -> None:
    """Run the prediction CLI; it validates the catalog first and writes the output whole or not at all."""
    chosen = ["--variant", variant] if variant else []  # default: the champion
    summary = run_stage_cli(workspace, "predict", [*chosen, "--input", catalog, "--output", output])
    get_run_logger().info(summary.strip())


@flow(name="predict")
def predict(catalog: str, output: str, variant: str | None = None) -> str:
    """Predict the category (and top 3) of every product in `catalog` (CSV) into `output` (.parquet or .csv).

    `variant` defaults to the champion that the last `retrain` chose on validation.
    """
    workspace = Path.cwd()
    settings = load_params(workspace / "params.yaml").orchestration
    score.with_options(**stage_options("predict", settings))(workspace, catalog, output, variant)
    return output
