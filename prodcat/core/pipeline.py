"""The pipeline's shape, read from the one place it is written down: a working copy's `dvc.yaml`.

Flows, benchmarks and tests take the stage list from here, so adding a stage to `dvc.yaml` is the
whole change for them. Its `${...}` are filled in as DVC fills them (params.yaml, then the `vars` files:
paths.yaml's artifact paths). Read only when called, never at import: the library runs without a repository.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DVC_YAML = Path("dvc.yaml")  # in the working directory, as `dvc` itself finds it
DEFAULT_VARS = "params.yaml"  # DVC's vars without a `vars` entry
TEMPLATE = re.compile(r"\$\{\s*([\w.]+)\s*\}")

# Work the flows run that is not a DVC stage: batch scoring (`prodcat predict`, the `predict` flow).
TASKS_OUTSIDE_DVC = ("predict",)


def stage_specs(dvc_yaml: Path = DVC_YAML) -> dict[str, dict[str, Any]]:
    """Each stage's entry of dvc.yaml (cmd, deps, params, outs, metrics, plots), in pipeline order, templates filled in."""
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
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    context: dict[str, Any] = {}
    for name in [DEFAULT_VARS, *pipeline.get("vars", [])]:
        if (file := path.parent / name).is_file():
            context |= yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    return _filled(pipeline["stages"], context)


def _filled(node: Any, context: dict[str, Any]) -> Any:
    """`node` with each `${dotted.key}` replaced by its value in `context` (dict keys too: an out with options)."""
    if isinstance(node, str):
        return TEMPLATE.sub(lambda match: str(_lookup(context, match[1])), node)
    if isinstance(node, list):
        return [_filled(item, context) for item in node]
    if isinstance(node, dict):
        return {_filled(key, context): _filled(value, context) for key, value in node.items()}
    return node


def _lookup(context: dict[str, Any], dotted: str) -> Any:
    value: Any = context
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"dvc.yaml: ${{{dotted}}} is not defined in {DEFAULT_VARS} or the vars files")
        value = value[part]
    return value
