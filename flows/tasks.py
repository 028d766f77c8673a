"""Prefect tasks around the DVC workspace: one task per stage, retried, backed off and timed out per params.yaml."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
from prefect import Task, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.deployments import run_deployment
from prefect.states import Cancelling
from prefect.tasks import exponential_backoff

from flows.dvc_runner import DvcFailure, StageError, changes, repro
from flows.handoff import share_inputs, take_over
from prodcat.core.io import read_json
from prodcat.core.params import OrchestrationParams
from prodcat.core.paths import PATHS_YAML, load_paths
from prodcat.core.pipeline import task_names

AUDIT_TOP_ROWS = 10  # review rows quoted in the audit artifact


def retry_unless_stage_error(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry transient failures only: a stage that rejected its inputs would reject them again."""
    return not isinstance(state.result(raise_on_failure=False), StageError)


def stage_options(stage: str, settings: OrchestrationParams, workspace: Path) -> dict[str, Any]:
    """Task options for `stage`: named after it, retried with exponential backoff, stopped at its timeout.

    The timeouts are checked against the tasks of the working copy's dvc.yaml here, where a flow runs.
    """
    return {
        "name": stage,
        "task_run_name": stage,
        "retries": settings.retries,
        "retry_delay_seconds": exponential_backoff(settings.retry_delay_seconds),
        "retry_condition_fn": retry_unless_stage_error,
        "timeout_seconds": settings.timeouts(task_names(workspace / "dvc.yaml"))[stage],
    }


# No Prefect caching anywhere: DVC alone decides what is up to date.
@task(cache_policy=NO_CACHE)
def reproduce(workspace: Path, stage: str) -> bool:
    """Run `stage` through DVC in this working copy; DVC skips it when nothing it depends on changed."""
    ran = repro(workspace, stage)
    get_run_logger().info("%s: %s", stage, "reproduced" if ran else "up to date, skipped by DVC")
    return ran


@task(cache_policy=NO_CACHE)
def reproduce_elsewhere(workspace: Path, stage: str, deployment: str) -> bool:
    """Run `stage` as a flow run of `deployment` (another pool, its own working copy) and adopt its outputs.

    Nothing is sent when DVC finds the stage up to date here. Inputs and outputs travel through the
    DVC remote; the other copy's lock entry, metrics and plots come back as its flow run's result.
    """
    logger = get_run_logger()
    if not changes(workspace, stage):
        logger.info("%s: up to date, skipped by DVC", stage)
        return False
    share_inputs(workspace, stage)
    parameters = {
        "params_yaml": (workspace / "params.yaml").read_text(encoding="utf-8"),
        "dvc_lock": (workspace / "dvc.lock").read_text(encoding="utf-8"),
    }
    child = run_deployment(deployment, parameters=parameters, timeout=0)
    logger.info("%s: sent to %s as flow run %r", stage, deployment, child.name)
    child = _wait_or_cancel(child.id)
    if child.state.is_crashed():
        raise DvcFailure(f"{deployment} flow run {child.name!r} crashed: {child.state.message}")
    if not child.state.is_completed():
        raise StageError(f"{deployment} flow run {child.name!r} ended {child.state.name}: {child.state.message}")
    take_over(workspace, stage, child.state.result())
    logger.info("%s: reproduced by %s, outputs pulled from the DVC remote", stage, deployment)
    return True


def _wait_or_cancel(flow_run_id: UUID, poll_seconds: float = 2.0) -> FlowRun:
    """Wait for a flow run to end; if we stop waiting first (timeout, cancellation), cancel it too."""
    with get_client(sync_client=True) as client:
        try:
            while True:
                run = client.read_flow_run(flow_run_id)
                if run.state and run.state.is_final():
                    return run
                time.sleep(poll_seconds)
        except BaseException:
            client.set_flow_run_state(flow_run_id, Cancelling(message="the parent run stopped waiting"), force=True)
            raise


@task(cache_policy=NO_CACHE)
def publish_metrics(workspace: Path) -> dict[str, dict[str, float]]:
    """Validation and test scores per variant, the champion marked, as a table artifact (the Artifacts page keeps its history)."""
    paths = load_paths(workspace / PATHS_YAML)
    metrics, validation = read_json(workspace / paths.evaluate_report), read_json(workspace / paths.validation_report)
    champion = read_json(workspace / paths.champion_report)["name"]
    create_table_artifact(
        key="retrain-metrics",
        table=[metrics_row(variant, scores, validation[variant], champion) for variant, scores in metrics.items()],
        description=f"Per variant: validation accuracy ({paths.validation_report.as_posix()}), test accuracy and macro-F1 "
        f"({paths.evaluate_report.as_posix()}); the champion was chosen on validation",
    )
    return metrics


def metrics_row(variant: str, test: dict[str, float], validation: dict[str, float], champion: str) -> dict[str, object]:
    return {"variant": variant, "champion": variant == champion, "validation_accuracy": validation["accuracy"], **test}


@task(cache_policy=NO_CACHE)
def publish_data_quality(workspace: Path, failure: str | None = None) -> None:
    """The data-quality outcome as a markdown artifact: the summary, or why validation failed; and the Data Docs path."""
    paths = load_paths(workspace / PATHS_YAML)
    create_markdown_artifact(
        key="data-quality",
        markdown=quality_markdown(failure or read_json(workspace / paths.data_quality), workspace / paths.data_docs),
        description=f"Great Expectations outcome for the catalog ({paths.data_quality.as_posix()}, {paths.data_docs.as_posix()})",
    )


def quality_markdown(outcome: dict[str, Any] | str, data_docs: Path) -> str:
    """A passed suite's summary and measured checks as tables, a failed one's message as is; then the Data Docs path."""
    index = data_docs / "index.html"
    report = index if index.is_file() else data_docs
    docs = f"Data Docs: `{report}`" if report.exists() else f"No Data Docs report (`{data_docs}` does not exist)."
    if isinstance(outcome, str):
        return "\n".join(["## Data quality: FAILED", "", "```", outcome, "```", "", docs])
    verdict = "passed" if outcome["success"] else "FAILED"
    lines = [
        f"## Data quality: {verdict}",
        "",
        "| expectations | passed | failed | warnings | success % |",
        "|---:|---:|---:|---:|---:|",
        f"| {outcome['expectations']} | {outcome['passed']} | {outcome['failed']} | {outcome.get('warnings', 0)} | {outcome['success_percent']} |",
    ]
    if checks := outcome.get("checks"):
        lines += ["", "| check | measured |", "|---|---:|", *(f"| {name} | {value} |" for name, value in checks.items())]
    return "\n".join([*lines, "", docs])


@task(cache_policy=NO_CACHE)
def publish_audit(workspace: Path) -> None:
    """The catalog audit as a markdown artifact: flagged shares per split, the top of the review queue, where the page is."""
    paths = load_paths(workspace / PATHS_YAML)
    queue = pd.read_csv(workspace / paths.audit / "label_issues.csv", dtype={"id": str}, keep_default_na=False)
    create_markdown_artifact(
        key="catalog-audit",
        markdown=audit_markdown(read_json(workspace / paths.audit_report), queue, workspace / paths.audit),
        description=f"Suspected label errors, near-duplicates, leakage and outliers ({paths.audit_report.as_posix()}, {paths.audit.as_posix()})",
    )


def audit_markdown(metrics: dict[str, dict[str, float]], queue: pd.DataFrame, report: Path) -> str:
    """Shares flagged per split and issue as a table, the first review rows, and the page and CSV to work from."""
    issues = list(dict.fromkeys(issue for shares in metrics.values() for issue in shares if issue != "rows"))
    lines = [
        "## Catalog audit",
        "",
        f"| split | rows | {' | '.join(issues)} |",
        f"|---|---:|{'---:|' * len(issues)}",
        *(
            f"| {split} | {shares['rows']} | {' | '.join(f'{shares[i]:.1%}' if i in shares else '' for i in issues)} |"
            for split, shares in metrics.items()
        ),
        "",
        f"Top {min(AUDIT_TOP_ROWS, len(queue))} of {len(queue)} review rows:",
        "",
        "| id | issue | given | suggested | score | split |",
        "|---|---|---|---|---:|---|",
        *(
            f"| {row.id} | {row.issue} | {row.given_label} | {row.suggested_label} | {row.score} | {row.split} |"
            for row in queue.head(AUDIT_TOP_ROWS).itertuples()
        ),
        "",
        f"Review page: `{report / 'index.html'}`; every row: `{report / 'label_issues.csv'}`. Fixes go to the corrections file.",
    ]
    return "\n".join(lines)
