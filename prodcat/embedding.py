"""Turning texts into sentence embeddings, with a cache by text hash, and storing feature matrices.

Matrices are stored as float32 `.npy` and loaded without pickle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from prodcat.encoders import autocast_dtype


def encode_texts(model: SentenceTransformer, texts: list[str], batch_size: int, precision: str) -> np.ndarray:
    """Batched embeddings (sentence-transformers sorts by length), under autocast when bf16/fp16 is chosen."""
    dtype = autocast_dtype(precision)
    with torch.inference_mode(), torch.autocast(model.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        embeddings = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=len(texts) > 1000)
    return np.asarray(embeddings, dtype=np.float32)


def encoder_fingerprint(model: SentenceTransformer, precision: str) -> str:
    """Hash of the weights, tokenizer size, truncation and precision: equal fingerprints embed equally."""
    digest = hashlib.sha256(f"{model.max_seq_length}|{precision}|{len(model.tokenizer)}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:20]


def cache_path(cache_dir: Path, model: SentenceTransformer, precision: str) -> Path:
    """The embedding-cache file of this encoder: one per fingerprint, so no two encoders ever share vectors."""
    return Path(cache_dir) / f"{encoder_fingerprint(model, precision)}.npz"


def prune_cache(cache_dir: Path, keep: set[Path]) -> None:
    """Remove cache files of encoders this run did not use: the cache holds the current encoders only."""
    for stale in set(Path(cache_dir).glob("*.npz")) - {Path(path) for path in keep}:
        stale.unlink()


def text_keys(texts: list[str]) -> np.ndarray:
    return np.array([hashlib.sha256(text.encode()).digest()[:16] for text in texts], dtype="S16")


def cached_encode(
    texts: list[str], encode: Callable[[list[str]], np.ndarray], cache_file: Path
) -> tuple[np.ndarray, int]:
    """Embeddings for `texts`, encoding only those whose hash is not yet in `cache_file` for this encoder.

    Returns the embeddings and how many texts were actually encoded; the cache grows with the new ones.
    """
    keys = text_keys(texts)
    known: dict[bytes, np.ndarray] = {}
    if cache_file.is_file():
        with np.load(cache_file, allow_pickle=False) as stored:
            known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    missing = sorted({key for key in keys.tolist() if key not in known})
    if missing:
        first_text = {key: text for key, text in zip(keys.tolist(), texts, strict=True)}
        for key, vector in zip(missing, encode([first_text[key] for key in missing]), strict=True):
            known[key] = vector
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = cache_file.with_name(f".{cache_file.stem}.tmp.npz")
        np.savez(scratch, keys=np.array(list(known), dtype="S16"), vectors=np.stack(list(known.values())))
        scratch.replace(cache_file)
    return np.stack([known[key] for key in keys.tolist()]).astype(np.float32), len(missing)


def save_matrix(path_without_suffix: Path, matrix: np.ndarray) -> None:
    """A float32 feature matrix as `.npy`, loaded back without pickle."""
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    np.save(path_without_suffix.with_suffix(".npy"), np.asarray(matrix, dtype=np.float32), allow_pickle=False)


def load_matrix(path_without_suffix: Path) -> np.ndarray:
    return np.load(path_without_suffix.with_suffix(".npy"), allow_pickle=False)
