"""Classification metrics in the shapes DVC reads: nested JSON metrics and confusion-plot rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def summary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
    }


def per_class_metrics(truth: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """precision/recall/F1/support for every class in the label map, also those absent from the test split."""
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=list(range(len(names))), zero_division=0)
    return {
        name: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4), "support": int(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    }


def confusion_rows(truth: np.ndarray, predicted: np.ndarray, names: list[str]) -> list[dict[str, str]]:
    """One {actual, predicted} row per test product: DVC's confusion template counts them."""
    return [{"actual": names[t], "predicted": names[p]} for t, p in zip(truth, predicted, strict=True)]
