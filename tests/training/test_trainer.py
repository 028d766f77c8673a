"""The Trainer settings fine-tuning and adaptation share, and the summary both report."""

from __future__ import annotations

import time
from pathlib import Path

from sentence_transformers import SentenceTransformerTrainingArguments
from transformers import TrainingArguments
from transformers.trainer_utils import TrainOutput

from prodcat.core.params import AdaptParams, FinetuneParams
from prodcat.training.trainer import TrainingSummary, trainer_arguments


def test_finetune_and_adapt_share_checkpointing_seeding_and_precision(tmp_path: Path) -> None:
    shared = {"epochs": 3, "batch_size": 8, "learning_rate": 1e-3, "seed": 7}
    finetune = trainer_arguments(FinetuneParams(**shared), tmp_path, "bf16", "cpu", warmup=0.1, fused_optimizer=True)
    adapt = trainer_arguments(AdaptParams(**shared), tmp_path, "bf16", "cpu", warmup=0.1, fused_optimizer=True)
    assert finetune == adapt
    expected = {
        "output_dir": str(tmp_path), "num_train_epochs": 3, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
        "warmup_steps": 0.1, "optim": "adamw_torch_fused", "bf16": True, "fp16": False, "use_cpu": True, "ddp_backend": None,
        "save_strategy": "epoch", "save_total_limit": 1, "seed": 7, "data_seed": 7, "report_to": "none",
    }  # fmt: skip
    assert expected.items() <= finetune.items()
    assert TrainingArguments(**adapt).save_total_limit == SentenceTransformerTrainingArguments(**finetune).save_total_limit == 1


def test_processes_pick_the_ddp_backend_of_the_device(tmp_path: Path) -> None:
    def arguments(device: str, processes: int) -> dict:
        return trainer_arguments(FinetuneParams(), tmp_path, "fp32", device, warmup=0.0, fused_optimizer=False, processes=processes)

    assert arguments("cpu", 2)["ddp_backend"] == "gloo" and arguments("cuda:1", 2)["ddp_backend"] == "nccl"
    assert arguments("cuda:0", 1)["ddp_backend"] is None
    assert arguments("cuda:0", 1)["optim"] == "adamw_torch" and arguments("cuda:0", 1)["use_cpu"] is False


def test_summary_rounds_and_names_the_resumed_checkpoint_by_its_folder() -> None:
    output = TrainOutput(global_step=18, training_loss=0.123456, metrics={})

    def summary(resumed_from: str | None) -> TrainingSummary:
        return TrainingSummary.of(
            output, time.perf_counter(), epochs=3, train_rows=36, resumed_from=resumed_from, device="cpu", precision="fp32", processes=2
        )

    resumed = summary("/runs/ckpt/checkpoint-12")
    assert (resumed.steps, resumed.final_loss, resumed.resumed_from, resumed.processes) == (18, 0.1235, "checkpoint-12", 2)
    assert 0 <= resumed.seconds < 1
    assert summary(None).resumed_from is None
