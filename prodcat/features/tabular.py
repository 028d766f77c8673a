"""How the non-text columns (price, categoricals) become numbers: the tabular block every variant's features include.

Categorical values (model number, seller flag, ...) are coded from the train split's vocabulary,
stored as JSON (`models/xgb/tabular.json`, written by train_xgb) and applied identically to any later
frame: a value never seen in training becomes missing instead of crashing or shifting the codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TabularEncoding:
    """How the non-text columns become numbers; fitted on train, saved as JSON."""

    use_price: bool
    categories: dict[str, list[str]]  # column -> known values; code = position

    @classmethod
    def fit(cls, train: pd.DataFrame, categorical_columns: list[str]) -> TabularEncoding:
        use_price = "price" in train and bool(train["price"].notna().any())
        categories = {column: sorted(train[column].dropna().astype(str).unique()) for column in categorical_columns}
        return cls(use_price=use_price, categories=categories)

    @property
    def feature_names(self) -> list[str]:
        return (["price"] if self.use_price else []) + list(self.categories)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows, features) float32; NaN = missing (blank, unparseable or unseen)."""
        columns = [frame["price"].to_numpy(dtype=np.float32)] if self.use_price else []
        for column, known in self.categories.items():
            codes = pd.Categorical(frame[column].astype("string"), categories=known).codes.astype(np.float32)
            columns.append(np.where(codes < 0, np.nan, codes))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0), dtype=np.float32)

    def to_json(self) -> dict:
        return {"use_price": self.use_price, "categories": self.categories}

    @classmethod
    def from_json(cls, payload: dict) -> TabularEncoding:
        return cls(use_price=payload["use_price"], categories=payload["categories"])
