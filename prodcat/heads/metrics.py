"""Classification metrics in the shapes DVC reads: nested JSON metrics and confusion-plot rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from prodcat.data.labels import label_at_level, label_depth


def summary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
    }


def path_metrics(truth: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict[str, float]:
    """Credit for the part of the path a prediction got right, where a label is a category path ("A | B").

    `accuracy_level_<k>` for each level above the deepest label: both paths cut at level k (a
    shallower label is itself). Hierarchical precision, recall and F1 (Kiritchenko et al.): each label
    counted with its ancestors, so a wrong leaf under the right parent still scores; with flat labels
    all three equal the accuracy.
    """
    true_labels, predicted_labels = [names[i] for i in truth], [names[i] for i in predicted]
    levels = range(max(map(label_depth, names)))
    by_level = {
        f"accuracy_level_{level}": float(
            np.mean([label_at_level(t, level) == label_at_level(p, level) for t, p in zip(true_labels, predicted_labels, strict=True)])
        )
        for level in levels
    }
    return {name: round(float(score), 4) for name, score in {**by_level, **hierarchical_scores(true_labels, predicted_labels)}.items()}


def with_ancestors(label: str) -> set[str]:
    """ "A | B" -> {"A", "A | B"}."""
    return {label_at_level(label, level) for level in range(label_depth(label) + 1)}


def hierarchical_scores(true_labels: list[str], predicted_labels: list[str]) -> dict[str, float]:
    """hP = sum |anc(pred) & anc(true)| / sum |anc(pred)|, hR the same over sum |anc(true)|, hF their harmonic mean."""
    true_sets, predicted_sets = [with_ancestors(label) for label in true_labels], [with_ancestors(label) for label in predicted_labels]
    shared = sum(len(t & p) for t, p in zip(true_sets, predicted_sets, strict=True))
    precision, recall = shared / sum(map(len, predicted_sets)), shared / sum(map(len, true_sets))
    f1 = 2 * precision * recall / (precision + recall) if shared else 0.0
    return {"hierarchical_precision": precision, "hierarchical_recall": recall, "hierarchical_f1": f1}


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
