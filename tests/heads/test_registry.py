"""The head registry: every variant's head has a class, every head that fits itself is fitted through it, and a new head is one class plus one registry line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodcat.core.io import write_json
from prodcat.core.params import TrainXgbParams
from prodcat.core.variants import VARIANTS, Variant, variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import FittedHead, Fitting, TrainingRows, existing
from prodcat.heads.registry import HEADS, fit_heads, head_class, refitted_variants, variants_fitted_in
from prodcat.heads.scoring import TrainedHeads, variant_probabilities
from prodcat.inference.bundle import model_files


@dataclass(frozen=True)
class PriorHead(FittedHead):
    """Every product gets the train split's class frequencies: the floor any variant must beat (the example of docs/ARCHITECTURE.md)."""

    frequencies: np.ndarray

    fitted_in = "train_xgb"  # fitted on the stored train blocks, saved in models/xgb beside the boosters
    refitted = True  # and again on train + validation when the champion reads it

    @classmethod
    def fit(cls, spec: Variant, rows: TrainingRows, fitting: Fitting) -> PriorHead:
        return cls(np.bincount(rows.labels, minlength=rows.num_classes) / len(rows.labels))

    def save(self, folder: Path) -> None:
        np.save(folder / "prior.npy", self.frequencies)

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return ["xgb/prior.npy"]

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> PriorHead:
        return cls(np.load(existing(models / "xgb/prior.npy"), allow_pickle=False))

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.tile(self.frequencies, (len(blocks.tabular), 1))


def test_every_variant_names_a_registered_head() -> None:
    assert {name: head_class(spec).__name__ for name, spec in VARIANTS.items()} == {
        "stock": "XGBoostHead", "adapted": "XGBoostHead", "finetuned": "XGBoostHead", "softmax": "SoftmaxHead",
        "sparse": "LinearHead", "hybrid": "XGBoostHead", "hybrid_linear": "OffsetHead", "fusion": "FusionHead",
    }  # fmt: skip
    with pytest.raises(ValueError, match="variant 'odd' names the unknown head 'knn'; known: xgboost, linear, softmax, fusion, offset"):
        head_class(Variant("odd", "stock", False, "knn", "not registered"))


def test_a_new_head_is_one_class_and_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(HEADS, "prior", PriorHead)
    monkeypatch.setitem(VARIANTS, "prior", Variant("prior", None, False, "prior", "train class frequencies, whatever the product"))
    encoding = TabularEncoding(use_price=False, categories={})
    (tmp_path / "xgb").mkdir()
    write_json(tmp_path / "xgb/tabular.json", encoding.to_json())
    train = TrainingRows(
        FeatureBlocks({}, None, encoding.transform(pd.DataFrame(index=range(10)))), np.array([0] * 5 + [1] * 3 + [2] * 2), 3
    )

    # train_xgb and refit fit the heads the registry names for them, through it: the new head among them.
    assert variants_fitted_in("train_xgb", ["softmax", "prior", "stock", "sparse"]) == ["prior", "stock"]
    assert refitted_variants(["softmax", "prior", "fusion"]) == ["prior"]
    fit_heads(["prior"], train, Fitting(encoding, TrainXgbParams()))["prior"].save(tmp_path / "xgb")

    heads = TrainedHeads.load(tmp_path, ["prior", "fusion"], {"fusion_weights": {"prior": 1.0}})
    blocks = FeatureBlocks({}, None, encoding.transform(pd.DataFrame(index=range(2))))
    probabilities = variant_probabilities(["fusion", "prior"], blocks, heads)
    assert probabilities["prior"].tolist() == [[0.5, 0.3, 0.2]] * 2 and probabilities["fusion"].tolist() == [[0.5, 0.3, 0.2]] * 2
    assert model_files(["prior"]) == ["xgb/tabular.json", "xgb/prior.npy"]  # what a bundle of it copies


def tiny_training_rows() -> tuple[TrainingRows, Fitting]:
    """60 rows of three classes: every encoder's embedding and the sparse scores lean towards the label; price and one categorical."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    frame = pd.DataFrame({"price": rng.random(60), "model": rng.choice(["a", "b"], 60)})
    encoding = TabularEncoding.fit(frame, ["model"])
    embeddings = {encoder: rng.normal(size=(60, 4)).astype(np.float32) + labels[:, None] for encoder in ("stock", "adapted", "finetuned")}
    scores = (np.eye(3)[labels] + rng.normal(0, 0.5, (60, 3))).astype(np.float32)
    rows = TrainingRows(FeatureBlocks(embeddings, scores, encoding.transform(frame)), labels, 3)
    return rows, Fitting(encoding, TrainXgbParams(num_boost_round=3))


def test_every_head_that_fits_itself_is_fitted_through_the_registry_as_by_its_own_class() -> None:
    """A head the stages' one fitting path (`fit_heads`) passed over, or fitted otherwise, fails here by value."""
    rows, fitting = tiny_training_rows()
    through_registry = fit_heads(list(VARIANTS), rows, fitting)
    fits_itself = [name for name, spec in VARIANTS.items() if issubclass(head_class(spec), FittedHead)]
    assert list(through_registry) == fits_itself == ["stock", "adapted", "finetuned", "hybrid", "hybrid_linear"]
    for name in fits_itself:
        own = head_class(variant(name)).fit(variant(name), rows, fitting)
        np.testing.assert_array_equal(
            through_registry[name].predict_proba(rows.blocks, {}), own.predict_proba(rows.blocks, {}), err_msg=name
        )
    # The stages that fit from feature blocks ask for exactly these; every other head names where it is fitted.
    assert variants_fitted_in("train_xgb", list(VARIANTS)) == fits_itself
    assert {name: head_class(spec).fitted_in for name, spec in VARIANTS.items() if name not in fits_itself} == {
        "softmax": "finetune", "sparse": "train_sparse", "fusion": "champion",
    }  # fmt: skip
    assert refitted_variants(list(VARIANTS)) == ["stock", "adapted", "finetuned", "sparse", "hybrid", "hybrid_linear"]
