"""The pipeline's shape, read from the one place it is written down: a working copy's `dvc.yaml`.

Flows, benchmarks and tests take the stage list from here, so adding a stage to `dvc.yaml` is the
whole change for them. Read only when called, never at import: the library runs without a repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

DVC_YAML = Path("dvc.yaml")  # in the working directory, as `dvc` itself finds it

# Work the flows run that is not a DVC stage: batch scoring (`prodcat predict`, the `predict` flow).
TASKS_OUTSIDE_DVC = ("predict",)


def stage_specs(dvc_yaml: Path = DVC_YAML) -> dict[str, dict[str, Any]]:
    """Each stage's entry of dvc.yaml (cmd, deps, params, outs, metrics, plots), in pipeline order."""
    path = Path(dvc_yaml).resolve()
    return _read(path, path.stat().st_mtime_ns)


def stage_names(dvc_yaml: Path = DVC_YAML) -> tuple[str, ...]:
    """The DVC stages in the order dvc.yaml lists them (which is their run order)."""
    return tuple(stage_specs(dvc_yaml))


def task_names(dvc_yaml: Path = DVC_YAML) -> tuple[str, ...]:
    """What the flows run and time out: the DVC stages, then the work outside DVC."""
    return (*stage_names(dvc_yaml), *TASKS_OUTSIDE_DVC)


@cache
def _read(path: Path, mtime_ns: int) -> dict[str, dict[str, Any]]:  # re-read when the file changes
    return yaml.safe_load(path.read_text(encoding="utf-8"))["stages"]
