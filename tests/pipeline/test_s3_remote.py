"""The DVC remote on S3 (moto on 127.0.0.1): two clones standing in for two machines, and storage errors retried.

Credentials come from the environment (the `s3` fixture); the remote's URL and endpoint go to each
clone's git-ignored `.dvc/config.local`, as README's "Artifacts in S3" tells users.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devtools.processes import run
from devtools.s3_server import S3_ENV, FaultyProxy, S3Bucket, faulty_proxy, use_s3_remote
from devtools.scratch_repo import ROOT, commit_all
from flows.handoff import stage_outputs

PREFIX = "prodcat"


def cache_objects(repo: Path) -> set[str]:
    """The DVC cache's objects as remote keys under PREFIX (`files/md5/ab/cdef...`)."""
    cache = repo / ".dvc/cache"
    return {f"{PREFIX}/{path.relative_to(cache).as_posix()}" for path in (cache / "files").rglob("*") if path.is_file()}


def lock_objects(repo: Path) -> set[str]:
    """Remote keys of the cached outputs dvc.lock records (a folder's `.dir` listing, a file's content)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    cached = {(stage, output.path) for stage in lock for output in stage_outputs(repo, stage) if output.cache}
    md5s = [out["md5"] for stage, entry in lock.items() for out in entry.get("outs", []) if (stage, out["path"]) in cached]
    return {f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}" for md5 in md5s}


def assert_no_credentials_in_config(repo: Path) -> None:
    for config in (repo / ".dvc/config", repo / ".dvc/config.local"):
        text = config.read_text()
        assert S3_ENV["AWS_SECRET_ACCESS_KEY"] not in text and "access_key" not in text, config


@pytest.mark.slow
def test_a_second_clone_pulls_from_s3_and_finds_the_pipeline_up_to_date(trained_project: Path, tmp_path: Path, s3: S3Bucket) -> None:
    machine_a = trained_project  # already reproduced (session fixture)
    # What git carries from machine A: code, dvc.lock, uncached metrics and plots, the committed .dvc/config
    # (remote `storage`); .gitignore keeps the machine-local checkpoints and embedding cache out, as in the project.
    shutil.copy2(ROOT / ".gitignore", machine_a / ".gitignore")
    shutil.copy2(ROOT / ".dvc/config", machine_a / ".dvc/config")
    commit_all(machine_a, "trained on machine A")
    url = f"s3://{s3.name}/{PREFIX}"
    try:
        use_s3_remote(machine_a, url, s3.endpoint)
        run(["dvc", "push"], machine_a)
        pushed = set(s3.keys())
        assert lock_objects(machine_a) <= pushed <= cache_objects(machine_a)

        machine_b = tmp_path / "machine-b"
        run(["git", "clone", "-q", str(machine_a), str(machine_b)], tmp_path)
        use_s3_remote(machine_b, url, s3.endpoint)
        run(["dvc", "pull"], machine_b)
        assert cache_objects(machine_b) == pushed

        # Only the machine-local outputs (uncached, never pushed) are missing; `--allow-missing` skips them.
        status = json.loads(run(["dvc", "status", "--json"], machine_b).stdout)
        assert status == {
            # adapt.method none leaves its curve folder empty, which git does not carry
            "adapt": [{"changed outs": {"models/adapt_checkpoints": "deleted", "dvclive/adapt/plots/metrics": "deleted"}}],
            "finetune": [{"changed outs": {"models/checkpoints": "deleted"}}],
            "embed": [{"changed outs": {"data/embedding_cache": "deleted"}}],
        }
        repro = run(["dvc", "repro", "--allow-missing"], machine_b).stdout
        assert "Running stage" not in repro and "Data and pipelines are up to date." in repro, repro
        metrics = [json.loads(run(["dvc", "metrics", "show", "--json"], machine).stdout) for machine in (machine_a, machine_b)]
        assert metrics[0] == metrics[1]
        assert metrics[1][""]["data"]["metrics/evaluate.json"]["data"]["sparse"]["accuracy"] > 0
        bundle = sorted(path.relative_to(machine_a) for path in (machine_a / "models/bundle").rglob("*") if path.is_file())
        assert bundle and all((machine_a / path).read_bytes() == (machine_b / path).read_bytes() for path in bundle)
        assert run(["git", "status", "--porcelain"], machine_b).stdout == ""  # nothing tracked changed
        for machine in (machine_a, machine_b):
            assert_no_credentials_in_config(machine)
    finally:
        (machine_a / ".dvc/config.local").unlink(missing_ok=True)


@pytest.fixture()
def small_repo(tmp_path: Path) -> Path:
    """A git + DVC repo with the project's .dvc/config and one tracked file, not pushed yet."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
    shutil.copy2(ROOT / ".dvc/config", repo / ".dvc/config")
    (repo / "blob.bin").write_bytes(bytes(range(256)) * 64)
    run(["dvc", "add", "blob.bin"], repo)
    commit_all(repo, "one tracked file")
    return repo


@pytest.mark.parametrize(("status", "code"), [(500, "InternalError"), (503, "SlowDown")])
def test_transient_storage_errors_are_retried(small_repo: Path, s3: S3Bucket, status: int, code: str) -> None:
    # Two failed uploads in a row and the push goes through: botocore retries by default (legacy mode, 5 attempts
    # per request, exponential backoff); s3fs retries SlowDown again on top, even with AWS_MAX_ATTEMPTS=1.
    proxy = FaultyProxy(s3.endpoint, method="PUT", failures=2, status=status, code=code)
    with faulty_proxy(proxy) as endpoint:
        use_s3_remote(small_repo, f"s3://{s3.name}/{PREFIX}", endpoint)
        run(["dvc", "push"], small_repo)
    assert proxy.failed == 2
    assert s3.keys() == sorted(cache_objects(small_repo))


def test_storage_errors_past_the_retries_fail_the_push_as_a_retryable_dvc_failure(
    small_repo: Path, s3: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.dvc_runner import DvcFailure, checked

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's own setting, read from the worker's environment
    proxy = FaultyProxy(s3.endpoint, method="PUT", failures=1000)
    with faulty_proxy(proxy) as endpoint:
        use_s3_remote(small_repo, f"s3://{s3.name}/{PREFIX}", endpoint)
        with pytest.raises(DvcFailure) as failure:  # the flows retry a DvcFailure (flows/tasks.py)
            checked(["push"], small_repo)
    print(failure.value)
    assert proxy.failed == 2  # AWS_MAX_ATTEMPTS, then DVC gives up
    assert "dvc push failed (exit 1)" in str(failure.value)
    assert "InternalError" in str(failure.value) and "1 files failed to upload" in str(failure.value)
    assert s3.keys() == []
