"""Processes for tests and benchmarks: this interpreter's tools first on PATH, background servers and workers, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def tool_env(**extra: str) -> dict[str, str]:
    """The environment with this interpreter's tools (dvc, prefect, python) first on PATH, plus `extra`."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


def run(command: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with this interpreter's tools first on PATH; output captured for assertions."""
    result = subprocess.run(command, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


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
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=grace_seconds)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_seconds)


def wait_until_healthy(api_url: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll the server's health endpoint; fail with its log if it dies or stays down."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited ({server.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"server not healthy after {timeout}s:\n{log.read_text()[-4000:]}")


def kill_after_first_checkpoint(
    command: list[str], checkpoints: Path, cwd: Path, timeout: float = 120, last_file: str = "trainer_state.json"
) -> list[str]:
    """Start a training command, SIGKILL it once a checkpoint holds `last_file` (the last one written into it).

    Returns the checkpoints it left, by name. The Trainer writes trainer_state.json last; a callback
    that adds to the checkpoint in `on_save` (the softmax head, TSDAE's decoder) writes after it.
    """
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not list(checkpoints.glob(f"checkpoint-*/{last_file}")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("no checkpoint appeared before the run ended")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    if process.wait() != -signal.SIGKILL:
        raise AssertionError(f"the run ended by itself (status {process.returncode}) before it was killed")
    return sorted(path.name for path in checkpoints.glob("checkpoint-*"))


def kill_when(command: list[str], ready: Callable[[], bool], cwd: Path, timeout: float = 300) -> float:
    """Start `command`, SIGKILL it as soon as `ready()` holds (polled every 20 ms); the seconds it ran.

    Fails, with the command's output, if it ends by itself first (it was never killed mid-way) or `ready` stays false.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=cwd, env=tool_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                log.seek(0)
                raise AssertionError(
                    f"{' '.join(command)} was not killed mid-way (status {process.returncode}):\n{log.read()[-4000:].decode()}"
                )
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    return time.perf_counter() - started
