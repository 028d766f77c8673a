"""The DVC side of the flows: run a stage, classify its failure, hand a stage over between working copies.

Nothing here knows about Prefect or about models: a stage is whatever `dvc.yaml` declares, and DVC
alone decides whether it is up to date. Outputs move between working copies through the DVC remote.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prodcat.profiles import update_params_file

STAGES = ("validate", "preprocess", "finetune", "embed", "train_sparse", "train_xgb", "champion", "evaluate")


class StageError(RuntimeError):
    """The stage rejected its inputs (`<stage>: error: ...`): a rerun on the same inputs fails the same way."""


class DvcFailure(RuntimeError):
    """DVC or a stage died without a stage error (I/O, a signal, a held lock, the remote): worth a retry."""


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


def dvc(args: list[str], workspace: Path) -> subprocess.CompletedProcess[str]:
    """Run `dvc <args>` in `workspace`."""
    return _run(["-m", "dvc", *args], workspace)


def run_stage_cli(workspace: Path, stage: str, args: list[str]) -> str:
    """Run `python -m stages.<stage> <args>` outside DVC (a stage not in dvc.yaml, such as predict); its stdout."""
    result = _run(["-m", f"stages.{stage}", *args], workspace)
    if result.returncode != 0:
        raise stage_failure(stage, result.stderr, result.returncode)
    return result.stdout


def _run(args: list[str], workspace: Path) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with `args` in `workspace`; stage commands started by DVC find it as `python`.

    The process and whatever it starts get their own process group, killed whole when we are
    interrupted (a Prefect timeout or cancellation), so no orphan keeps writing outputs.
    """
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, *args]
    with subprocess.Popen(
        command, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, process_group=0
    ) as process:
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def checked(args: list[str], workspace: Path) -> str:
    """`dvc <args>`'s stdout; a failure here is DVC's own (remote, lock, disk), so it is retryable."""
    result = dvc(args, workspace)
    if result.returncode != 0:
        raise DvcFailure(f"dvc {' '.join(args)} failed (exit {result.returncode}): {_tail(result.stderr)}")
    return result.stdout


def repro(workspace: Path, stage: str) -> bool:
    """`dvc repro --single-item <stage>`: True when the stage ran, False when DVC found it up to date."""
    result = dvc(["repro", "--single-item", stage], workspace)
    if result.returncode != 0:
        raise stage_failure(stage, result.stderr, result.returncode)
    return f"Running stage '{stage}'" in result.stdout


def stage_failure(stage: str, stderr: str, returncode: int) -> StageError | DvcFailure:
    """The stage's own error message as a StageError when it printed one, else a retryable DvcFailure."""
    lines = stderr.splitlines()
    first = next((index for index, line in enumerate(lines) if line.startswith(f"{stage}: error:")), None)
    if first is None:
        return DvcFailure(f"{stage} failed (exit {returncode}): {_tail(stderr)}")
    return StageError("\n".join(line for line in lines[first:] if line.strip() and not line.startswith("ERROR: ")))


def changes(workspace: Path, stage: str) -> list[Any]:
    """`dvc status <stage>` as data: empty when DVC finds the stage up to date in this working copy."""
    return json.loads(checked(["status", "--json", stage], workspace) or "{}").get(stage, [])


def apply_overrides(workspace: Path, overrides: Mapping[str, Any]) -> None:
    """Set dotted keys in params.yaml as `dvc exp run -S key=value` does; comments kept, the result validated first."""

    def change(document: dict) -> None:
        for dotted, value in overrides.items():
            *sections, key = dotted.split(".")
            node = document
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = value

    update_params_file(workspace / "params.yaml", change)


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
    return yaml.safe_load((workspace / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


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


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])

