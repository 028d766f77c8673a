"""The cosine softmax head's weights: the one format fine-tuning writes and scoring reads.

Apart from `softmax.py` (the `Head` that scores with them) so that fine-tuning depends on this file
alone: editing the head interface does not rerun fine-tuning.
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
    """(rows, classes) probabilities of the head from the embeddings of the encoder it was trained with."""
    with torch.no_grad():
        return torch.softmax(head_logits(head, torch.from_numpy(embeddings)), dim=-1).numpy()
