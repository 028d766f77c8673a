"""A fine-tuning run killed with SIGKILL resumes from its last epoch checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from devtools.processes import kill_after_first_checkpoint
from devtools.scratch_repo import finetune_paths, write_params, write_paths
from prodcat.training.resume import HEAD_FILE, resumable_checkpoint
from stages import preprocess as preprocess_stage

pytestmark = pytest.mark.slow


def finetune_command(params: Path, processed: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "stages.finetune", "--params", str(params), "--paths", str(finetune_paths(out, processed))]


def weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def test_sigkill_mid_run_resumes_to_the_same_weights(small_catalog: Path, tiny_bert: Path, tmp_path: Path) -> None:
    params = write_params(
        tmp_path, small_catalog,
        encoder={"base": str(tiny_bert), "max_seq_length": 32},
        catalog={"min_class_count": 8},
        finetune={"epochs": 6, "batch_size": 4, "learning_rate": 1e-3, "precision": "fp32"},
    )  # fmt: skip
    processed = tmp_path / "processed"
    paths = write_paths(tmp_path, processed=processed, preprocess_report=tmp_path / "pre.json")
    preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
    root = Path(__file__).resolve().parents[2]

    straight = tmp_path / "straight"
    subprocess.run(finetune_command(params, processed, straight), cwd=root, check=True, capture_output=True)

    crashed = tmp_path / "crashed"
    interrupted_at = kill_after_first_checkpoint(
        finetune_command(params, processed, crashed), crashed / "checkpoints", cwd=root, last_file=HEAD_FILE
    )
    assert not (crashed / "finetuned").exists()

    subprocess.run(finetune_command(params, processed, crashed), cwd=root, check=True, capture_output=True)
    report = json.loads((crashed / "finetune.json").read_text())
    assert report["resumed_from"] in interrupted_at

    expected, resumed = weights(straight / "finetuned"), weights(crashed / "finetuned")
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        assert (tensor - resumed[name]).abs().max() < 1e-5, name


def test_a_checkpoint_killed_before_its_head_was_written_is_not_resumed(tmp_path: Path) -> None:
    """The Trainer writes trainer_state.json before `on_save` adds the head: a kill in between leaves a checkpoint without it."""
    checkpoints = tmp_path / "checkpoints"
    assert resumable_checkpoint(checkpoints, "run-a") is None  # a fresh run: the folder and its fingerprint marker
    for step, with_head in ((5, True), (10, False)):
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text("{}")
        if with_head:
            (folder / HEAD_FILE).write_text("weights")
    has_head = lambda checkpoint: Path(checkpoint, HEAD_FILE).is_file()  # noqa: E731
    assert Path(resumable_checkpoint(checkpoints, "run-a", has_head)).name == "checkpoint-5"
    assert not (checkpoints / "checkpoint-10").exists()
    assert resumable_checkpoint(checkpoints, "run-b", has_head) is None  # another run's checkpoints are never resumed
    assert not (checkpoints / "checkpoint-5").exists()
