"""Turning texts into features: sentence embeddings per encoder variant, and the TF-IDF baseline.

Each variant's train/test matrices are stored in safe formats: dense float32 `.npy` (loaded
without pickle) or sparse `.npz`; the TF-IDF vocabulary and idf weights as JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sentence_transformers import SentenceTransformer
from sklearn.feature_extraction.text import TfidfVectorizer

from prodcat.encoders import autocast_dtype
from prodcat.params import TfidfParams

Matrix = np.ndarray | sp.csr_matrix


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


def fit_tfidf(train_texts: list[str], params: TfidfParams) -> TfidfVectorizer:
    """Word 1..n-gram TF-IDF fitted on the train split only."""
    vectorizer = TfidfVectorizer(
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_features=params.max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )
    return vectorizer.fit(train_texts)


def tfidf_to_json(vectorizer: TfidfVectorizer) -> dict:
    return {
        "ngram_range": list(vectorizer.ngram_range),
        "vocabulary": {term: int(index) for term, index in vectorizer.vocabulary_.items()},
        "idf": vectorizer.idf_.tolist(),
    }


def tfidf_from_json(payload: dict) -> TfidfVectorizer:
    """Rebuild a fitted vectorizer from JSON: no pickle involved."""
    vectorizer = TfidfVectorizer(ngram_range=tuple(payload["ngram_range"]), sublinear_tf=True, dtype=np.float32)
    vectorizer.vocabulary_ = payload["vocabulary"]
    vectorizer.idf_ = np.asarray(payload["idf"], dtype=np.float32)
    return vectorizer


def save_matrix(path_without_suffix: Path, matrix: Matrix) -> None:
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    if sp.issparse(matrix):
        sp.save_npz(path_without_suffix.with_suffix(".npz"), sp.csr_matrix(matrix))
    else:
        np.save(path_without_suffix.with_suffix(".npy"), matrix, allow_pickle=False)


def load_matrix(path_without_suffix: Path) -> Matrix:
    sparse_path = path_without_suffix.with_suffix(".npz")
    if sparse_path.is_file():
        return sp.load_npz(sparse_path).tocsr()
    return np.load(path_without_suffix.with_suffix(".npy"), allow_pickle=False)
