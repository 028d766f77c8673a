"""The fine-tuning softmax head as a classifier of its own (variant `softmax`): cosine logits over the embedding.

Kept apart from the training code so that scoring it needs only torch and safetensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from prodcat.core.errors import InputError

SOFTMAX_HEAD_FILE = "softmax_head.safetensors"  # beside the saved encoder


def head_logits(head: dict[str, torch.Tensor], embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine-classifier logits: temperature x (W . normalised embedding + b)."""
    return head["log_scale"].exp() * F.linear(F.normalize(embeddings.float(), dim=-1), head["weight"], head["bias"])


def save_head(head: dict[str, torch.Tensor], folder: Path) -> None:
    save_file({name: value.detach().cpu().contiguous() for name, value in head.items()}, str(folder / SOFTMAX_HEAD_FILE))


def load_head(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / SOFTMAX_HEAD_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing: the softmax variant needs finetune.objective softmax_head and `dvc repro`")
    return load_file(str(path))


def head_probabilities(head: dict[str, torch.Tensor], embeddings: np.ndarray) -> np.ndarray:
    """(rows, classes) probabilities of the head from the fine-tuned encoder's embeddings."""
    with torch.no_grad():
        return torch.softmax(head_logits(head, torch.from_numpy(embeddings)), dim=-1).numpy()
