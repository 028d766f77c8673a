"""Running DVC and stage commands for the flows, and telling a stage's rejection of its inputs from a transient failure.

A stage that rejects its inputs prints `<stage>: error: ...` (prodcat.core.cli) and exits 1: that is a
StageError, never retried. Anything else (a traceback, a signal, DVC's own failure) is a DvcFailure,
retried by the flows. Nothing here knows about Prefect or models.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any


class StageError(RuntimeError):
    """The stage rejected its inputs (`<stage>: error: ...`): a rerun on the same inputs fails the same way."""


class DvcFailure(RuntimeError):
    """DVC or a stage died without a stage error (I/O, a signal, a held lock, the remote): worth a retry."""


def dvc(args: list[str], workspace: Path) -> subprocess.CompletedProcess[str]:
    """Run `dvc <args>` in `workspace`."""
    return _run(["-m", "dvc", *args], workspace)


def run_command(workspace: Path, module: str, command: str, args: list[str]) -> str:
    """Run `python -m <module> <command> <args>` outside DVC (work that is no DVC stage, such as `prodcat predict`); its stdout.

    `<module> <command>: error: ...` on stderr is the command's rejection of its inputs.
    """
    result = _run(["-m", module, command, *args], workspace)
    if result.returncode != 0:
        raise stage_failure(f"{module} {command}", result.stderr, result.returncode)
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


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])
