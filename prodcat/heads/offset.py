"""The sparse-offset softmax head: logits = standardised embedding . W + b + a_c x (calibrated sparse score of class c).

Its cost grows slowly with the classes, unlike boosting's one tree per class per round
(docs/BENCHMARKS_HEADS.md: 1.9 s at 132 classes, accuracy at or above the boosted hybrid). The score
of class c feeds class c's logit only, through one learnable scale a_c; W starts at 0 and a at 1, so
training starts from the calibrated sparse model and learns what the embedding adds. The epoch
(0 to `MAX_EPOCHS`, 0 = the sparse model) is chosen on a seeded tenth of the train rows.

Fitted by train_xgb on the same stored train blocks as the boosters (out-of-fold sparse scores) and
saved beside them as `models/xgb/<variant>.safetensors` (weights, scales, the embedding's train
statistics and the sparse temperature): scoring needs no other file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from prodcat.core.variants import Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.base import FittedHead, Fitting, TrainingRows, existing
from prodcat.heads.sparse import fit_temperature

FOLDER = "xgb"  # train_xgb's folder below models/: it fits this head beside its boosters
# The benchmark's settings (docs/BENCHMARKS_HEADS.md, softmax_offset).
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
BATCH_SIZE = 256
MAX_EPOCHS = 10
HELD_OUT_SHARE = 0.1


def held_out_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of the train rows: (rows it learns on, the tenth that picks the epoch)."""
    order = np.random.default_rng(seed).permutation(rows)
    held = max(1, round(rows * HELD_OUT_SHARE))
    return np.sort(order[held:]), np.sort(order[:held])


def standardiser(embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train mean and standard deviation per column (a constant column divides by 1)."""
    std = embedding.std(axis=0)
    return embedding.mean(axis=0).astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def offset_logits(weights: Mapping[str, torch.Tensor], embedding: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """embedding . W + b + scale x temperature x scores, the embedding standardised with the train statistics."""
    features = (embedding - weights["mean"]) / weights["std"]
    return features @ weights["weight"].T + weights["bias"] + weights["scale"] * weights["temperature"] * scores


def initial_weights(embedding: np.ndarray, num_classes: int, temperature: float) -> dict[str, torch.Tensor]:
    """W = 0, b = 0, a = 1: exactly the calibrated sparse model."""
    mean, std = standardiser(embedding)
    return {
        "weight": torch.zeros(num_classes, embedding.shape[1]),
        "bias": torch.zeros(num_classes),
        "scale": torch.ones(num_classes),
        "mean": torch.from_numpy(mean),
        "std": torch.from_numpy(std),
        "temperature": torch.tensor(temperature, dtype=torch.float32),
    }


def accuracy(weights: Mapping[str, torch.Tensor], embedding: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((offset_logits(weights, embedding, scores).argmax(dim=1) == labels).float().mean())


def train_weights(
    embedding: np.ndarray, scores: np.ndarray, labels: np.ndarray, num_classes: int, seed: int, max_epochs: int
) -> dict[str, torch.Tensor]:
    """AdamW on W, b and a from the sparse model's start; the epoch kept is the best on the held-out tenth of these (train) rows."""
    weights = initial_weights(embedding, num_classes, fit_temperature(scores, labels))
    learned = [weights[name].requires_grad_() for name in ("weight", "bias", "scale")]
    optimizer = torch.optim.AdamW(learned, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    # torch.tensor copies: the labels may be a read-only view (pandas copy-on-write), which torch.from_numpy warns about.
    x, s, y = (
        torch.from_numpy(embedding.astype(np.float32)),
        torch.from_numpy(scores.astype(np.float32)),
        torch.tensor(labels, dtype=torch.long),
    )
    fit_rows, held = (torch.from_numpy(rows) for rows in held_out_rows(len(labels), seed))
    generator = torch.Generator().manual_seed(seed)
    best = (accuracy(weights, x[held], s[held], y[held]), {name: value.detach().clone() for name, value in weights.items()})
    for _ in range(max_epochs):
        for batch in fit_rows[torch.randperm(len(fit_rows), generator=generator)].split(BATCH_SIZE):
            loss = torch.nn.functional.cross_entropy(offset_logits(weights, x[batch], s[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        held_accuracy = accuracy(weights, x[held], s[held], y[held])
        if held_accuracy > best[0]:
            best = (held_accuracy, {name: value.detach().clone() for name, value in weights.items()})
    return best[1]


@dataclass(frozen=True)
class OffsetHead(FittedHead):
    """The sparse-offset softmax head of a variant that reads an encoder's embedding and the sparse scores."""

    variant: Variant
    weights: dict[str, torch.Tensor]

    fitted_in = "train_xgb"
    refitted = True

    @classmethod
    def fit(cls, spec: Variant, rows: TrainingRows, fitting: Fitting, max_epochs: int = MAX_EPOCHS) -> OffsetHead:
        """Train on the rows' blocks alone (their out-of-fold sparse scores): the held-out tenth is drawn from them."""
        blocks, seed = rows.blocks, fitting.train_xgb.seed
        assert spec.encoder is not None and blocks.sparse_scores is not None  # an offset variant reads both
        return cls(
            spec, train_weights(blocks.embeddings[spec.encoder], blocks.sparse_scores, rows.labels, rows.num_classes, seed, max_epochs)
        )

    def save(self, folder: Path) -> None:
        """The weights as `<variant>.safetensors` in the stage's folder (`models/xgb`)."""
        save_file({name: value.contiguous() for name, value in self.weights.items()}, str(folder / f"{self.variant.name}.safetensors"))

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return [f"{FOLDER}/{spec.name}.safetensors"]

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> OffsetHead:
        return cls(spec, load_file(str(existing(models / FOLDER / f"{spec.name}.safetensors"))))

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        assert self.variant.encoder is not None and blocks.sparse_scores is not None  # an offset variant reads both
        embedding = torch.from_numpy(blocks.embeddings[self.variant.encoder].astype(np.float32))
        with torch.no_grad():
            logits = offset_logits(self.weights, embedding, torch.from_numpy(blocks.sparse_scores.astype(np.float32)))
            return torch.softmax(logits, dim=1).numpy()
