"""Data-parallel fine-tuning: the finetune stage as 2 gloo processes on CPU (finetune.processes: 2).

Each process takes batch_size texts per step, so an epoch has floor(train / (batch_size x 2)) steps
(sentence-transformers sets drop_last under DDP); both processes together step exactly like one
process whose batches are the union of theirs; rank 0 alone writes; a crashed run resumes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer

from devtools.scratch_repo import ROOT, finetune_paths, set_params, write_params, write_paths
from prodcat.training import finetune as finetune_module
from prodcat.training.sampler import LengthBucketBatchSampler, batch_count, bucketed_batches
from stages import finetune as finetune_stage
from stages import preprocess as preprocess_stage

pytestmark = pytest.mark.slow

BATCH_SIZE, PROCESSES, EPOCHS = 4, 2, 3
# fp32 and no dropout: the two-process run and its one-process twin must agree to float rounding.
FINETUNE = {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "learning_rate": 1e-3, "precision": "fp32", "dropout": False}


def stage_args(params: Path, processed: Path, out: Path) -> list[str]:
    return ["--params", str(params), "--paths", str(finetune_paths(out, processed))]


def launch_env() -> dict[str, str]:
    """One thread per process (2 cores here), gloo on the loopback interface."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path, tiny_bert: Path) -> tuple[Path, Path]:
    """params.yaml with finetune.processes: 2 on the tiny BERT, and the small catalog preprocessed (277 train rows)."""
    folder = tmp_path_factory.mktemp("ddp")
    params = write_params(
        folder, small_catalog, encoder={"base": str(tiny_bert), "max_seq_length": 32}, catalog={"min_class_count": 8},
        finetune={**FINETUNE, "processes": PROCESSES},
    )  # fmt: skip
    processed = folder / "processed"
    paths = write_paths(folder, processed=processed, preprocess_report=folder / "pre.json")
    preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
    return params, processed


@pytest.fixture(scope="module")
def two_processes(prepared: tuple[Path, Path]) -> Path:
    """The stage run once, as DVC runs it (one command), with finetune.processes: 2."""
    params, processed = prepared
    out = params.parent / "straight"
    done = subprocess.run(
        [sys.executable, "-m", "stages.finetune", *stage_args(params, processed, out)],
        cwd=ROOT,
        env=launch_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def train_rows(processed: Path) -> int:
    import pandas as pd

    return len(pd.read_parquet(processed / "train.parquet"))


def test_steps_follow_the_effective_batch_and_rank_0_alone_writes(
    prepared: tuple[Path, Path], two_processes: Path, tiny_bert: Path
) -> None:
    _, processed = prepared
    rows = train_rows(processed)
    steps_per_epoch = rows // (BATCH_SIZE * PROCESSES)
    assert (rows, steps_per_epoch) == (277, 34)
    report = json.loads((two_processes / "finetune.json").read_text())
    assert report["processes"] == 2 and report["steps"] == EPOCHS * steps_per_epoch == 102

    checkpoints = two_processes / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["checkpoint-102", "run_fingerprint.json"]
    state = json.loads((checkpoints / "checkpoint-102" / "trainer_state.json").read_text())
    assert (state["global_step"], state["max_steps"], state["train_batch_size"]) == (102, 102, BATCH_SIZE)
    assert sorted(path.name for path in (checkpoints / "checkpoint-102").glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]

    logged = (two_processes / "live" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()[1:]
    assert [int(line.split("\t")[0]) for line in logged] == list(range(10, 101, 10))  # one writer: each logged step once
    assert sorted(path.name for path in two_processes.iterdir()) == [
        "adapted",
        "checkpoints",
        "finetune.json",
        "finetuned",
        "live",
        "paths.yaml",
    ]  # no temporary folder left

    model = SentenceTransformer(str(two_processes / "finetuned"), device="cpu")
    embeddings = model.encode(["red lego bricks", "steel water bottle"])
    assert embeddings.shape == (2, 32) and np.isfinite(embeddings).all()
    trained, base = load_file(str(two_processes / "finetuned" / "model.safetensors")), load_file(str(tiny_bert / "model.safetensors"))
    name = "embeddings.word_embeddings.weight"
    assert (trained[name] - base[name]).abs().max() > 1e-3
    assert set(load_file(str(two_processes / "finetuned" / "softmax_head.safetensors"))) == {"weight", "bias", "log_scale"}


class UnionOfRankBatches(LengthBucketBatchSampler):
    """One process's batches of 2 x BATCH_SIZE: at each step, the two batches the two ranks take (module level: the Trainer pickles its args)."""

    def __iter__(self):
        batches = bucketed_batches(self.lengths, BATCH_SIZE, seed=self.seed + self.epoch, drop_last=True, replicas=PROCESSES)
        return iter([first + second for first, second in zip(batches[0::2], batches[1::2], strict=True)])

    def __len__(self) -> int:
        return batch_count(len(self.lengths), BATCH_SIZE, drop_last=True, replicas=PROCESSES) // PROCESSES


def test_two_processes_step_like_one_process_on_the_union_of_their_batches(
    prepared: tuple[Path, Path], two_processes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equal weights, head included: DDP averages the encoder's gradients and HeadGradientAverage the head's."""

    params, processed = prepared
    single = tmp_path / "params.yaml"
    shutil.copy2(params, single)
    set_params(single, finetune={**FINETUNE, "batch_size": BATCH_SIZE * PROCESSES, "processes": 1})
    monkeypatch.setattr(finetune_module, "LengthBucketBatchSampler", UnionOfRankBatches)
    finetune_stage.main(stage_args(single, processed, tmp_path / "one"))
    assert json.loads((tmp_path / "one" / "finetune.json").read_text())["steps"] == 102

    for file in ("model.safetensors", "softmax_head.safetensors"):
        expected, got = load_file(str(tmp_path / "one" / "finetuned" / file)), load_file(str(two_processes / "finetuned" / file))
        assert expected.keys() == got.keys()
        for name, tensor in expected.items():
            assert (tensor - got[name]).abs().max() < 1e-4, (file, name)


def test_sigkill_of_every_process_resumes_to_the_same_weights(prepared: tuple[Path, Path], two_processes: Path) -> None:
    params, processed = prepared
    crashed = params.parent / "crashed"
    command = [sys.executable, "-m", "stages.finetune", *stage_args(params, processed, crashed)]
    launcher = subprocess.Popen(command, cwd=ROOT, env=launch_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list((crashed / "checkpoints").glob("checkpoint-*/trainer_state.json")):
        assert launcher.poll() is None and time.monotonic() < deadline, "no checkpoint appeared before the run ended"
        time.sleep(0.02)
    workers = psutil.Process(launcher.pid).children(recursive=True)  # the launcher's workers run in their own sessions
    for process in [launcher, *workers]:
        os.kill(process.pid, signal.SIGKILL)
    assert launcher.wait() == -signal.SIGKILL
    psutil.wait_procs(workers, timeout=30)
    assert not (crashed / "finetuned").exists()
    interrupted_at = sorted(path.name for path in (crashed / "checkpoints").glob("checkpoint-*"))

    done = subprocess.run(command, cwd=ROOT, env=launch_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((crashed / "finetune.json").read_text())["resumed_from"] in interrupted_at

    expected, resumed = (
        load_file(str(two_processes / "finetuned" / "model.safetensors")),
        load_file(str(crashed / "finetuned" / "model.safetensors")),
    )
    for name, tensor in expected.items():
        assert (tensor - resumed[name]).abs().max() < 1e-5, name


def test_a_failing_process_fails_the_stage_with_its_rank(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    params, _ = prepared
    (tmp_path / "data").mkdir()  # no train.parquet: every process stops with an InputError
    done = subprocess.run(
        [sys.executable, "-m", "stages.finetune", *stage_args(params, tmp_path / "data", tmp_path / "out")],
        cwd=ROOT, env=launch_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "finetune: error: no train split in" in done.stderr  # the processes' own message
    # whichever process fails first, the launcher stops the other (exit code -15) or sees it fail too
    assert re.search(
        r"ProcessesFailed: [12] of 2 fine-tuning processes failed \(rank [01] exit code (1|-15), rank [01] exit code (1|-15)\)", done.stderr
    )
    assert "exit code 1" in done.stderr
    # out/ holds what the test wrote (paths.yaml, the adapt marker); the stage wrote nothing there
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["adapted", "paths.yaml"]
