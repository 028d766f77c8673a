"""benchmarks.accuracy's tables: per-level path scores and intervals, from known predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.accuracy import BASELINE, intervals, label_scores, level_table
from prodcat.heads.intervals import accuracy_interval, paired_difference_interval

NAMES = ["a | x", "a | y", "b | x"]


def test_path_labels_get_a_row_per_variant_with_each_implied_level():
    truth = ["a | x", "a | y", "b | x", "b | x"]
    fusion = ["a | y", "a | y", "b | x", "a | x"]  # level 0 right on 3 of 4, the path on 2
    baseline = ["a | x", "a | y", "b | x", "b | x"]
    result = {"metrics": {"fusion": label_scores(truth, fusion, NAMES)}, "baseline": label_scores(truth, baseline, NAMES)}
    table = level_table(result)
    assert table[2] == "| variant | level 0 (implied) | predicted depth | hierarchical F1 |"
    # hF1 of fusion: 8 ancestor-or-self labels on each side, 5 shared (3 level-0 + 2 paths) -> 0.625.
    assert table[4] == "| fusion | 0.7500 | 0.5000 | 0.6250 |"
    assert table[5] == f"| {BASELINE} | 1.0000 | 1.0000 | 1.0000 |"


def test_flat_labels_have_no_level_table():
    truth, predicted = ["a", "b"], ["a", "a"]
    result = {"metrics": {"sparse": label_scores(truth, predicted, ["a", "b"])}, "baseline": label_scores(truth, truth, ["a", "b"])}
    assert level_table(result) == []


def test_the_champion_is_compared_with_the_baseline_on_the_same_rows():
    truth = ["a"] * 100
    predicted = {"fusion": ["a"] * 90 + ["b"] * 10, BASELINE: ["a"] * 85 + ["b"] * 15}
    found = intervals(pd.DataFrame({"label": truth}), predicted, "fusion")
    assert found["champion_minus_baseline"][0] == pytest.approx(0.05)
    # The baseline is wrong on every row the champion misses: only the 5 rows the champion alone gets right vary.
    assert found["champion_minus_baseline"][1] > 0.0
    low, high = found["accuracy"]["fusion"]
    assert low < 0.9 < high
    assert np.isclose(found["accuracy"][BASELINE], (0.78, 0.92), atol=0.011).all()


def test_a_grouped_split_resamples_its_groups() -> None:
    """PriceRunner's test rows come in product groups that are right or wrong together: the intervals resample the groups."""
    groups = np.repeat(np.arange(20), 10)  # 20 groups of 10 rows
    test = pd.DataFrame({"label": ["a"] * 200, "group": groups})
    predicted = {"fusion": np.where(groups < 14, "a", "b").tolist(), BASELINE: np.where(groups < 10, "a", "b").tolist()}
    grouped, by_row = intervals(test, predicted, "fusion"), intervals(test.drop(columns="group"), predicted, "fusion")
    fusion_right, baseline_right = groups < 14, groups < 10
    assert grouped["accuracy"]["fusion"] == accuracy_interval(fusion_right, groups)
    assert grouped["champion_minus_baseline"] == paired_difference_interval(fusion_right, baseline_right, groups)
    # 20 independent units instead of 200: the intervals are about sqrt(10) times as wide as the rows' ones.
    assert width(grouped["accuracy"]["fusion"]) > 2 * width(by_row["accuracy"]["fusion"])
    assert width(grouped["champion_minus_baseline"]) > 2 * width(by_row["champion_minus_baseline"])


def width(interval: tuple[float, ...]) -> float:
    """The width of (low, high) or of (difference, low, high)."""
    return interval[-1] - interval[-2]
