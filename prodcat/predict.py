"""Batch prediction with a trained variant (the champion by default): the same features as training, top-k categories.

Everything is loaded from safe formats: encoders and the softmax head from safetensors, boosters
from UBJ, the sparse model from JSON + npz, categorical codes, label names and the champion from JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.embedding import encode_texts
from prodcat.encoders import load_encoder, pick_device, resolve_precision
from prodcat.errors import InputError
from prodcat.io import read_json
from prodcat.params import Params
from prodcat.scoring import FeatureBlocks, TrainedHeads, variant_probabilities
from prodcat.sparse import SparseModel
from prodcat.variants import encoder_source, encoders_needed, sparse_needed, variant

CHAMPION_FILE = "champion.json"


@dataclass(frozen=True)
class Predictor:
    """One variant and everything it needs to score raw products: encoders, sparse model, heads, label names."""

    name: str
    labels: list[str]
    scored: list[str]  # the variant, after its fusion members if it is the fusion
    encoders: dict[str, Callable[[list[str]], np.ndarray]]
    sparse: SparseModel | None
    heads: TrainedHeads

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        texts = features["text"].tolist()
        blocks = FeatureBlocks(
            embeddings={encoder: encode(texts) for encoder, encode in self.encoders.items()},
            sparse_scores=self.sparse.scores(texts) if self.sparse else None,
            tabular=self.heads.encoding.transform(features),
        )
        return variant_probabilities(self.scored, blocks, self.heads)[self.name]


def champion_choice(models: Path) -> dict:
    path = models / CHAMPION_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing: run `dvc repro` first (the champion stage writes it)")
    return read_json(path)


def text_encoder(source: str, max_seq_length: int, batch_size: int, precision: str) -> Callable[[list[str]], np.ndarray]:
    """`texts -> embeddings` of the sentence-transformers encoder at `source`, on the best device here."""
    device = pick_device()
    model = load_encoder(source, max_seq_length, device=device)
    chosen = resolve_precision(precision, device)
    return lambda texts: encode_texts(model, texts, batch_size, chosen)


def load_predictor(name: str | None, params: Params, models: Path, labels: Path) -> Predictor:
    """The predictor of variant `name`, or of the champion chosen on validation when `name` is None."""
    choice = champion_choice(models)
    name = name or choice["champion"]
    variant(name)  # an unknown name fails here, with the known ones
    scored = [*params.fusion.members, name] if name == "fusion" else [name]
    if not labels.is_file():
        raise InputError(f"{labels} is missing: run `dvc repro` first")
    heads = TrainedHeads.load(models, scored, choice["fusion_weights"])
    encoders = {
        encoder: text_encoder(encoder_source(encoder, params.encoder.base, models / "finetuned"), params.encoder.max_seq_length, params.embed.batch_size, params.embed.precision)
        for encoder in encoders_needed(scored)
    }
    sparse = SparseModel.load(models / "sparse") if sparse_needed(scored) else None
    return Predictor(name, read_json(labels), scored, encoders, sparse, heads)


def predict(predictor: Predictor, features: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
    """One row per product: the predicted category and the top-k categories with their probabilities."""
    probabilities = predictor.probabilities(features)
    ranked = np.argsort(-probabilities, axis=1)[:, :top_k]
    labels = np.asarray(predictor.labels, dtype=object)
    result = pd.DataFrame({"id": features["id"].to_numpy(), "predicted": labels[ranked[:, 0]]})
    for rank in range(ranked.shape[1]):
        result[f"top{rank + 1}_category"] = labels[ranked[:, rank]]
        result[f"top{rank + 1}_probability"] = probabilities[np.arange(len(ranked)), ranked[:, rank]].round(4)
    return result
