"""What fine-tuning and domain adaptation share around the Trainer: its settings, their input texts, the run and its summary.

Both train with a linear schedule and warmup, AdamW with weight decay, one checkpoint per epoch of
which only the last is kept (prodcat.training.resume), the loss logged every 10 steps, a seeded data
order and no reporting integration (the curves go to DVCLive through a callback, prodcat.training.curves).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import Trainer
from transformers.trainer_utils import TrainOutput

from prodcat.core.params import AdaptParams, FinetuneParams
from prodcat.training.distributed import ddp_backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[int]


def trainer_arguments(
    params: FinetuneParams | AdaptParams,
    checkpoints: Path,
    precision: str,
    device: str,
    *,
    warmup: float,
    fused_optimizer: bool,
    processes: int = 1,
) -> dict:
    """TrainingArguments both jobs pass (each adds its own sampler); `warmup` below 1 is a share of the steps."""
    return {
        "output_dir": str(checkpoints),
        "num_train_epochs": params.epochs,
        "per_device_train_batch_size": params.batch_size,
        "learning_rate": params.learning_rate,
        "lr_scheduler_type": "linear",
        "warmup_steps": warmup,
        "optim": "adamw_torch_fused" if fused_optimizer else "adamw_torch",
        "weight_decay": 0.01,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": device == "cpu",
        "ddp_backend": ddp_backend(device) if processes > 1 else None,
        "save_strategy": "epoch",
        "save_total_limit": 1,  # the last epoch's checkpoint is all a resumed run needs
        "logging_steps": 10,
        "seed": params.seed,
        "data_seed": params.seed,
        "dataloader_num_workers": 0,
        "report_to": "none",
        "disable_tqdm": False,
    }


@dataclass(frozen=True)
class TrainingSummary:
    epochs: int
    steps: int
    train_rows: int
    seconds: float
    final_loss: float
    resumed_from: str | None
    device: str
    precision: str
    processes: int

    @classmethod
    def of(
        cls,
        output: TrainOutput,
        started: float,
        *,
        epochs: int,
        train_rows: int,
        resumed_from: str | None,
        device: str,
        precision: str,
        processes: int,
    ) -> TrainingSummary:
        """The summary of a Trainer run begun at `started` (time.perf_counter), timed up to this call; the checkpoint by its folder name."""
        return cls(
            epochs=epochs,
            steps=output.global_step,
            train_rows=train_rows,
            seconds=round(time.perf_counter() - started, 2),
            final_loss=round(float(output.training_loss), 4),
            resumed_from=Path(resumed_from).name if resumed_from else None,
            device=device,
            precision=precision,
            processes=processes,
        )

    @property
    def samples_per_second(self) -> float:
        return round(self.train_rows * self.epochs / self.seconds, 2) if self.seconds else 0.0


def train_and_summarise(
    trainer: Trainer,
    job: str,
    rows: int,
    epochs: int,
    resume_from: str | None,
    *,
    device: str,
    precision: str,
    processes: int = 1,
) -> TrainingSummary:
    """Run `trainer` (from the checkpoint `resume_from`, if any), saying once what runs where, and summarise the run."""
    log.info(
        "%s on %s (%s) x %d processes, %d rows, %d epochs, resume from %s", job, device, precision, processes, rows, epochs, resume_from
    )
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    return TrainingSummary.of(
        output, started, epochs=epochs, train_rows=rows, resumed_from=resume_from, device=device, precision=precision, processes=processes
    )
