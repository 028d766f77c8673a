"""Fine-tuning a sentence encoder on labelled product texts with the sentence-transformers Trainer.

The objective (prodcat.training.losses) trains the encoder, and with `softmax_head` a head beside it.
Batches hold texts of similar token length (`finetune.length_buckets`, prodcat.training.sampler):
the Trainer's own `group_by_length` is ignored by sentence-transformers, and padding a short text to
the batch's longest is compute spent on nothing. The optimizer is the fused AdamW (`finetune.fused_optimizer`).
`finetune.dropout: false` switches the encoder's dropout off while it trains: on CPU the random masks
cost about a fifth of a step, and attention dropout keeps PyTorch off its fused attention kernel.

A checkpoint is written at the end of each epoch and replaces the previous one; a rerun after a crash
resumes from it if it was written for the same data and settings (prodcat.training.resume).

Under data-parallel processes (`finetune.processes`, prodcat/training/distributed.py) each process trains on its
own share of the batches and the Trainer's DDP averages the encoder's gradients; HeadGradientAverage
does the same for the softmax head, which DDP does not see. Rank 0 alone writes the fingerprint,
checkpoints and curves; every rank resumes from the same checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path

from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from prodcat.core.params import FinetuneParams
from prodcat.encoders.flops import token_lengths, untruncated_lengths
from prodcat.training.curves import REFERENCE_ROWS, LiveMetrics, live_curves, sample
from prodcat.training.distributed import HeadGradientAverage, is_main_process, world_size
from prodcat.training.losses import SoftmaxHeadLoss
from prodcat.training.resume import LossHeadCheckpoint, resumable_checkpoint
from prodcat.training.sampler import LengthBucketBatchSampler
from prodcat.training.trainer import LabelledTexts, TrainingSummary, train_and_summarise, trainer_arguments


@contextmanager
def dropout_switched_off(model: nn.Module) -> Iterator[None]:
    """Every dropout of `model` at p=0 inside the block, restored after it (the saved config keeps its rates)."""
    rates = {module: module.p for module in model.modules() if isinstance(module, nn.Dropout)}
    for module in rates:
        module.p = 0.0
    try:
        yield
    finally:
        for module, rate in rates.items():
            module.p = rate


def truncated_texts(model: SentenceTransformer, texts: list[str]) -> int:
    """How many texts are longer than max_seq_length tokens: their tail the encoder never sees."""
    limit = model.max_seq_length
    assert limit is not None  # load_encoder sets it
    return sum(length > limit for length in untruncated_lengths(model.tokenizer, texts))


def finetune_encoder(
    model: SentenceTransformer,
    loss: nn.Module,
    train: LabelledTexts,
    validation: LabelledTexts | None,
    params: FinetuneParams,
    precision: str,
    checkpoints: Path,
    fingerprint: str,
    live_dir: Path | None = None,
) -> TrainingSummary:
    """Train `model` (and the `loss` module's head, if any) in place; one checkpoint per epoch under `checkpoints`.

    With `live_dir`, per-step loss and per-epoch accuracy on `validation` are logged there with DVCLive
    (by the main process only). Inside launched processes (prodcat/training/distributed.py) this is data-parallel:
    `params.batch_size` texts per process and step.
    """
    device = str(model.device)
    processes = world_size()
    head_rate = {SoftmaxHeadLoss.head_parameters: params.head_learning_rate} if isinstance(loss, SoftmaxHeadLoss) else {}
    batch_sampler: BatchSamplers | partial[LengthBucketBatchSampler]
    if params.objective == "batch_all_triplet":
        batch_sampler = BatchSamplers.GROUP_BY_LABEL  # triplets need several texts of a label per batch, whatever their length
    elif params.length_buckets or processes > 1:
        # Equal lengths give plain random batches, still evened out across processes.
        assert model.max_seq_length is not None  # load_encoder sets it
        lengths = token_lengths(model.tokenizer, train.texts, model.max_seq_length) if params.length_buckets else [0] * len(train.texts)
        batch_sampler = partial(LengthBucketBatchSampler, lengths=lengths, replicas=processes)
    else:
        batch_sampler = BatchSamplers.BATCH_SAMPLER
    settings = trainer_arguments(
        params, checkpoints, precision, device, warmup=params.warmup_ratio, fused_optimizer=params.fused_optimizer, processes=processes
    )
    args = SentenceTransformerTrainingArguments(**settings, learning_rate_mapping=head_rate, batch_sampler=batch_sampler)
    head_checkpoint = LossHeadCheckpoint(loss)
    with args.main_process_first(desc="checkpoints"):  # rank 0 clears stale checkpoints before any rank looks
        resume_from = (
            resumable_checkpoint(checkpoints, fingerprint, head_checkpoint.complete)
            if is_main_process()
            else get_last_checkpoint(str(checkpoints))
        )
    dataset = Dataset.from_dict({"text": train.texts, "label": train.labels})
    if resume_from:
        head_checkpoint.restore(resume_from)
    callbacks: list[TrainerCallback] = [head_checkpoint] + ([HeadGradientAverage(loss)] if processes > 1 else [])
    live_run = live_curves(live_dir if is_main_process() else None, resumed=resume_from is not None)
    with live_run as live, nullcontext() if params.dropout else dropout_switched_off(model):  # ended whether training succeeds or not
        callbacks += [LiveMetrics(live, model, sample(train, REFERENCE_ROWS, params.seed), validation, precision)] if live else []
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=callbacks)
        return train_and_summarise(
            trainer, "fine-tuning", len(train.texts), params.epochs, resume_from, device=device, precision=precision, processes=processes
        )
