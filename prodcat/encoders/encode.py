"""Turning texts into sentence embeddings, with a cache by text hash, and storing feature matrices.

Matrices are stored as float32 `.npy` and loaded without pickle. Imports only torch, numpy,
sentence-transformers and the standard library: `benchmarks/gpu.py` runs `encode_texts` on a bare GPU machine.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

# A clipped text keeps its first max_seq_length * CLIP_CHARS_PER_TOKEN characters (the Amazon texts
# need under 6 characters a token); see `features_of` for why the result equals the full text's.
CLIP_CHARS_PER_TOKEN = 8


def autocast_dtype(precision: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def clip_text(text: str, limit: int) -> str:
    """`text` cut before the last space at or under `limit` characters; unchanged when shorter or without one."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[:cut] if cut > 0 else text


def features_of(model: SentenceTransformer, texts: list[str]) -> dict:
    """What `model.preprocess(texts)` gives, from texts clipped to max_seq_length * CLIP_CHARS_PER_TOKEN characters where that is exact.

    Tokenizing all of a 10,000-character text to keep its first 128 tokens is wasted work. A tokenizer
    that splits words at spaces (WordPiece, as BERT/MiniLM) tokenizes a text cut at a space into a
    prefix of the full text's tokens. So a clipped text that still fills max_seq_length tokens gives
    the full text's row exactly; one that falls short (very long words) is tokenized in full instead.
    """
    assert model.max_seq_length is not None  # load_encoder sets it
    tokenize = model.preprocess
    limit = model.max_seq_length * CLIP_CHARS_PER_TOKEN
    clipped = [clip_text(text, limit) for text in texts]
    features = tokenize(clipped)
    real_tokens = features["attention_mask"].sum(dim=1).tolist()
    short = {i for i, text in enumerate(texts) if clipped[i] != text and real_tokens[i] < model.max_seq_length}
    if short:
        features = tokenize([text if i in short else clipped[i] for i, text in enumerate(texts)])
    return features


def prepared_batches(model: SentenceTransformer, batches: list[list[str]], workers: int) -> Iterator[dict]:
    """Features of each batch in order, tokenized by `workers` threads, at most 2 x workers batches ahead.

    Fast tokenizers release the GIL, so threads tokenize in parallel while the model runs. The first
    batch is tokenized here, alone: it sets the tokenizer's truncation and padding, which later calls
    only read (a change while another thread tokenizes fails with "Already borrowed").
    """
    pin = model.device.type == "cuda"

    def prepare(batch: list[str]) -> dict:
        features = features_of(model, batch)
        return {key: value.pin_memory() if pin and torch.is_tensor(value) else value for key, value in features.items()}

    if not batches:
        return
    yield prepare(batches[0])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tokenize") as pool:
        upcoming = iter(batches[1:])
        pending = deque(pool.submit(prepare, batch) for batch in islice(upcoming, 2 * workers))
        while pending:
            features = pending.popleft().result()
            pending.extend(pool.submit(prepare, batch) for batch in islice(upcoming, 1))
            yield features


def default_workers(device: torch.device) -> int:
    """Tokenizer threads: min(8, cores) on a GPU, which outruns one thread many times over; 1 on the CPU,
    where the model's matmuls already use every core and one thread tokenizing ahead hides tokenization."""
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 1


def encode_texts(model: SentenceTransformer, texts: list[str], batch_size: int, precision: str, workers: int | None = None) -> np.ndarray:
    """The embeddings `model.encode(texts, batch_size)` gives, float32, under autocast when bf16/fp16 is chosen.

    Same batches as `encode` (longest text first), but tokenized ahead by `workers` threads
    (default: `default_workers`) while the model runs: on a GPU one tokenizer thread bounds encode.
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    device = model.device
    workers = workers or default_workers(device)
    order = np.argsort([-len(text) for text in texts])  # as sentence-transformers sorts: same batches
    batches = [[texts[i] for i in order[start : start + batch_size]] for start in range(0, len(texts), batch_size)]
    dtype = autocast_dtype(precision)
    model.eval()
    embeddings: list[torch.Tensor] = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for features in prepared_batches(model, batches, workers):
            on_device = {key: value.to(device, non_blocking=True) if torch.is_tensor(value) else value for key, value in features.items()}
            embeddings.append(model(on_device)["sentence_embedding"].float().cpu())
    result = np.empty((len(texts), embeddings[0].shape[1]), dtype=np.float32)
    result[order] = torch.cat(embeddings).numpy()
    return result


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


def cached_encode(texts: list[str], encode: Callable[[list[str]], np.ndarray], cache_file: Path) -> tuple[np.ndarray, int]:
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
