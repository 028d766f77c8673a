"""The drift and quality report of a scored batch: do the new products look like the training data?

The training side is a small profile stored in the model bundle (`reference_profile`). A batch is
added to a `BatchMonitor` chunk by chunk, which keeps only histograms and counters, so a file of any
size is reported in constant memory. Distribution shift is the population stability index (PSI)
over the training data's quantile bins, and over the predicted labels and their ancestors at each
level of the label paths (derived from the label shares the profile stores); the
`bundle` params (stored in the bundle) turn a large shift, many unseen categorical values or many
low-confidence predictions into warnings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.core.errors import InputError
from prodcat.core.params import MonitorParams
from prodcat.data.labels import label_at_level
from prodcat.inference.predictor import label_levels

REPORT_FORMAT = 1  # raise when the report's keys change: a report of another format is refused (`check_report_format`)
EMPTY_SHARE = 1e-4  # stands in for an empty bin's share, so PSI stays finite
EXAMPLES = 5  # unseen categorical values listed per column
# BatchMonitor's counts by kind (`counts`, `restore`): totals, counters by key, histograms over the profile's bins.
TOTALS = ("rows", "failed_rows", "price_missing", "low_confidence")
TALLIES = ("check_failures", "filled", "unseen", "predicted")
HISTOGRAMS = ("text_counts", "price_counts")


def quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Interior cut points of `bins` equal-count bins of `values` (fewer where values repeat)."""
    if values.size == 0:
        return []
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])).tolist()


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts per bin: bin i holds edges[i-1] <= value < edges[i]; the first and last bins are open-ended."""
    return np.bincount(np.searchsorted(np.asarray(edges, dtype=float), values, side="right"), minlength=len(edges) + 1)


def shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [round(float(c / total), 6) for c in counts] if total else [0.0] * len(counts)


def psi(reference: Sequence[float], batch: Sequence[float]) -> float:
    """Population stability index: sum over bins of (batch - reference) * ln(batch / reference)."""
    expected = np.clip(np.asarray(reference, dtype=float), EMPTY_SHARE, None)
    actual = np.clip(np.asarray(batch, dtype=float), EMPTY_SHARE, None)
    return round(float(np.sum((actual - expected) * np.log(actual / expected))), 6)


def level_shares(label_shares: Mapping[str, float], level: int) -> dict[str, float]:
    """Label shares summed by the labels' ancestor at `level` ("A | x" and "A | y" under "A"); a shallower label stands for itself."""
    grouped: dict[str, float] = {}
    for label, share in label_shares.items():
        ancestor = label_at_level(label, level)
        grouped[ancestor] = grouped.get(ancestor, 0.0) + share
    return {ancestor: round(share, 6) for ancestor, share in sorted(grouped.items())}


def level_shift(reference_labels: Mapping[str, float], batch_labels: Mapping[str, float], level: int) -> dict:
    """The predicted-label shift at one level of the paths: reference and batch shares of the ancestors, and their PSI."""
    reference, batch = level_shares(reference_labels, level), level_shares(batch_labels, level)
    return {
        "level": level,
        "psi": psi(list(reference.values()), [batch.get(ancestor, 0.0) for ancestor in reference]),
        "reference": reference,
        "batch": batch,
    }


def text_lengths(features: pd.DataFrame) -> np.ndarray:
    """Characters of the model's text (text columns joined and cut, as the models read it)."""
    return features["text"].fillna("").str.len().to_numpy(dtype=float)


def prices(features: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(features["price"], errors="coerce").to_numpy(dtype=float)


def reference_profile(train_features: pd.DataFrame, train_labels: pd.Series, bins: int) -> dict:
    """What a batch is compared with: training text-length and price bins with their shares, and the label shares."""
    lengths = text_lengths(train_features)
    edges = quantile_edges(lengths, bins)
    profile = {
        "rows": len(train_features),
        "text_length": {"edges": edges, "shares": shares(bin_counts(lengths, edges))},
        "price": None,  # no price column, or no price in training
        "labels": {label: round(float(share), 6) for label, share in train_labels.value_counts(normalize=True).sort_index().items()},
    }
    values = prices(train_features)
    filled = values[~np.isnan(values)]
    if filled.size:
        price_edges = quantile_edges(filled, bins)
        profile["price"] = {
            "edges": price_edges,
            "shares": shares(bin_counts(filled, price_edges)),
            "missing": round(float(1 - filled.size / values.size), 6),
        }
    return profile


@dataclass
class BatchMonitor:
    """The report of one batch, accumulated chunk by chunk (`add`), finished by `report`."""

    profile: dict
    known_categories: dict[str, list[str]]  # column -> values seen in training (the bundle's categorical codes)
    thresholds: MonitorParams
    variant: str
    model_fingerprint: str
    rows: int = 0
    failed_rows: int = 0
    check_failures: Counter = field(default_factory=Counter)  # input check -> rows it flagged
    check_tolerance: dict[str, float] = field(default_factory=dict)  # input check -> share of rows the suite lets fail
    filled: Counter = field(default_factory=Counter)  # categorical column -> rows with a value
    unseen: Counter = field(default_factory=Counter)  # categorical column -> rows whose value training never saw
    unseen_examples: dict[str, list[str]] = field(default_factory=dict)
    text_counts: np.ndarray | None = None
    price_counts: np.ndarray | None = None
    price_missing: int = 0
    predicted: Counter = field(default_factory=Counter)
    low_confidence: int = 0

    def add(self, features: pd.DataFrame, predictions: pd.DataFrame, input_checks: InputChecks | None = None) -> None:
        """Count one scored chunk: its features, its predictions (predict's frame) and its input-suite result."""
        self.rows += len(features)
        if input_checks is not None:
            self.failed_rows += input_checks.failed_rows
            self.check_failures.update(input_checks.flagged)
            self.check_tolerance.update(input_checks.tolerance)
        for column, known in self.known_categories.items():
            values = features[column].dropna().astype(str)
            new = values[~values.isin(known)]
            self.filled[column] += len(values)
            self.unseen[column] += len(new)
            examples = self.unseen_examples.setdefault(column, [])
            examples += [value for value in dict.fromkeys(new) if value not in examples][: EXAMPLES - len(examples)]
        counts = bin_counts(text_lengths(features), self.profile["text_length"]["edges"])
        self.text_counts = counts if self.text_counts is None else self.text_counts + counts
        if self.profile["price"] is not None:
            values = prices(features)
            counts = bin_counts(values[~np.isnan(values)], self.profile["price"]["edges"])
            self.price_counts = counts if self.price_counts is None else self.price_counts + counts
            self.price_missing += int(np.isnan(values).sum())
        self.predicted.update(predictions["predicted"].tolist())
        self.low_confidence += int((predictions["top1_probability"] < self.thresholds.low_confidence).sum())

    def counts(self) -> dict:
        """What the batch added so far, as JSON: a resumed run restores it (`restore`) and reports as if never stopped."""
        return {
            **{name: getattr(self, name) for name in TOTALS},
            **{name: dict(getattr(self, name)) for name in TALLIES},
            **{name: None if getattr(self, name) is None else getattr(self, name).tolist() for name in HISTOGRAMS},
            "check_tolerance": dict(self.check_tolerance),
            "unseen_examples": {column: list(values) for column, values in self.unseen_examples.items()},
        }

    def restore(self, counts: dict) -> None:
        """Continue from `counts()` of an earlier run over the same chunks."""
        for name in TOTALS:
            setattr(self, name, int(counts[name]))
        for name in TALLIES:
            setattr(self, name, Counter(counts[name]))
        for name in HISTOGRAMS:
            setattr(self, name, None if counts[name] is None else np.asarray(counts[name], dtype=np.int64))
        self.check_tolerance = dict(counts["check_tolerance"])
        self.unseen_examples = {column: list(values) for column, values in counts["unseen_examples"].items()}

    def report(self) -> dict:
        """The report as JSON-ready data; `warnings` says in words what crossed a threshold."""
        rows = max(self.rows, 1)
        warnings = []
        checks = {name: round(count / rows, 6) for name, count in self.check_failures.items()}
        for name, share in checks.items():
            if share > self.check_tolerance.get(name, 0.0) + 1e-12:
                warnings.append(
                    f"input check {name}: {share:.1%} of rows, the input suite allows {self.check_tolerance.get(name, 0.0):.1%}"
                )
        unseen = {}
        for column in self.known_categories:
            share = round(self.unseen[column] / self.filled[column], 6) if self.filled[column] else 0.0
            unseen[column] = {"share": share, "examples": self.unseen_examples.get(column, [])}
            if share > self.thresholds.max_unseen_share:
                warnings.append(f"unseen {column} values: {share:.1%} of filled values > {self.thresholds.max_unseen_share:.1%}")
        text = self._shift("text_length", self.profile["text_length"], self.text_counts, warnings)
        price = None
        if self.profile["price"] is not None:
            price = self._shift("price", self.profile["price"], self.price_counts, warnings)
            price["missing"] = {"reference": self.profile["price"]["missing"], "batch": round(self.price_missing / rows, 6)}
        labels = list(self.profile["labels"])
        batch_labels = {label: round(self.predicted[label] / rows, 6) for label in labels}
        label_psi = psi(list(self.profile["labels"].values()), list(batch_labels.values()))
        if label_psi > self.thresholds.psi_warning:
            warnings.append(f"predicted_labels PSI {label_psi:.2f} > {self.thresholds.psi_warning}")
        levels = [level_shift(self.profile["labels"], batch_labels, level) for level in range(label_levels(labels))]
        warnings += [  # the deepest level is the labels themselves, warned about above
            f"predicted level {entry['level']} PSI {entry['psi']:.2f} > {self.thresholds.psi_warning}"
            for entry in levels[:-1]
            if entry["psi"] > self.thresholds.psi_warning
        ]
        low = round(self.low_confidence / rows, 6)
        if low > self.thresholds.max_low_confidence_share:
            warnings.append(
                f"low-confidence predictions (top-1 probability < {self.thresholds.low_confidence}): {low:.1%} > {self.thresholds.max_low_confidence_share:.1%}"
            )
        return {
            "format_version": REPORT_FORMAT,
            "rows": self.rows,
            "variant": self.variant,
            "model_fingerprint": self.model_fingerprint,
            "input_failures": {"share": round(self.failed_rows / rows, 6), "checks": checks},
            "unseen_categoricals": unseen,
            "text_length": text,
            "price": price,
            "predicted_labels": {"psi": label_psi, "reference": self.profile["labels"], "batch": batch_labels},
            "predicted_levels": levels,
            "low_confidence": {"threshold": self.thresholds.low_confidence, "share": low},
            "warnings": warnings,
        }

    def _shift(self, name: str, reference: dict, counts: np.ndarray | None, warnings: list[str]) -> dict:
        batch = shares(counts if counts is not None else np.zeros(len(reference["shares"]), dtype=int))
        value = psi(reference["shares"], batch)
        if value > self.thresholds.psi_warning:
            warnings.append(f"{name} PSI {value:.2f} > {self.thresholds.psi_warning}")
        return {"psi": value, "edges": reference["edges"], "reference": reference["shares"], "batch": batch}


@dataclass(frozen=True)
class InputChecks:
    """What the input suite found in one chunk: rows flagged per check, rows flagged by any, and each check's tolerance."""

    flagged: dict[str, int]
    failed_rows: int
    tolerance: dict[str, float]


def batch_report(
    profile: dict,
    known_categories: dict[str, list[str]],
    features: pd.DataFrame,
    predictions: pd.DataFrame,
    input_checks: InputChecks | None,
    thresholds: MonitorParams,
    variant: str,
    model_fingerprint: str,
) -> dict:
    """The report of a batch held in memory at once (a chunked batch goes through `BatchMonitor.add`)."""
    monitor = BatchMonitor(profile, known_categories, thresholds, variant, model_fingerprint)
    monitor.add(features, predictions, input_checks)
    return monitor.report()


def check_report_format(report: dict) -> None:
    """A stored report is read only in the format this code writes: its keys are read without fallbacks."""
    found = report.get("format_version", "none")
    if found != REPORT_FORMAT:
        raise InputError(
            f"the batch report has format {found}, this prodcat reads format {REPORT_FORMAT}: score the batch again (`prodcat predict`)"
        )


def report_markdown(report: dict, source: Path | str) -> str:
    """The report as markdown (a Prefect artifact): warnings first, then one line per measure."""
    verdict = f"{len(report['warnings'])} warning(s)" if report["warnings"] else "no warnings"
    lines = [
        f"## Batch report: {report['rows']} products, {verdict}",
        "",
        f"Model: `{report['variant']}` (fingerprint `{report['model_fingerprint']}`)",
        "",
    ]
    lines += [f"- **warning**: {warning}" for warning in report["warnings"]]
    price = report["price"]
    lines += [
        "",
        "| measure | value |",
        "|---|---:|",
        f"| rows failing an input check | {report['input_failures']['share']:.1%} |",
        *(f"| unseen {column} values | {entry['share']:.1%} |" for column, entry in report["unseen_categoricals"].items()),
        f"| text length PSI | {report['text_length']['psi']:.3f} |",
        *([f"| price PSI | {price['psi']:.3f} |"] if price else []),
        f"| predicted labels PSI | {report['predicted_labels']['psi']:.3f} |",
        *(f"| predicted level {entry['level']} PSI | {entry['psi']:.3f} |" for entry in report["predicted_levels"][:-1]),
        f"| low confidence (top-1 < {report['low_confidence']['threshold']}) | {report['low_confidence']['share']:.1%} |",
        "",
        f"Full report: `{source}`",
    ]
    return "\n".join(lines)
