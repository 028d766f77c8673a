"""A bundle without models, for the online service's tests: answers follow from each row alone, so a misplaced row shows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.inference.bundle import Bundle
from prodcat.inference.predictor import Predictions

LABELS = ["Books", "Games", "Toys"]
MANIFEST = {
    "variant": "fake",
    "labels": LABELS,
    "inference": {
        "dataset": {
            "id_column": "Uniq Id",
            "category_column": "Category",
            "text_columns": ["Product Name", "About Product"],
            "price_column": "Selling Price",
            "categorical_columns": ["Is Amazon Seller"],
        },
    },
    "monitor": {"bins": 10, "psi_warning": 0.25, "low_confidence": 0.5, "max_low_confidence_share": 0.2, "max_unseen_share": 0.5},
}


@dataclass(frozen=True)
class FakeBundle(Bundle):
    """Scores from the raw row alone (the manifest's label at name length mod 3 gets 0.6, the next two 0.3 and 0.1;
    a name starting with "?" gets 0.4, 0.35 and 0.25: a low-confidence answer), so a row answered for another request
    shows. Records the raw frame of every call; `seconds` makes a call slow enough for requests to pile up."""

    calls: list[pd.DataFrame] = field(default_factory=list)
    seconds: float = 0.0

    def score(self, raw: pd.DataFrame, top_k: int = 3) -> Predictions:
        self.calls.append(raw)
        time.sleep(self.seconds)
        labels = self.manifest["labels"]
        names = raw["Product Name"].fillna("")
        first = names.str.len().to_numpy() % len(labels)
        unsure = names.str.startswith("?").to_numpy()
        probabilities = np.zeros((len(raw), len(labels)))
        for rank, (sure, doubtful) in enumerate([(0.6, 0.4), (0.3, 0.35), (0.1, 0.25)]):
            probabilities[np.arange(len(raw)), (first + rank) % len(labels)] = np.where(unsure, doubtful, sure)
        return Predictions.ranked(raw["Uniq Id"].astype(str).to_numpy(), probabilities, labels, top_k)


def fake_bundle(seconds: float = 0.0, manifest: dict = MANIFEST) -> FakeBundle:
    return FakeBundle(Path("fake"), manifest, predictor=None, seconds=seconds)


def product(index: int, name: str | None = None) -> dict:
    """A product for the fake bundle; products of consecutive indexes get different labels."""
    return {"Uniq Id": f"p{index}", "Product Name": name or f"Puzzle {'x' * index}", "Selling Price": "$12.99", "Is Amazon Seller": "Y"}
