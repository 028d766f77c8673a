"""Embeddings: precision, the text-hash cache, safe storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from devtools.tiny_bert import FP32_ATOL
from prodcat.encoders.encode import cached_encode, clip_text, encode_texts, encoder_fingerprint, features_of
from prodcat.encoders.load import load_encoder
from prodcat.encoders.matrices import load_matrix, save_matrix

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
    # bf16 keeps 8 bits of mantissa: an autocast matmul rounds both inputs by 2^-9 each, 2^-8 relative; 8 per layer
    # (q, k, v, scores, weighted values, attention output, two feed-forward), summed in fp32 on every CPU: at most
    # 16 x 2^-8 = 0.0625 relative over 2 layers, so cosine >= sqrt(1 - 0.0625^2) = 0.998.
    assert cosine.min() > 0.99


# max_seq_length 16 clips at 256 characters. Words over 100 characters are one [UNK] each, so that text
# clipped keeps 2 tokens of the 16 it fills in full: it must be tokenized in full.
LONG_WORDS = " ".join(["bottle" * 20] * 30)
MIXED = [
    "red",
    *TEXTS,
    " ".join(TEXTS * 5),  # ~400 characters: clipped, still fills 16 tokens
    " ".join(TEXTS * 40),  # ~3,200 characters
    "steel" * 80,  # 400 characters and no space: left whole
    LONG_WORDS,
    "kids " + LONG_WORDS,
    *[f"{TEXTS[i % 4]} {i}" for i in range(9)],
]


def test_features_of_clipped_texts_equal_the_full_texts_features(tiny_bert: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=16)
    assert (
        clip_text("red steel bricks", 10) == "red steel" and clip_text("red steel", 5) == "red" and clip_text("redsteel", 5) == "redsteel"
    )
    clipped_alone = model.preprocess([clip_text(LONG_WORDS, 256)])
    assert clipped_alone["attention_mask"].sum().item() == 4  # [CLS] [UNK] [UNK] [SEP]: the fallback is needed
    got, full = features_of(model, MIXED), model.preprocess(MIXED)
    assert got["attention_mask"].sum(dim=1).tolist()[5:10] == [16, 16, 3, 16, 16]  # the spaceless text is one [UNK]
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(got[key], full[key]), key


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_encode_texts_equals_model_encode_in_any_order(tiny_bert: Path, batch_size: int, workers: int) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=16)
    expected = model.encode(MIXED, batch_size=batch_size, convert_to_numpy=True)
    got = encode_texts(model, MIXED, batch_size, "fp32", workers=workers)
    assert got.dtype == np.float32 and got.shape == (len(MIXED), 32)
    # Same model, same batches (both sort by length), same process: the same kernels; 1e-6 is a few float32 ulps.
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    shuffle = np.random.default_rng(batch_size).permutation(len(MIXED))
    shuffled = encode_texts(model, [MIXED[i] for i in shuffle], batch_size, "fp32", workers=workers)
    np.testing.assert_allclose(shuffled, got[shuffle], atol=1e-6, rtol=0)
    assert np.abs(got[0] - got[1]).max() > 1e-2  # texts differ, so a wrong order would show


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
    assert np.allclose(second, encode_texts(model, grown, batch_size=8, precision="fp32"), atol=FP32_ATOL)


def test_fingerprint_tells_encoders_and_precisions_apart(tiny_bert: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=32)
    assert encoder_fingerprint(model, "fp32") == encoder_fingerprint(load_encoder(str(tiny_bert), max_seq_length=32), "fp32")
    assert encoder_fingerprint(model, "fp32") != encoder_fingerprint(model, "bf16")
    assert encoder_fingerprint(model, "fp32") != encoder_fingerprint(load_encoder(str(tiny_bert), max_seq_length=16), "fp32")


def test_embed_stage_keeps_one_cache_per_encoder_so_finetuned_never_reuses_stock(
    small_catalog: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """Two encoders over the same texts: each variant's matrices are its own encoder's, on a cold and on a warm cache."""
    from devtools.scratch_repo import write_params, write_paths
    from devtools.tiny_bert import build_tiny_bert
    from prodcat.encoders.encode import cache_path
    from stages import embed as embed_stage
    from stages import preprocess as preprocess_stage

    params = write_params(
        tmp_path, small_catalog, encoder={"base": str(tiny_bert), "max_seq_length": 32},
        catalog={"min_class_count": 8}, inference={"precision": "fp32"}, variants=["stock", "finetuned"],
    )  # fmt: skip
    processed = tmp_path / "processed"
    paths = write_paths(tmp_path, processed=processed, models=tmp_path, embeddings=tmp_path / "emb", embedding_cache=tmp_path / "cache",
                        embed_report=tmp_path / "embed.json")  # fmt: skip
    preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
    texts = pd.read_parquet(processed / "test.parquet")["text"].tolist()
    names = pd.read_csv(small_catalog, dtype=str, keep_default_na=False)["Product Name"].tolist()
    other = build_tiny_bert(tmp_path / "other-bert", names, seed=1)  # the fixture's vocabulary and shape, other weights
    stock, finetuned = load_encoder(str(tiny_bert), 32), load_encoder(str(other), 32)
    (tmp_path / "finetuned").symlink_to(other)  # the finetuned encoder: another tiny BERT
    argv = ["--params", str(params), "--paths", str(paths)]

    for _ in range(2):  # cold cache, then every text from the cache
        embed_stage.main(argv)
        got = {variant: load_matrix(tmp_path / "emb" / variant / "test") for variant in ("stock", "finetuned")}
        assert not np.allclose(got["stock"], got["finetuned"], atol=1e-3)
        assert np.allclose(got["stock"], encode_texts(stock, texts, batch_size=16, precision="fp32"), atol=FP32_ATOL)
        assert np.allclose(got["finetuned"], encode_texts(finetuned, texts, batch_size=16, precision="fp32"), atol=FP32_ATOL)
    assert sorted((tmp_path / "cache").glob("*.npz")) == sorted({cache_path(tmp_path / "cache", m, "fp32") for m in (stock, finetuned)})
    # inference.runtime torch exports nothing; the int8 folder still holds its index, so DVC never finds the out empty
    assert [path.name for path in (tmp_path / "onnx_int8").iterdir()] == ["index.json"]
    assert json.loads((tmp_path / "onnx_int8/index.json").read_text()) == {"runtime": "torch", "exports": []}
