"""A training run's DVCLive curves, for `dvc plots show`: per-step training loss, per-epoch validation centroid accuracy.

The accuracy is nearest-class-centroid, so it measures any objective alike (fine-tuning's two, and
adaptation's, which sees no label). A resumed run continues its curves.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
from dvclive import Live
from sentence_transformers import SentenceTransformer
from transformers import TrainerCallback

from prodcat.encoders.encode import encode_texts
from prodcat.training.trainer import LabelledTexts

log = logging.getLogger(__name__)

REFERENCE_ROWS = 512  # train rows the class centroids are computed from


def live_curves(live_dir: Path | None, resumed: bool) -> AbstractContextManager[Live | None]:
    """DVCLive writing into `live_dir`, appending to its curves when the run resumes; nothing without a folder."""
    return Live(str(live_dir), resume=resumed, save_dvc_exp=False, dvcyaml=None) if live_dir is not None else nullcontext()


def sample(examples: LabelledTexts, size: int, seed: int) -> LabelledTexts:
    """At most `size` examples, drawn without replacement: centroids need a sample, not every train row."""
    if len(examples.texts) <= size:
        return examples
    picked = np.random.default_rng(seed).choice(len(examples.texts), size=size, replace=False)
    return LabelledTexts([examples.texts[i] for i in picked], [examples.labels[i] for i in picked])


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


class LiveMetrics(TrainerCallback):
    """Per-step training loss and per-epoch validation accuracy to DVCLive."""

    def __init__(
        self, live: Live, model: SentenceTransformer, reference: LabelledTexts, validation: LabelledTexts | None, precision: str
    ) -> None:
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
