"""A real Prefect server and process workers for tests/test_flows.py, each in its own temp dirs, always cleaned up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from conftest import ROOT, run
from tests_support import small_run, write_params

from prodcat.workspace import commit_all, copy_pipeline

def working_copy(folder: Path, catalog: Path, tiny_bert: Path) -> Path:
    """A clone-like copy of the project (pipeline, flows, prefect.yaml, the committed .dvc/config) on the small catalog and tiny encoder."""
    copy_pipeline(folder)
    shutil.copytree(ROOT / "flows", folder / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "prefect.yaml", folder / "prefect.yaml")
    write_params(folder, catalog, **small_run(tiny_bert), orchestration={"retry_delay_seconds": 1})
    run(["git", "init", "-q"], folder)
    run(["dvc", "init", "-q"], folder)
    shutil.copy2(ROOT / ".dvc" / "config", folder / ".dvc" / "config")  # the default DVC remote, as committed
    commit_all(folder, "pipeline code")
    return folder


def run_tool(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a CLI with `env`, no stdin (as in CI); fail with its output."""
    result = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tool_env(**extra: str) -> dict[str, str]:
    """This interpreter's tools first on PATH, plus `extra`."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


@contextmanager
def background(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run `command` until the block ends; then stop it and every process it started, whatever happened."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        stop_tree(process.pid)


def stop_tree(pid: int, grace_seconds: float = 10) -> None:
    """SIGTERM a process and its descendants (flow runs may sit in their own sessions), SIGKILL what is left."""
    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace_seconds)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_seconds)


def wait_until_healthy(api_url: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll the server's health endpoint; fail with its log if it dies or stays down."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"prefect server exited ({server.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {timeout}s:\n{log.read_text()[-4000:]}")
