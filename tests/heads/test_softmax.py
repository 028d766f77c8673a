"""The softmax head scores the embeddings of the encoder its variant names, which is the one it was trained with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from prodcat.core.variants import Variant, variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.softmax import SoftmaxHead
from prodcat.heads.softmax_weights import save_head

HEAD = {"weight": torch.eye(3, 4), "bias": torch.zeros(3), "log_scale": torch.tensor(2.0)}  # reads class k off dimension k


def test_the_softmax_head_reads_the_encoder_its_variant_names(tmp_path: Path) -> None:
    adapted = Variant("adapted_softmax", "adapted", False, "softmax", "adapted embedding -> a softmax head trained with it")
    (tmp_path / "adapted").mkdir()
    save_head(HEAD, tmp_path / "adapted")
    assert SoftmaxHead.files(adapted) == ["adapted/softmax_head.safetensors"]
    assert SoftmaxHead.files(variant("softmax")) == ["finetuned/softmax_head.safetensors"]
    classes = np.array([2, 0, 1])
    blocks = FeatureBlocks(
        {"adapted": np.eye(3, 4, dtype=np.float32)[classes], "finetuned": np.eye(3, 4, dtype=np.float32)}, None, np.empty((3, 0))
    )
    probabilities = SoftmaxHead.load(tmp_path, adapted, {}).predict_proba(blocks, {})
    assert probabilities.argmax(axis=1).tolist() == [2, 0, 1]  # the finetuned block would say 0, 1, 2
    e2 = np.exp(2.0)  # cosine 1 to its class, 0 to the others, times the scale e^2
    np.testing.assert_allclose(probabilities.max(axis=1), np.exp(e2) / (np.exp(e2) + 2), rtol=1e-6)
