"""Fine-tuning a sentence encoder on labelled product texts with the sentence-transformers Trainer.

Two objectives (param `finetune.objective`):
- `softmax_head`, the original recipe: a linear head over the sentence embedding, CrossEntropy.
- `batch_all_triplet`: BatchAllTripletLoss over batches that hold several texts of each label
  (GROUP_BY_LABEL sampler), so every batch has positives and negatives.
The encoder is kept for the embedding variants; the softmax head is kept beside it
(`softmax_head.safetensors`) and scored directly as the `softmax` variant.

Batches hold texts of similar token length (`finetune.length_buckets`, LengthBucketBatchSampler):
the Trainer's own `group_by_length` is ignored by sentence-transformers, and padding a short text to
the batch's longest is compute spent on nothing. The optimizer is the fused AdamW (`finetune.fused_optimizer`).
`finetune.dropout: false` switches the encoder's dropout off while it trains: on CPU the random masks
cost about a fifth of a step, and attention dropout keeps PyTorch off its fused attention kernel.

A checkpoint is written at the end of each epoch and replaces the previous one: resuming needs only
the last (with its optimizer state, ~3x the model). A rerun after a crash resumes from it, but only
if it was written for the same data and settings (a run fingerprint is stored beside it).

Under data-parallel processes (`finetune.processes`, prodcat/training/distributed.py) each process trains on its
own share of the batches and the Trainer's DDP averages the encoder's gradients; HeadGradientAverage
does the same for the softmax head, which DDP does not see. Rank 0 alone writes the fingerprint,
checkpoints and curves; every rank resumes from the same checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from dvclive import Live
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers, DefaultBatchSampler
from sentence_transformers.sentence_transformer.losses import BatchAllTripletLoss
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from prodcat.training.distributed import ddp_backend, is_main_process, world_size
from prodcat.encoders.encode import encode_texts
from prodcat.encoders.flops import token_lengths
from prodcat.training.sampler import batch_count, bucketed_batches
from prodcat.core.params import EncoderParams, FinetuneParams
from prodcat.heads.softmax import head_logits

log = logging.getLogger(__name__)

RUN_FINGERPRINT = "run_fingerprint.json"
HEAD_FILE = "loss_head.safetensors"  # the head inside a checkpoint, to resume


class SoftmaxHeadLoss(nn.Module):
    """Linear head + CrossEntropy on the sentence embedding: the original recipe's objective.

    all-MiniLM-L6-v2 ends with a Normalize module, and a linear head over unit vectors yields
    logits too small for CrossEntropy to move (loss stalls near log(classes)). The head therefore
    normalises its input (harmless for encoders that already do) and scales the logits by a
    learnable temperature, as cosine classifiers do.
    """

    head_parameters = r"^(classifier|log_scale)"  # regex for the head's own learning rate

    def __init__(self, model: SentenceTransformer, num_labels: int, label_smoothing: float = 0.0, initial_scale: float = 20.0) -> None:
        super().__init__()
        self.model = model
        self.classifier = nn.Linear(model.get_embedding_dimension(), num_labels)
        self.log_scale = nn.Parameter(torch.tensor(math.log(initial_scale)))
        self.label_smoothing = label_smoothing

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        embeddings = self.model(sentence_features[0])["sentence_embedding"]
        return F.cross_entropy(head_logits(self.head_weights(), embeddings), labels, label_smoothing=self.label_smoothing)

    def head_weights(self) -> dict[str, torch.Tensor]:
        """The head's own weights, as saved beside the encoder."""
        return {"weight": self.classifier.weight, "bias": self.classifier.bias, "log_scale": self.log_scale}


class LengthBucketBatchSampler(DefaultBatchSampler):
    """Batches of texts of similar token length (prodcat.training.sampler), a fresh draw each epoch from seed + epoch.

    Given to the Trainer as `partial(LengthBucketBatchSampler, lengths=..., replicas=...)`: the dataset holds
    texts, the lengths are counted once with the model's tokenizer. Every process draws the same batches
    (same seed and epoch) and accelerate hands process r the batches r, r + replicas, ...
    """

    def __init__(
        self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed: int = 0, *, lengths: list[int], replicas: int = 1
    ) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        self.lengths, self.replicas = lengths, replicas

    def __iter__(self):
        yield from bucketed_batches(self.lengths, self.batch_size, seed=self.seed + self.epoch, drop_last=self.drop_last, replicas=self.replicas)

    def __len__(self) -> int:
        return batch_count(len(self.lengths), self.batch_size, self.drop_last, self.replicas)


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[int]


def centroid_accuracy(model: SentenceTransformer, reference: LabelledTexts, validation: LabelledTexts, precision: str) -> float:
    """Nearest-class-centroid accuracy: an objective-agnostic measure of how well embeddings separate labels."""

    def encode(texts: list[str]) -> np.ndarray:
        embeddings = encode_texts(model, texts, batch_size=64, precision=precision)
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(min=1e-12)

    reference_embeddings, reference_labels = encode(reference.texts), np.asarray(reference.labels)
    classes = np.unique(reference_labels)
    centroids = np.stack([reference_embeddings[reference_labels == label].mean(axis=0) for label in classes])
    predicted = classes[(encode(validation.texts) @ centroids.T).argmax(axis=1)]
    return float((predicted == np.asarray(validation.labels)).mean())


def sample(examples: LabelledTexts, size: int, seed: int) -> LabelledTexts:
    """At most `size` examples, drawn without replacement: centroids need a sample, not every train row."""
    if len(examples.texts) <= size:
        return examples
    picked = np.random.default_rng(seed).choice(len(examples.texts), size=size, replace=False)
    return LabelledTexts([examples.texts[i] for i in picked], [examples.labels[i] for i in picked])


class LiveMetrics(TrainerCallback):
    """Per-step training loss and per-epoch validation accuracy to DVCLive, for `dvc plots show`."""

    def __init__(self, live: Live, model: SentenceTransformer, reference: LabelledTexts, validation: LabelledTexts | None, precision: str) -> None:
        self.live, self.model, self.reference, self.validation, self.precision = live, model, reference, validation, precision

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if logs and "loss" in logs:
            self.live.step = state.global_step
            self.live.log_metric("train/loss", float(logs["loss"]))
            self.live.next_step()

    def on_epoch_end(self, args, state, control, **kwargs) -> None:
        if self.validation is None:
            return
        was_training = self.model.training
        accuracy = centroid_accuracy(self.model, self.reference, self.validation, self.precision)
        self.model.train(was_training)
        self.live.step = state.global_step
        self.live.log_metric("validation/centroid_accuracy", round(accuracy, 4))
        self.live.next_step()
        log.info("epoch %.0f: validation centroid accuracy %.4f", state.epoch, accuracy)


class LossHeadCheckpoint(TrainerCallback):
    """Saves the loss module's own weights (the softmax head) into each checkpoint.

    The Trainer checkpoints the encoder and the optimizer, not the loss; without this a resumed run
    would pair a trained encoder with a freshly initialised head.
    """

    def __init__(self, loss: nn.Module) -> None:
        self.loss = loss

    @staticmethod
    def head_state(loss: nn.Module) -> dict[str, torch.Tensor]:
        return {name: value.detach().cpu().contiguous() for name, value in loss.state_dict().items() if not name.startswith("model.")}

    def on_save(self, args, state, control, **kwargs) -> None:
        head = self.head_state(self.loss)
        if head and state.is_world_process_zero:  # the process that wrote the checkpoint
            save_file(head, str(Path(args.output_dir, f"checkpoint-{state.global_step}", HEAD_FILE)))

    def complete(self, checkpoint: str) -> bool:
        """False for a checkpoint the Trainer finished but a kill cut before `on_save` wrote the head into it."""
        return not self.head_state(self.loss) or Path(checkpoint, HEAD_FILE).is_file()

    def restore(self, checkpoint: str) -> None:
        path = Path(checkpoint, HEAD_FILE)
        if path.is_file():
            self.loss.load_state_dict(load_file(str(path)), strict=False)


class HeadGradientAverage(TrainerCallback):
    """Averages the loss module's own gradients (the softmax head) across processes before each optimizer step.

    The Trainer wraps only the encoder in DDP, so without this each process's head would step on its own
    batches' gradient and the heads would drift apart. Gradient clipping (encoder parameters only, already
    averaged) comes before this callback, so every process clips alike.
    """

    def __init__(self, loss: nn.Module) -> None:
        self.parameters = [parameter for name, parameter in loss.named_parameters() if not name.startswith("model.")]

    def on_pre_optimizer_step(self, args, state, control, **kwargs) -> None:
        for parameter in self.parameters:
            if parameter.grad is not None:
                torch.distributed.all_reduce(parameter.grad)  # a sum: gloo has no average
                parameter.grad /= args.world_size


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

    @property
    def samples_per_second(self) -> float:
        return round(self.train_rows * self.epochs / self.seconds, 2) if self.seconds else 0.0


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


def build_loss(model: SentenceTransformer, params: FinetuneParams, num_labels: int) -> nn.Module:
    if params.objective == "softmax_head":
        return SoftmaxHeadLoss(model, num_labels, params.label_smoothing)
    return BatchAllTripletLoss(model)


def run_fingerprint(train: LabelledTexts, encoder: EncoderParams, finetune: FinetuneParams) -> str:
    """Hash of everything that shapes the weights: a checkpoint is resumable only under the same one."""
    digest = hashlib.sha256()
    digest.update(json.dumps([encoder.model_dump(), finetune.model_dump()], sort_keys=True).encode())
    for text, label in zip(train.texts, train.labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def resumable_checkpoint(checkpoints: Path, fingerprint: str, complete: Callable[[str], bool] = lambda _: True) -> str | None:
    """The last complete checkpoint of an interrupted identical run; stale checkpoints of another run are removed.

    A last checkpoint that `complete` rejects (killed while our callback was still writing into it)
    is removed, so the run resumes from the one before it or starts over, never with a fresh head.
    """
    marker = checkpoints / RUN_FINGERPRINT
    if marker.is_file() and json.loads(marker.read_text())["fingerprint"] == fingerprint:
        last = get_last_checkpoint(str(checkpoints))
        if last is None or complete(last):
            return last
        log.warning("%s is incomplete (the run was killed while saving it): removed", last)
        shutil.rmtree(last)
        return get_last_checkpoint(str(checkpoints))
    if checkpoints.exists():
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True)
    marker.write_text(json.dumps({"fingerprint": fingerprint}))
    return None


def share_truncated(model: SentenceTransformer, texts: list[str]) -> float:
    """Share of texts longer than max_seq_length tokens: what the encoder never sees."""
    tokenizer = model.tokenizer
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]
    return sum(length > model.max_seq_length for length in lengths) / max(1, len(lengths))


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
    if params.objective == "batch_all_triplet":
        batch_sampler = BatchSamplers.GROUP_BY_LABEL  # triplets need several texts of a label per batch, whatever their length
    elif params.length_buckets or processes > 1:
        # Equal lengths give plain random batches, still evened out across processes.
        lengths = token_lengths(model.tokenizer, train.texts, model.max_seq_length) if params.length_buckets else [0] * len(train.texts)
        batch_sampler = partial(LengthBucketBatchSampler, lengths=lengths, replicas=processes)
    else:
        batch_sampler = BatchSamplers.BATCH_SAMPLER
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        learning_rate_mapping=head_rate,
        lr_scheduler_type="linear",
        warmup_steps=params.warmup_ratio,
        optim="adamw_torch_fused" if params.fused_optimizer else "adamw_torch",
        weight_decay=0.01,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        ddp_backend=ddp_backend(device) if processes > 1 else None,
        batch_sampler=batch_sampler,
        save_strategy="epoch",
        save_total_limit=1,  # the last epoch's checkpoint is all a resumed run needs
        logging_steps=10,
        seed=params.seed,
        data_seed=params.seed,
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=False,
    )
    head_checkpoint = LossHeadCheckpoint(loss)
    with args.main_process_first(desc="checkpoints"):  # rank 0 clears stale checkpoints before any rank looks
        resume_from = resumable_checkpoint(checkpoints, fingerprint, head_checkpoint.complete) if is_main_process() else get_last_checkpoint(str(checkpoints))
    dataset = Dataset.from_dict({"text": train.texts, "label": train.labels})
    if resume_from:
        head_checkpoint.restore(resume_from)
    callbacks: list[TrainerCallback] = [head_checkpoint] + ([HeadGradientAverage(loss)] if processes > 1 else [])
    logs_live = live_dir is not None and is_main_process()
    live_run = Live(str(live_dir), resume=resume_from is not None, save_dvc_exp=False, dvcyaml=None) if logs_live else nullcontext()
    with live_run as live, nullcontext() if params.dropout else dropout_switched_off(model):  # ended whether training succeeds or not
        callbacks += [LiveMetrics(live, model, sample(train, 512, params.seed), validation, precision)] if live else []
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=callbacks)
        log.info(
            "fine-tuning on %s (%s) x %d processes, %d rows, %d epochs, resume from %s", device, precision, processes, len(train.texts), params.epochs, resume_from
        )
        started = time.perf_counter()
        output = trainer.train(resume_from_checkpoint=resume_from)
    return TrainingSummary(
        epochs=params.epochs,
        steps=output.global_step,
        train_rows=len(train.texts),
        seconds=round(time.perf_counter() - started, 2),
        final_loss=round(float(output.training_loss), 4),
        resumed_from=Path(resume_from).name if resume_from else None,
        device=device,
        precision=precision,
        processes=processes,
    )
