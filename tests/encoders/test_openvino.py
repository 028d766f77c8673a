"""The OpenVINO runtime embeds as sentence-transformers does: same pooling, normalisation, truncation and row order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

from devtools.tiny_bert import FP32_ATOL
from prodcat.encoders.encode import encode_texts
from prodcat.encoders.load import load_encoder
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import row_cosines
from prodcat.encoders.runtimes.openvino import OpenVinoEncoder

# Lengths from 1 to many tokens, not sorted: batches are padded, long texts truncated at 32 tokens, rows reordered.
TEXTS = [
    "lego",
    "stainless steel water bottle with a straw lid, 750 ml, keeps drinks cold for 24 hours " * 3,
    "red lego bricks for kids",
    "water bottle for kids",
    "red steel bricks and a blue toy car with remote control and batteries included",
    "a wooden puzzle",
]


@pytest.fixture(scope="module")
def tiny_model(tiny_bert: Path) -> SentenceTransformer:
    return load_encoder(str(tiny_bert), max_seq_length=32)  # raw BERT folder: mean pooling, no Normalize


def test_fp32_embeddings_equal_torch_for_mean_and_cls_normalized_models(tiny_model: SentenceTransformer) -> None:
    transformer = tiny_model[0]
    cls_normalized = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="cls"), Normalize()]
    )
    for name, model in (("mean", tiny_model), ("cls", cls_normalized)):
        reference = encode_texts(model, TEXTS, batch_size=4, precision="fp32")
        vectors = OpenVinoEncoder(model, "fp32", batch_size=4).encode(TEXTS)
        assert vectors.dtype == np.float32 and vectors.shape == reference.shape, name
        assert np.abs(vectors - reference).max() < FP32_ATOL, name
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=FP32_ATOL)  # cls + Normalize: unit rows
    assert OpenVinoEncoder(tiny_model, "fp32", batch_size=4).encode([]).shape == (0, 0)


def test_truncation_follows_the_models_max_seq_length(tiny_bert: Path) -> None:
    short = load_encoder(str(tiny_bert), max_seq_length=8)
    vectors = OpenVinoEncoder.load(str(tiny_bert), RuntimeSettings(max_seq_length=8, batch_size=4, precision="fp32")).encode(TEXTS)
    assert np.abs(vectors - encode_texts(short, TEXTS, batch_size=4, precision="fp32")).max() < FP32_ATOL
    assert row_cosines(vectors, encode_texts(load_encoder(str(tiny_bert), 32), TEXTS, 4, "fp32"))[1] < 0.999  # the long text was cut
