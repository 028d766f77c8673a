"""Batch prediction with a trained variant: the same features as training, top-k categories with probabilities.

Everything is loaded from safe formats: the encoder from safetensors, the booster from UBJ, the
TF-IDF vocabulary, categorical codes and label names from JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from prodcat.classifier import TabularEncoding, design_matrix, predict_proba
from prodcat.embedding import Matrix, encode_texts, tfidf_from_json
from prodcat.encoders import load_encoder, pick_device, resolve_precision
from prodcat.errors import InputError
from prodcat.io import read_json
from prodcat.params import Params


@dataclass(frozen=True)
class TrainedVariant:
    name: str
    labels: list[str]
    encoding: TabularEncoding
    booster: xgb.Booster
    featurize: Callable[[list[str]], Matrix]


def load_variant(variant: str, params: Params, models: Path, labels: Path) -> TrainedVariant:
    """The text featurizer, tabular coding and booster that `dvc repro` trained for `variant`."""
    booster_file = models / "xgb" / f"{variant}.ubj"
    text_artifacts = {"stock": [], "finetuned": [models / "finetuned"], "tfidf": [models / "tfidf.json"]}[variant]
    needed = [booster_file, labels, *text_artifacts]
    if missing := [str(path) for path in needed if not path.exists()]:
        raise InputError(f"variant {variant!r} is not trained here (missing {', '.join(missing)}); run `dvc repro` first")
    if variant == "tfidf":
        vectorizer = tfidf_from_json(read_json(models / "tfidf.json"))
        featurize = vectorizer.transform
    else:
        device = pick_device()
        precision = resolve_precision(params.embed.precision, device)
        encoder = params.encoder.base if variant == "stock" else str(models / "finetuned")
        model = load_encoder(encoder, params.encoder.max_seq_length, device=device)
        featurize = lambda texts: encode_texts(model, texts, params.embed.batch_size, precision)  # noqa: E731
    return TrainedVariant(
        name=variant,
        labels=read_json(labels),
        encoding=TabularEncoding.from_json(read_json(models / "xgb" / "tabular.json")),
        booster=xgb.Booster(model_file=str(booster_file)),
        featurize=featurize,
    )


def predict(variant: TrainedVariant, features: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
    """One row per product: the predicted category and the top-k categories with their probabilities."""
    matrix = design_matrix(variant.featurize(features["text"].tolist()), variant.encoding.transform(features), variant.encoding)
    probabilities = predict_proba(variant.booster, matrix)
    ranked = np.argsort(-probabilities, axis=1)[:, :top_k]
    result = pd.DataFrame({"id": features["id"].to_numpy(), "predicted": [variant.labels[i] for i in ranked[:, 0]]})
    for rank in range(ranked.shape[1]):
        result[f"top{rank + 1}_category"] = [variant.labels[i] for i in ranked[:, rank]]
        result[f"top{rank + 1}_probability"] = probabilities[np.arange(len(ranked)), ranked[:, rank]].round(4)
    return result
