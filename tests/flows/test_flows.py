"""Prefect orchestration against a real server, with a process worker for each pool in its own working copy.

The module shares one `prefect server start` (127.0.0.1, a free port), one `prefect deploy --all` and
the two workers; each has its own PREFECT_HOME in a temp dir, and all are stopped even when a test
fails. The `gpu` worker's copy shares nothing with the `cpu` one but the DVC remote and the result
storage (object storage in production). An S3 server (moto, 127.0.0.1) runs alongside, its dummy
credentials in the workers' environment, for the test that hands `finetune` over through S3.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
import pytest
import yaml

from devtools.processes import background, free_port, run, run_tool, tool_env, wait_until_healthy
from devtools.s3_server import S3_ENV, S3Bucket, moto_s3, use_s3_remote
from devtools.scratch_repo import working_copy
from prodcat.core.pipeline import stage_names

STAGES = list(stage_names())
RUN_TIMEOUT = 300


@dataclass(frozen=True)
class Stack:
    cpu: Path  # the cpu worker's working copy: `retrain` runs here
    gpu: Path  # the gpu worker's working copy: `finetune` runs here
    remote: Path  # the DVC remote both copies use (.dvc/config's default)
    s3: S3Bucket  # a bucket the copies can use instead (`dvc remote modify --local`)
    logs: Path

    def log_tail(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path, tiny_bert: Path) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("prefect")
    logs = base / "logs"
    logs.mkdir()
    cpu = working_copy(base / "cpu", small_catalog, tiny_bert, orchestration={"retry_delay_seconds": 1})
    gpu = working_copy(base / "gpu", small_catalog, tiny_bert, orchestration={"retry_delay_seconds": 1})
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    shared = {
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(base / "results"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        **S3_ENV,
    }
    env = {name: value for name, value in tool_env(**shared).items() if name != "PRODCAT_WORKDIR"}

    def home(name: str, **extra: str) -> dict[str, str]:
        return {**env, "PREFECT_HOME": str(base / f"home-{name}"), **extra}

    with ExitStack() as cleanup, pytest.MonkeyPatch.context() as patch:
        bucket = cleanup.enter_context(moto_s3())
        server = cleanup.enter_context(
            background(
                ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], base, home("server"), logs / "server.log"
            )
        )
        wait_until_healthy(api_url, server, logs / "server.log")
        for pool in ["cpu", "gpu"]:
            run_tool(["prefect", "work-pool", "create", pool, "--type", "process"], base, home("cli"))
        run_tool(["prefect", "deploy", "--all"], cpu, home("cli"))
        for pool, copy, extra in [("cpu", cpu, []), ("gpu", gpu, ["--limit", "1"])]:
            command = ["prefect", "worker", "start", "--pool", pool, "--type", "process", *extra]
            cleanup.enter_context(background(command, copy, home(pool, PRODCAT_WORKDIR=str(copy)), logs / f"worker-{pool}.log"))

        for name, value in {**shared, "PREFECT_HOME": str(base / "home-tests")}.items():
            patch.setenv(name, value)
        from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

        with temporary_settings({PREFECT_API_URL: api_url, PREFECT_HOME: base / "home-tests"}):
            yield Stack(cpu=cpu, gpu=gpu, remote=base / "prodcat-dvc-remote", s3=bucket, logs=logs)


def start_retrain(stack: Stack, **parameters: Any):
    """A run of the `retrain` deployment, waited for; fails with the workers' logs if it does not end."""
    from prefect.deployments import run_deployment

    flow_run = run_deployment("retrain/retrain", parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1)
    assert flow_run.state.is_final(), f"retrain still {flow_run.state.name} after {RUN_TIMEOUT}s\n{stack.log_tail()}"
    return flow_run


def task_runs(flow_run_id: UUID, expected: set[str]) -> dict[str, Any]:
    """The flow run's task runs by name, once the server has recorded `expected` in a final state."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        by_name = {task_run.name: task_run for task_run in runs}
        if all(name in by_name and by_name[name].state.is_final() for name in expected) or time.monotonic() > deadline:
            return by_name
        time.sleep(0.5)


def child_runs(flow_run_id: UUID) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))


def artifacts(flow_run_id: UUID) -> dict[str, Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {artifact.key: artifact for artifact in found}


def describe(flow_run: Any, by_name: dict[str, Any]) -> str:
    """One line per task run, for the report and for failure messages."""
    lines = [f"flow run {flow_run.name}: {flow_run.state.name} {flow_run.state.message or ''}".rstrip()]
    lines += [f"  {name}: {task_run.state.name}, run_count={task_run.run_count}" for name, task_run in by_name.items()]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def first_run(stack: Stack):
    """The first `retrain` run on the fresh copies: every stage runs, finetune on the gpu worker."""
    flow_run = start_retrain(stack)
    return flow_run, task_runs(flow_run.id, set(STAGES))


def test_deployments_pools_and_schedule_are_registered(stack: Stack) -> None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        retrain = client.read_deployment_by_name("retrain/retrain")
        finetune = client.read_deployment_by_name("finetune/finetune")
        predict = client.read_deployment_by_name("predict/predict")
        pools = {pool.name: pool.type for pool in client.read_work_pools()}
    assert pools == {"cpu": "process", "gpu": "process"}
    assert retrain.work_pool_name == "cpu" and finetune.work_pool_name == "gpu" and predict.work_pool_name == "cpu"
    assert finetune.schedules == [] and predict.schedules == []
    assert [schedule.schedule.cron for schedule in retrain.schedules] == ["0 3 * * 1"]
    assert all(schedule.active for schedule in retrain.schedules)
    assert retrain.parameters == {"overrides": {}, "finetune_deployment": "finetune/finetune"}
    assert [d.global_concurrency_limit.limit for d in (retrain, finetune, predict)] == [1, 1, 1]
    assert finetune.job_variables["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert finetune.job_variables["env"]["HF_HUB_OFFLINE"] == "1"
    # The working copy is chosen on each worker at run time, not baked in at deploy time.
    assert retrain.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PRODCAT_WORKDIR }}"}}]


@pytest.mark.slow
def test_retrain_runs_every_stage_with_finetune_on_the_gpu_worker(stack: Stack, first_run) -> None:
    flow_run, by_name = first_run
    print("\n" + describe(flow_run, by_name))
    assert flow_run.state.is_completed(), f"{describe(flow_run, by_name)}\n{stack.log_tail()}"
    for stage in STAGES:
        assert by_name[stage].state.is_completed() and by_name[stage].run_count == 1, describe(flow_run, by_name)

    (child,) = child_runs(flow_run.id)
    assert child.work_pool_name == "gpu" and child.state.is_completed()
    # Trained in the gpu copy (it holds the checkpoints); the cpu copy got the model through the remote.
    assert len(list((stack.gpu / "models/checkpoints").glob("checkpoint-*"))) == 1  # the last epoch's only
    assert not list((stack.cpu / "models/checkpoints").iterdir())
    assert (stack.cpu / "models/finetuned/model.safetensors").is_file()
    assert any(stack.remote.rglob("*")), "nothing was pushed to the DVC remote"
    assert json.loads((stack.cpu / "metrics/finetune.json").read_text())["epochs"] == 2
    # The cpu copy's lock records the gpu copy's run: same inputs, same outputs but the checkpoints.
    here, there = (yaml.safe_load((copy / "dvc.lock").read_text())["stages"]["finetune"] for copy in (stack.cpu, stack.gpu))
    assert (here["cmd"], here["deps"], here["params"]) == (there["cmd"], there["deps"], there["params"])
    assert [out for out in here["outs"] if out["path"] != "models/checkpoints"] == [
        out for out in there["outs"] if out["path"] != "models/checkpoints"
    ]
    assert "Data and pipelines are up to date" in run(["dvc", "status"], stack.cpu).stdout

    metrics = json.loads((stack.cpu / "metrics/evaluate.json").read_text())
    found = artifacts(flow_run.id)
    print("\n".join(f"artifact {key} ({artifact.type}):\n{artifact.data}" for key, artifact in found.items() if key))
    table = found["retrain-metrics"]
    assert table.type == "table"
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    validation = json.loads((stack.cpu / "metrics/validation.json").read_text())
    champion = json.loads((stack.cpu / "metrics/champion.json").read_text())["name"]
    assert rows == [
        {"variant": variant, "champion": variant == champion, "validation_accuracy": validation[variant]["accuracy"], **scores}
        for variant, scores in metrics.items()
    ]
    assert [row["variant"] for row in rows if row["champion"]] == [champion]
    assert [row["variant"] for row in rows] == ["stock", "finetuned", "softmax", "sparse", "hybrid", "fusion"]
    quality = found["data-quality"]
    assert quality.type == "markdown"
    summary = json.loads((stack.cpu / "metrics/data_quality.json").read_text())
    row = f"| {summary['expectations']} | {summary['passed']} | 0 | {summary.get('warnings', 0)} | {summary['success_percent']} |"
    assert "Data quality: passed" in quality.data and row in quality.data
    assert all(f"| {check} | {value} |" in quality.data for check, value in summary.get("checks", {}).items())
    assert "reports/data_docs" in quality.data
    audit = found["catalog-audit"]
    assert audit.type == "markdown" and "## Catalog audit" in audit.data and "reports/audit/index.html" in audit.data


@pytest.mark.slow
def test_transient_failure_is_retried_and_the_run_completes(stack: Stack, first_run) -> None:
    # An I/O error on evaluate's first attempt only: the stage command fails once, then works.
    (stack.cpu / "fail_once.py").write_text(
        "import os, sys\nif os.path.exists(sys.argv[1]):\n    os.remove(sys.argv[1])\n    raise OSError('injected I/O error')\n"
    )
    (stack.cpu / ".fail-once").touch()
    dvc_yaml = (stack.cpu / "dvc.yaml").read_text()
    (stack.cpu / "dvc.yaml").write_text(
        dvc_yaml.replace("python -m stages.evaluate", "python fail_once.py .fail-once && python -m stages.evaluate")
    )

    flow_run = start_retrain(stack)
    by_name = task_runs(flow_run.id, set(STAGES))
    print("\n" + describe(flow_run, by_name))
    assert flow_run.state.is_completed(), f"{describe(flow_run, by_name)}\n{stack.log_tail()}"
    assert by_name["evaluate"].run_count == 2, describe(flow_run, by_name)
    assert all(by_name[stage].run_count == 1 for stage in STAGES if stage != "evaluate")  # the others ran once
    assert not (stack.cpu / ".fail-once").exists()
    assert child_runs(flow_run.id) == []  # finetune was up to date: nothing sent to the gpu pool
    assert "Data and pipelines are up to date" in run(["dvc", "status"], stack.cpu).stdout


@pytest.mark.slow
def test_predict_deployment_scores_a_catalog_with_the_bundle_and_publishes_its_report(stack: Stack, small_catalog: Path, first_run) -> None:
    from prefect.deployments import run_deployment

    output = stack.cpu / "predictions.csv"
    parameters = {"catalog": str(small_catalog), "output": str(output)}  # the champion
    flow_run = run_deployment("predict/predict", parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1)
    assert flow_run.state.is_completed(), f"{flow_run.state.name}: {flow_run.state.message}\n{stack.log_tail()}"
    predictions = pd.read_csv(output)
    assert len(predictions) == len(pd.read_csv(small_catalog))
    assert set(predictions["predicted"]) <= set(json.loads((stack.cpu / "data/processed/labels.json").read_text()))
    report = json.loads((stack.cpu / "predictions.csv.report.json").read_text())
    markdown = artifacts(flow_run.id)["batch-report"]
    print(markdown.data)
    assert markdown.type == "markdown" and f"## Batch report: {len(predictions)} products" in markdown.data
    assert f"| text length PSI | {report['text_length']['psi']:.3f} |" in markdown.data


@pytest.mark.slow
def test_failed_validation_fails_the_run_without_retries(stack: Stack) -> None:
    broken = stack.cpu / "broken.csv"
    broken.write_text("Uniq Id,Product Name,Category\n1,red ball,Toys\n1,blue cup,Kitchen\n", encoding="utf-8")
    params = (stack.cpu / "params.yaml").read_text()
    try:
        flow_run = start_retrain(stack, overrides={"catalog.path": str(broken)})
        by_name = task_runs(flow_run.id, {"validate"})
    finally:
        (stack.cpu / "params.yaml").write_text(params)
    print("\n" + describe(flow_run, by_name))
    assert flow_run.state.is_failed(), describe(flow_run, by_name)
    assert "validate: error:" in flow_run.state.message
    assert "expect_column_values_to_be_unique on column 'Uniq Id'" in flow_run.state.message
    assert by_name["validate"].state.is_failed() and by_name["validate"].run_count == 1
    assert set(by_name) & set(STAGES) == {"validate"}, "stages after a failed validation must not start"
    assert child_runs(flow_run.id) == []
    quality = artifacts(flow_run.id)["data-quality"].data
    print(quality)
    assert "Data quality: FAILED" in quality and "expect_column_values_to_be_unique on column 'Uniq Id'" in quality
    assert "reports/data_docs" in quality


def forget_finetune(copy: Path) -> str:
    """Drop `finetune` from the copy's dvc.lock, its model and the model's cache objects; the model folder's `.dir` hash."""
    lock = yaml.safe_load((copy / "dvc.lock").read_text())
    entry = lock["stages"].pop("finetune")
    (copy / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    model = next(out["md5"] for out in entry["outs"] if out["path"] == "models/finetuned")
    cache = copy / ".dvc/cache/files/md5"
    listing = cache / model[:2] / model[2:]
    for file in json.loads(listing.read_text()):
        (cache / file["md5"][:2] / file["md5"][2:]).unlink(missing_ok=True)
    listing.unlink()
    shutil.rmtree(copy / "models/finetuned")
    return model


@pytest.mark.slow
def test_finetune_is_handed_over_through_an_s3_remote(stack: Stack, first_run) -> None:
    # Both copies switch to the S3 remote. The cpu copy forgets finetune (lock entry, model, cache), so
    # retrain sends it to the gpu copy, which has it up to date: its model reaches the cpu copy through S3 only.
    prefix = "prodcat"
    for copy in (stack.cpu, stack.gpu):
        use_s3_remote(copy, f"s3://{stack.s3.name}/{prefix}", stack.s3.endpoint)
    try:
        model = forget_finetune(stack.cpu)
        flow_run = start_retrain(stack)
        by_name = task_runs(flow_run.id, set(STAGES))
        print("\n" + describe(flow_run, by_name))
        assert flow_run.state.is_completed(), f"{describe(flow_run, by_name)}\n{stack.log_tail()}"
        assert all(by_name[stage].run_count == 1 for stage in STAGES), describe(flow_run, by_name)
        (child,) = child_runs(flow_run.id)
        assert child.work_pool_name == "gpu" and child.state.is_completed()

        weights = "models/finetuned/model.safetensors"
        assert (stack.cpu / weights).read_bytes() == (stack.gpu / weights).read_bytes()
        processed = yaml.safe_load((stack.cpu / "dvc.lock").read_text())["stages"]["preprocess"]["outs"]
        inputs = next(out["md5"] for out in processed if out["path"] == "data/processed")
        keys = stack.s3.keys()
        # The cpu copy pushed the stage's inputs, the gpu copy the model: both went through the bucket.
        assert {f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}" for md5 in (inputs, model)} <= set(keys), keys
        assert "Data and pipelines are up to date" in run(["dvc", "status"], stack.cpu).stdout
    finally:
        for copy in (stack.cpu, stack.gpu):
            (copy / ".dvc/config.local").unlink(missing_ok=True)


def test_failures_are_told_apart() -> None:
    from flows.dvc_runner import DvcFailure, StageError, stage_failure

    stderr = (
        "validate: error: broken.csv failed 2 of 9 data-quality expectations:\n"
        "  - expect_column_to_exist on column 'About Product': the column is missing\n"
        "ERROR: failed to reproduce 'validate': failed to run: python -m stages.validate, exited with 1\n"
    )
    error = stage_failure("validate", stderr, 1)
    assert isinstance(error, StageError)
    assert str(error) == "\n".join(stderr.splitlines()[:2])
    crash = stage_failure("embed", "Traceback (most recent call last):\nOSError: [Errno 5] Input/output error\n", 1)
    assert isinstance(crash, DvcFailure) and "Input/output error" in str(crash)
    assert isinstance(stage_failure("finetune", "", -9), DvcFailure)  # killed: no message of its own


def test_overrides_keep_comments_and_are_validated(tmp_path: Path) -> None:
    from flows.overrides import apply_overrides
    from prodcat.core.params import ParamsError, load_params

    source = Path(__file__).resolve().parents[2] / "params.yaml"
    (tmp_path / "params.yaml").write_text(source.read_text())
    apply_overrides(tmp_path, {"finetune.epochs": 3, "orchestration.timeout_seconds.embed": 60})
    params = load_params(tmp_path / "params.yaml")
    assert params.finetune.epochs == 3 and params.orchestration.timeout_seconds["embed"] == 60
    assert (tmp_path / "params.yaml").read_text().count("#") == source.read_text().count("#")
    before = (tmp_path / "params.yaml").read_text()
    with pytest.raises(ParamsError, match=re.escape("finetune.epohcs")):
        apply_overrides(tmp_path, {"finetune.epohcs": 3})
    with pytest.raises(ParamsError, match=re.escape("data: Extra inputs are not permitted")):
        apply_overrides(tmp_path, {"data.catalog": "other.csv"})
    assert (tmp_path / "params.yaml").read_text() == before


def test_a_timeout_stops_the_stage_and_everything_it_started(tmp_path: Path) -> None:
    """Prefect's task timeout (an alarm in the flow's main thread) must not leave the stage running."""
    import psutil
    from prefect.utilities.timeout import timeout

    from flows.dvc_runner import run_command

    (tmp_path / "sleeper.py").write_text(
        "import pathlib, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "pathlib.Path('child.pid').write_text(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(TimeoutError), timeout(seconds=3):
        run_command(tmp_path, "sleeper", "sleep", [])
    assert time.monotonic() - started < 15
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_the_predict_flow_scales_out_on_the_cluster_its_params_name() -> None:
    from flows.predict import cluster_flags
    from prodcat.core.params import ClusterParams

    assert cluster_flags(ClusterParams()) == []  # no cluster: in-process, exactly as before
    assert cluster_flags(ClusterParams(local_workers=4, threads_per_worker=2)) == ["--workers", "4", "--threads-per-worker", "2"]
    assert cluster_flags(ClusterParams(scheduler="tcp://10.0.0.5:8786")) == ["--scheduler", "tcp://10.0.0.5:8786"]
