"""The `predict` flow: batch scoring with `prodcat predict` and the model bundle in this working copy, and its report as an artifact."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.dvc_runner import run_command
from flows.tasks import stage_options
from prodcat.core.io import read_json
from prodcat.core.params import ClusterParams, load_params
from prodcat.inference.batch import report_path
from prodcat.inference.drift import report_markdown


def cluster_flags(cluster: ClusterParams) -> list[str]:
    """`prodcat predict`'s flags for the working copy's `cluster` params: scale out by editing params.yaml, not the flow."""
    if cluster.scheduler is not None:
        return ["--scheduler", cluster.scheduler]
    if cluster.local_workers:
        return ["--workers", str(cluster.local_workers), "--threads-per-worker", str(cluster.threads_per_worker)]
    return []


@task(cache_policy=NO_CACHE)
def score(workspace: Path, catalog: str, output: str, bundle: str, cluster: ClusterParams) -> None:
    """Run `prodcat predict`; it scores in chunks and writes the predictions and their report whole or not at all.

    A retry (a transient failure, a timeout) runs the same command, which resumes from the last chunk committed.
    """
    summary = run_command(
        workspace, "prodcat", "predict", ["--bundle", bundle, "--input", catalog, "--output", output, *cluster_flags(cluster)]
    )
    get_run_logger().info(summary.strip())


@task(cache_policy=NO_CACHE)
def publish_report(workspace: Path, output: str) -> dict:
    """The batch's drift and quality report as a markdown artifact (the Artifacts page keeps one per run)."""
    path = workspace / report_path(output)
    report = read_json(path)
    create_markdown_artifact(
        key="batch-report", markdown=report_markdown(report, path), description=f"Drift and quality of {output} ({path})"
    )
    return report


@flow(name="predict")
def predict(catalog: str, output: str, bundle: str = "models/bundle") -> str:
    """Predict the category (and top 3) of every product in `catalog` (CSV) into `output` (.parquet or .csv).

    `bundle` defaults to the champion bundle that the last `retrain` left in this working copy; chunks
    are scored on the Dask cluster its params.yaml names (`cluster`), in-process when none.
    """
    workspace = Path.cwd()
    params = load_params(workspace / "params.yaml")
    score.with_options(**stage_options("predict", params.orchestration, workspace))(workspace, catalog, output, bundle, params.cluster)
    publish_report(workspace, output)
    return output
