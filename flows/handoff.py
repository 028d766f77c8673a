"""Handing a stage over between working copies (the GPU worker's and the parent's) through the DVC remote.

The stage's inputs are pushed by the copy that asks and pulled by the one that runs it; its cached
outputs travel back through the remote, its lock entry and small uncached reports as the flow run's
result. What a stage reads and writes comes from dvc.yaml (prodcat.core.pipeline).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flows.dvc_runner import StageError, changes, checked
from prodcat.core.pipeline import stage_specs


@dataclass(frozen=True)
class Output:
    path: str
    kind: str  # "outs", "metrics" or "plots"
    cache: bool

    @property
    def travels_as_text(self) -> bool:
        """Uncached metrics and plots are small reports: they go back with a stage's result."""
        return not self.cache and self.kind != "outs"

    @property
    def machine_local(self) -> bool:
        """Uncached outs (checkpoints to resume from) belong to the machine that ran the stage."""
        return not self.cache and self.kind == "outs"


def stage_outputs(workspace: Path, stage: str) -> list[Output]:
    """The outs, metrics and plots `stage` declares in dvc.yaml, and whether DVC caches them."""
    spec = _stages(workspace)[stage]
    outputs = []
    for kind in ("outs", "metrics", "plots"):
        for entry in spec.get(kind, []):
            path, options = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
            outputs.append(Output(path, kind, (options or {}).get("cache", True)))
    return outputs


def upstream_stages(workspace: Path, stage: str) -> list[str]:
    """Stages whose cached outputs `stage` reads: what another working copy pulls before running it."""
    deps = _stages(workspace)[stage].get("deps", [])
    return [
        name
        for name in _stages(workspace)
        if name != stage
        and any(
            dep == output.path or dep.startswith(f"{output.path}/")
            for output in stage_outputs(workspace, name)
            if output.cache
            for dep in deps
        )
    ]


def share_inputs(workspace: Path, stage: str) -> None:
    """Push what `stage` reads to the DVC remote, for another working copy to pull."""
    upstream = upstream_stages(workspace, stage)
    if upstream:
        checked(["push", *upstream], workspace)


def take_inputs(workspace: Path, stage: str, params_yaml: str, dvc_lock: str) -> None:
    """Match the working copy that asked for `stage`: its params, its lock and its upstream outputs.

    Our own lock entry for `stage` is kept, so DVC skips a stage this copy already ran on the same
    inputs (a re-sent request after a lost reply) and a crashed run resumes from its checkpoints.
    """
    own = _read_lock(workspace)["stages"].get(stage)
    lock = yaml.safe_load(dvc_lock)
    if own:
        lock["stages"][stage] = own
    (workspace / "params.yaml").write_text(params_yaml, encoding="utf-8")
    _write_lock(workspace, lock)
    upstream = upstream_stages(workspace, stage)
    if upstream:
        checked(["pull", "--force", *upstream], workspace)


def hand_off(workspace: Path, stage: str) -> dict[str, Any]:
    """After `stage` ran here: cached outputs go to the DVC remote; the lock entry and uncached metrics and plots are returned.

    Uncached outs (checkpoints) are this machine's resume state and stay here.
    """
    checked(["push", stage], workspace)
    outputs = [output.path for output in stage_outputs(workspace, stage) if output.travels_as_text]
    files = {
        path.relative_to(workspace).as_posix(): path.read_text(encoding="utf-8")
        for output in outputs
        for path in _files(workspace / output)
    }
    return {"lock": _read_lock(workspace)["stages"][stage], "outputs": outputs, "files": files}


def take_over(workspace: Path, stage: str, handoff: Mapping[str, Any]) -> None:
    """Adopt `stage` as run in another working copy, so that `dvc status` is clean here.

    Its lock entry and its outputs come over (cached ones from the DVC remote); this copy's own
    resume state (uncached outs) is recorded as it is here, an empty folder if there is none.
    Anything else DVC still sees as changed means the other copy ran other code or inputs, and
    nothing is committed.
    """
    lock = _read_lock(workspace)
    lock["stages"][stage] = handoff["lock"]
    _write_lock(workspace, lock)
    checked(["pull", "--force", stage], workspace)
    for output in handoff["outputs"]:
        _remove(workspace / output)
    for name, text in handoff["files"].items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text, encoding="utf-8")
    local = {output.path for output in stage_outputs(workspace, stage) if output.machine_local}
    for path in local:
        (workspace / path).mkdir(parents=True, exist_ok=True)
    drift = _drift(changes(workspace, stage), local)
    if drift:
        raise StageError(f"{stage} ran in another working copy on other code or inputs than this one: {drift}")
    checked(["commit", "--force", stage], workspace)


def _drift(stage_changes: list[Any], local: set[str]) -> list[Any]:
    """Changes DVC reports beyond this copy's own resume state."""
    drift = []
    for change in stage_changes:
        if isinstance(change, dict) and set(change) == {"changed outs"}:
            outs = {path: state for path, state in change["changed outs"].items() if path not in local}
            if outs:
                drift.append({"changed outs": outs})
        else:
            drift.append(change)
    return drift


def _stages(workspace: Path) -> dict[str, Any]:
    return stage_specs(workspace / "dvc.yaml")


def _read_lock(workspace: Path) -> dict[str, Any]:
    path = workspace / "dvc.lock"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {"schema": "2.0", "stages": {}}


def _write_lock(workspace: Path, lock: Mapping[str, Any]) -> None:
    (workspace / "dvc.lock").write_text(yaml.safe_dump(dict(lock), sort_keys=False), encoding="utf-8")


def _files(path: Path) -> list[Path]:
    return sorted(file for file in path.rglob("*") if file.is_file()) if path.is_dir() else [path]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
