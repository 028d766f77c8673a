"""Throwaway copies of the pipeline: what tests and benchmarks run `dvc repro` in, away from the real workspace."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_FILES = ["dvc.yaml", "params.yaml", "stages", "prodcat", "profiles", ".dvcignore"]


def copy_pipeline(repo: Path) -> Path:
    """Copy the pipeline's code and params into `repo`, a fresh git + DVC repository (one commit, no outputs)."""
    repo.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, repo / name)
    return repo


def commit_all(repo: Path, message: str) -> None:
    """`git init` and `dvc init` where needed, then commit everything: DVCLive and `dvc exp` want a baseline commit."""
    dvc = [sys.executable, "-m", "dvc"]
    commands = [] if (repo / ".git").exists() else [["git", "init", "-q"], [*dvc, "init", "-q"], [*dvc, "config", "core.analytics", "false"]]
    for command in [*commands, ["git", "add", "-A"], ["git", "commit", "-qm", message]]:
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
