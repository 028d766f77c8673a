"""Shared fixtures: a small synthetic catalog, a tiny BERT, and a throwaway copy of the project as a git+DVC repo.

Helpers live in the repository's `devtools` package (pytest puts the repository root on the path: pyproject's `pythonpath`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.s3_server import S3_ENV, S3_RETRY_ENV, S3Bucket, moto_s3
from devtools.scratch_repo import commit_all, copy_pipeline, small_run, write_params
from devtools.tiny_bert import build_tiny_bert

# Offline, quiet, and git identities for the throwaway repos; set before any library reads them.
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DVC_NO_ANALYTICS": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GIT_AUTHOR_NAME": "prodcat tests",
        "GIT_AUTHOR_EMAIL": "tests@prodcat.invalid",
        "GIT_COMMITTER_NAME": "prodcat tests",
        "GIT_COMMITTER_EMAIL": "tests@prodcat.invalid",
    }
)


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 rows of the synthetic Amazon-schema catalog, written as CSV."""
    from prodcat.data.synth import generate_catalog

    path = tmp_path_factory.mktemp("catalog") / "catalog.csv"
    generate_catalog(n_rows=400, seed=11).to_csv(path, index=False, lineterminator="\n")
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path) -> Path:
    """A raw HF BERT folder (2 layers, width 32) with a WordPiece vocab from the catalog's product names."""
    import pandas as pd

    names = pd.read_csv(small_catalog, dtype=str, keep_default_na=False)["Product Name"].tolist()
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert", names)


@pytest.fixture()
def project(tmp_path: Path, small_catalog: Path, tiny_bert: Path) -> Path:
    """A copy of the pipeline code in a fresh git + DVC repo: small catalog, tiny encoder, two short epochs."""
    repo = copy_pipeline(tmp_path / "project")
    write_params(repo, small_catalog, **small_run(tiny_bert))
    commit_all(repo, "pipeline code")
    return repo


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path, tiny_bert: Path) -> Path:
    """The `project` after one `dvc repro`, shared by the tests that only read what it trained (the bundle); slow."""
    from devtools.processes import run

    repo = copy_pipeline(tmp_path_factory.mktemp("trained") / "project")
    write_params(repo, small_catalog, **small_run(tiny_bert))
    commit_all(repo, "pipeline code")
    run(["dvc", "repro"], repo)
    return repo


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """An empty bucket on a moto S3 server (127.0.0.1), with dummy credentials and botocore's default retries in the environment."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    for name in S3_RETRY_ENV:
        monkeypatch.delenv(name, raising=False)
    with moto_s3() as bucket:
        yield bucket
