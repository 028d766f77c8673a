"""Embeddings: precision, the text-hash cache, safe storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prodcat.embedding import (
    cached_encode,
    encode_texts,
    encoder_fingerprint,
    load_matrix,
    save_matrix,
)
from prodcat.encoders import load_encoder

TEXTS = ["red lego bricks for kids", "stainless steel water bottle", "water bottle for kids", "red steel bricks"]


def test_matrices_round_trip_as_float32(tmp_path: Path) -> None:
    dense = np.arange(6, dtype=np.float64).reshape(2, 3)
    save_matrix(tmp_path / "stock" / "train", dense)
    loaded = load_matrix(tmp_path / "stock" / "train")
    assert loaded.dtype == np.float32 and np.array_equal(loaded, dense)


def test_encode_texts_in_bf16_matches_fp32_closely(tiny_bert: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=32)
    full = encode_texts(model, TEXTS, batch_size=2, precision="fp32")
    half = encode_texts(model, TEXTS, batch_size=2, precision="bf16")
    assert full.shape == (4, 32) and full.dtype == np.float32 and half.dtype == np.float32
    cosine = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cosine.min() > 0.99


def test_cache_encodes_only_new_texts_and_matches_uncached(tiny_bert: Path, tmp_path: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=32)
    calls: list[int] = []

    def encode(batch: list[str]) -> np.ndarray:
        calls.append(len(batch))
        return encode_texts(model, batch, batch_size=4, precision="fp32")

    cache = tmp_path / f"{encoder_fingerprint(model, 'fp32')}.npz"
    texts = [f"product {i} {TEXTS[i % 4]}" for i in range(40)]
    first, encoded_first = cached_encode(texts, encode, cache)
    grown = texts + [f"new product {i}" for i in range(4)] + texts[:2]  # 10 % new, plus repeats
    second, encoded_second = cached_encode(grown, encode, cache)
    assert (encoded_first, encoded_second) == (40, 4) and calls == [40, 4]
    assert np.allclose(second[:40], first) and np.allclose(second[-2:], first[:2])
    assert np.allclose(second, encode_texts(model, grown, batch_size=8, precision="fp32"), atol=1e-5)


def test_fingerprint_tells_encoders_and_precisions_apart(tiny_bert: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=32)
    assert encoder_fingerprint(model, "fp32") == encoder_fingerprint(load_encoder(str(tiny_bert), max_seq_length=32), "fp32")
    assert encoder_fingerprint(model, "fp32") != encoder_fingerprint(model, "bf16")
    assert encoder_fingerprint(model, "fp32") != encoder_fingerprint(load_encoder(str(tiny_bert), max_seq_length=16), "fp32")
