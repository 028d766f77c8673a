"""The review queue: one format for every row a person should look at, from the audit stage and from batch prediction.

A reviewer reads the queue top down (highest `score` first) and writes each decision into
`data/corrections.csv` (prodcat/data/corrections.py), which the next `preprocess` applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REVIEW_COLUMNS = ["id", "issue", "given_label", "suggested_label", "score", "split", "text"]
# label_error, near_duplicate, leakage, outlier: the audit stage (prodcat/data/audit.py); low_confidence: batch prediction.
ISSUES = ("label_error", "near_duplicate", "leakage", "outlier", "low_confidence")
NEW_PRODUCTS = "new"  # the `split` of a batch's products: in no split of the training data
TEXT_CHARS = 300  # a review row shows the start of the text; the id finds the rest


def review_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` in the review format: its columns in order, texts cut, ranked by score (highest first, ties by id)."""
    if unknown := sorted(set(rows["issue"]) - set(ISSUES)):
        raise ValueError(f"unknown review issue(s) {unknown}; expected one of {list(ISSUES)}")
    frame = rows[REVIEW_COLUMNS].assign(text=rows["text"].fillna("").str.slice(0, TEXT_CHARS), score=rows["score"].astype(float).round(4))
    return frame.sort_values(["score", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def low_confidence_rows(predictions: pd.DataFrame, texts: pd.Series, threshold: float) -> pd.DataFrame:
    """New products whose top-1 probability is below `threshold`, as review rows: the prediction suggested, no given label.

    score = 1 - top-1 probability: the less sure the model, the earlier a person looks.
    """
    top = predictions["top1_probability"].to_numpy(dtype=float)
    low = top < threshold
    return pd.DataFrame(
        {
            "id": predictions["id"].to_numpy()[low],
            "issue": "low_confidence",
            "given_label": "",
            "suggested_label": predictions["predicted"].to_numpy()[low],
            "score": np.round(1 - top[low], 4),
            "split": NEW_PRODUCTS,
            "text": texts.to_numpy()[low],
        },
        columns=REVIEW_COLUMNS,
    )
