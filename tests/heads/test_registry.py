"""The head registry: every variant's head has a class, and a new head is one `Head` subclass plus one registry line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodcat.core.io import write_json
from prodcat.core.variants import VARIANTS, Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Head, existing
from prodcat.heads.registry import HEADS, head_class
from prodcat.heads.scoring import TrainedHeads, variant_probabilities
from prodcat.inference.bundle import model_files


@dataclass(frozen=True)
class PriorHead(Head):
    """Every product gets the train split's class frequencies: the floor any variant must beat (the example of docs/ARCHITECTURE.md)."""

    frequencies: np.ndarray

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return ["prior/frequencies.npy"]

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> PriorHead:
        return cls(np.load(existing(models / "prior/frequencies.npy"), allow_pickle=False))

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
    for folder in ("prior", "xgb"):
        (tmp_path / folder).mkdir()
    np.save(tmp_path / "prior/frequencies.npy", np.array([0.5, 0.3, 0.2]))
    write_json(tmp_path / "xgb/tabular.json", encoding.to_json())

    heads = TrainedHeads.load(tmp_path, ["prior", "fusion"], {"fusion_weights": {"prior": 1.0}})
    blocks = FeatureBlocks({}, None, encoding.transform(pd.DataFrame(index=range(2))))
    probabilities = variant_probabilities(["fusion", "prior"], blocks, heads)
    assert probabilities["prior"].tolist() == [[0.5, 0.3, 0.2]] * 2 and probabilities["fusion"].tolist() == [[0.5, 0.3, 0.2]] * 2
    assert model_files(["prior"]) == ["xgb/tabular.json", "prior/frequencies.npy"]  # what a bundle of it copies
