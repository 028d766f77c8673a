"""Fine-tuning objectives (param `finetune.objective`).

- `softmax_head`, the original recipe: a linear head over the sentence embedding, CrossEntropy (SoftmaxHeadLoss).
  The head is kept beside the encoder (`softmax_head.safetensors`) and scored directly as the `softmax` variant.
- `batch_all_triplet`: BatchAllTripletLoss over batches that hold several texts of each label
  (the GROUP_BY_LABEL sampler), so every batch has positives and negatives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import BatchAllTripletLoss
from torch import nn

from prodcat.core.params import FinetuneParams
from prodcat.heads.softmax_weights import head_logits


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
        dimension = model.get_embedding_dimension()
        assert dimension is not None  # a pooled sentence-transformer has one
        self.classifier = nn.Linear(dimension, num_labels)
        self.log_scale = nn.Parameter(torch.tensor(math.log(initial_scale)))
        self.label_smoothing = label_smoothing

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        embeddings = self.model(sentence_features[0])["sentence_embedding"]
        return F.cross_entropy(head_logits(self.head_weights(), embeddings), labels, label_smoothing=self.label_smoothing)

    def head_weights(self) -> dict[str, torch.Tensor]:
        """The head's own weights, as saved beside the encoder."""
        return {"weight": self.classifier.weight, "bias": self.classifier.bias, "log_scale": self.log_scale}


def build_loss(model: SentenceTransformer, params: FinetuneParams, num_labels: int) -> nn.Module:
    if params.objective == "softmax_head":
        return SoftmaxHeadLoss(model, num_labels, params.label_smoothing)
    return BatchAllTripletLoss(model)
