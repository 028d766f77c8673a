"""The numbers DVC tracks: hand-computed accuracy, macro-F1 and per-class scores where micro and macro differ."""

from __future__ import annotations

import numpy as np
import pytest

from prodcat.heads.metrics import confusion_rows, path_metrics, per_class_metrics, summary_metrics

# Class 0 is frequent and always found; class 1 (one row) is missed; class 2 (one row) is found.
TRUTH = np.array([0, 0, 0, 0, 1, 2])
PREDICTED = np.array([0, 0, 0, 0, 0, 2])


def test_macro_f1_is_the_unweighted_mean_of_per_class_f1() -> None:
    # F1 per class: 0 -> 2 * (4/5 * 1) / (4/5 + 1) = 8/9; 1 -> 0; 2 -> 1. Macro = (8/9 + 0 + 1) / 3 = 0.6296.
    # Micro-F1 would equal accuracy, 5/6 = 0.8333.
    assert summary_metrics(TRUTH, PREDICTED) == {"accuracy": 0.8333, "macro_f1": pytest.approx(0.6296, abs=1e-4)}


def test_per_class_scores_and_an_absent_class() -> None:
    names = ["Books", "Toys", "Zoo", "Never In Test"]
    scores = per_class_metrics(TRUTH, PREDICTED, names)
    assert scores["Books"] == {"precision": 0.8, "recall": 1.0, "f1": 0.8889, "support": 4}
    assert scores["Toys"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["Zoo"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert scores["Never In Test"]["support"] == 0


def test_confusion_rows_name_the_classes() -> None:
    assert confusion_rows(TRUTH[3:], PREDICTED[3:], ["Books", "Toys", "Zoo"]) == [
        {"actual": "Books", "predicted": "Books"},
        {"actual": "Toys", "predicted": "Books"},
        {"actual": "Zoo", "predicted": "Zoo"},
    ]


# Labels at two levels, "A" a rare subcategory backed off to its parent.
PATH_NAMES = ["A", "A | x", "A | y", "B | z"]


def test_path_metrics_credit_the_right_parent_of_a_wrong_leaf() -> None:
    # Rows (true -> predicted): A|x -> A|x, A|x -> A|y (parent right), A -> A|y (parent right, one level deeper), B|z -> A|x.
    # Shared ancestors 2 + 1 + 1 + 0 = 4, of 2 + 2 + 2 + 2 = 8 predicted and 2 + 2 + 1 + 2 = 7 true:
    # hP = 4/8, hR = 4/7, hF = 2 hP hR / (hP + hR) = 8/15. Level 0: A, A, A right, B wrong = 3/4; exact: 1/4.
    truth, predicted = np.array([1, 1, 0, 3]), np.array([1, 2, 2, 1])
    assert summary_metrics(truth, predicted)["accuracy"] == 0.25
    assert path_metrics(truth, predicted, PATH_NAMES) == {
        "accuracy_level_0": 0.75,
        "hierarchical_precision": 0.5,
        "hierarchical_recall": 0.5714,
        "hierarchical_f1": 0.5333,
    }


def test_at_depth_0_hierarchical_scores_equal_accuracy() -> None:
    """A top-level label has no ancestor but itself, so each hierarchical score is the accuracy, 5/6."""
    assert path_metrics(TRUTH, PREDICTED, ["Books", "Toys", "Zoo"]) == {
        "hierarchical_precision": 0.8333,
        "hierarchical_recall": 0.8333,
        "hierarchical_f1": 0.8333,
    }
