"""The predicted-label shift at each level of the label paths, from the label shares a bundle's profile already holds."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields

import pandas as pd

from prodcat.core.params import MonitorParams
from prodcat.inference.drift import BatchMonitor, InputChecks, batch_report, level_shares, reference_profile, report_markdown


def report_of(train_labels: list[str], predicted: list[str]) -> dict:
    """The report of a batch of `predicted` labels against training data of `train_labels` (texts and prices alike)."""
    features = pd.DataFrame({"text": ["a product"] * len(train_labels), "price": 10.0})
    profile = reference_profile(features, pd.Series(train_labels), bins=4)
    predictions = pd.DataFrame({"predicted": predicted, "top1_probability": 0.9})
    return batch_report(profile, {}, features.head(len(predicted)), predictions, None, MonitorParams(), "fake", "f")


def test_level_shares_group_labels_under_their_ancestor_not_their_leaf_name() -> None:
    shares = {"A | x": 0.4, "A | y": 0.1, "AB | x": 0.2, "B": 0.3}
    assert level_shares(shares, 0) == {"A": 0.5, "AB": 0.2, "B": 0.3}
    assert level_shares(shares, 1) == shares  # the deepest level is the labels; B, one level deep, stands for itself


def test_a_shift_of_path_labels_is_reported_and_warned_per_level() -> None:
    train = ["A | x"] * 4 + ["A | y"] + ["B | x"] * 5
    report = report_of(train, ["A | y"] * 8 + ["B | x"] * 2)
    top, labels = report["predicted_levels"]
    assert top == {"level": 0, "psi": 0.415888, "reference": {"A": 0.5, "B": 0.5}, "batch": {"A": 0.8, "B": 0.2}}
    assert labels == {"level": 1, **report["predicted_labels"]}
    assert report["predicted_labels"]["batch"] == {"A | x": 0.0, "A | y": 0.8, "B | x": 0.2}
    assert report["warnings"] == ["predicted_labels PSI 5.05 > 0.25", "predicted level 0 PSI 0.42 > 0.25"]
    assert "| predicted level 0 PSI | 0.416 |" in report_markdown(report, "out.report.json").splitlines()


def test_flat_labels_have_one_level_the_labels_and_no_second_warning() -> None:
    report = report_of(["Books"] * 5 + ["Toys"] * 5, ["Toys"] * 10)
    assert report["predicted_levels"] == [{"level": 0, **report["predicted_labels"]}]
    assert report["warnings"] == ["predicted_labels PSI 4.60 > 0.25"]
    assert not any("predicted level" in line for line in report_markdown(report, "out.report.json").splitlines())


def test_a_monitor_restored_from_its_counts_reports_as_one_that_never_stopped() -> None:
    train = ["A | x"] * 4 + ["A | y"] + ["B | x"] * 5
    features = pd.DataFrame(
        {
            "text": [f"product {'long ' * i}" for i in range(10)],
            "price": [10.0, None, 3.0, 50.0] * 2 + [None, 7.0],
            "seller": list("YNZYQNYYNW"),
        }
    )
    predictions = pd.DataFrame({"predicted": ["A | y"] * 6 + ["B | x"] * 4, "top1_probability": [0.3, 0.9] * 5})
    checks = [InputChecks({"id_not_null[id]": 1}, 1, {"id_not_null[id]": 0.0}), InputChecks({"price_format": 2}, 2, {"price_format": 0.1})]

    def monitor() -> BatchMonitor:
        profile = reference_profile(features, pd.Series(train), bins=4)
        return BatchMonitor(profile, {"seller": ["Y", "N"]}, MonitorParams(), "fake", "f")

    uninterrupted, first = monitor(), monitor()
    for part, check in zip((slice(0, 6), slice(6, 10)), checks, strict=True):
        uninterrupted.add(features[part], predictions[part], check)
    first.add(features[:6], predictions[:6], checks[0])
    counts = json.loads(json.dumps(first.counts()))  # as a progress record stores them
    resumed = monitor()
    resumed.restore(counts)
    resumed.add(features[6:], predictions[6:], checks[1])
    assert resumed.report() == uninterrupted.report()
    assert resumed.counts() == uninterrupted.counts()
    assert counts["unseen_examples"] == {"seller": ["Z", "Q"]} and counts["check_failures"] == {"id_not_null[id]": 1}
    # Every counting field (those with a default) travels: a new counter missing from counts() would be lost on resume.
    assert set(counts) == {f.name for f in fields(BatchMonitor) if f.default is not MISSING or f.default_factory is not MISSING}
