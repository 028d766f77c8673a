"""Reading a raw catalog and turning it into labelled, split examples.

Pure functions over DataFrames: the `preprocess` stage does the file I/O around them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.core.errors import InputError
from prodcat.core.params import CatalogParams, CategoryLevel, DatasetParams
from prodcat.data.corrections import apply_corrections
from prodcat.data.labels import LABEL_SEPARATOR, label_at_level, label_depth

OTHER_CLASS = "Other"

# The price formats parse_price reads; the data-quality suite checks prices against the very same patterns.
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
US_PRICE = re.compile(rf"^\s*\$?\s*(?P<low>{_NUMBER})\s*(?:-\s*\$?\s*(?P<high>{_NUMBER}))?\s*$")
EU_PRICE = re.compile(r"^\s*(?:€\s*)?(?P<int>\d{1,3}(?:\.\d{3})+|\d+),(?P<cents>\d{1,2})\s*(?:€|EUR)?\s*$")
# Both as one match-only regex (named groups made non-capturing: pandas warns about capture groups).
PRICE_PATTERN = re.sub(r"\(\?P<\w+>", "(?:", f"(?:{US_PRICE.pattern})|(?:{EU_PRICE.pattern})")


def read_catalog(path: str | Path) -> pd.DataFrame:
    """Read a catalog CSV as strings, blanks as missing: no column is guessed into numbers."""
    if not Path(path).is_file():
        raise InputError(f"catalog not found: {path}")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"cannot read {path} as a UTF-8 CSV: {error}") from None


def parse_price(raw: object) -> float:
    """ "$12.99" -> 12.99, "$1,299.00" -> 1299.0, "$10.99 - $15.99" -> midpoint, "1.299,00 €" -> 1299.0.

    Anything else (blank, "N/A", scraped page noise, NaN, inf) is missing, never a made-up number.
    """
    if not isinstance(raw, str):
        return math.nan
    if match := US_PRICE.match(raw):
        low = float(match["low"].replace(",", ""))
        high = float(match["high"].replace(",", "")) if match["high"] else low
        price = (low + high) / 2
    elif match := EU_PRICE.match(raw):
        price = float(f"{match['int'].replace('.', '')}.{match['cents']}")
    else:
        return math.nan
    return price if math.isfinite(price) else math.nan


def unwrap_json_list(raw: object) -> str | None:
    """'["A >> B"]' -> "A >> B": Flipkart's product_category_tree holds its path in a one-string JSON list; else None."""
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) else None


def category_at_level(path: object, separator: str = "|", level: CategoryLevel = 0) -> str | None:
    """ "Toys & Games | Puzzles | Jigsaw Puzzles" -> "Toys & Games" at level 0, "Toys & Games | Puzzles" at level 1.

    The label is the path cut at `level` (`leaf`: the whole path), levels joined by LABEL_SEPARATOR, so
    same-named subcategories of different parents stay apart. A path ends at its first blank level and
    a shorter path is its label whole: no row is lost for being shallow. None when no level is left.
    """
    if not isinstance(path, str):
        return None
    levels = list(takewhile(bool, (part.strip() for part in path.split(separator))))
    depth = len(levels) if level == "leaf" else level + 1
    return LABEL_SEPARATOR.join(levels[:depth]) or None


def build_text(frame: pd.DataFrame, columns: list[str], max_chars: int) -> pd.Series:
    """One text per product: the non-empty text columns joined, whitespace collapsed, cut at max_chars."""
    parts = frame[columns].fillna("").astype(str)
    joined = parts.apply(lambda row: ". ".join(value.strip() for value in row if value.strip()), axis=1)
    return joined.str.replace(r"\s+", " ", regex=True).str.slice(0, max_chars)


@dataclass(frozen=True)
class Corrections:
    """A corrections file's rows (id, label; prodcat/data/corrections.py) and where they came from, for the error messages."""

    rows: pd.DataFrame
    source: str


@dataclass(frozen=True)
class Examples:
    """Labelled examples and what preprocessing did to get them."""

    frame: pd.DataFrame  # columns: id, text, label, price, one per categorical feature, group (optional)
    unlabelled: pd.DataFrame  # id, text of the rows without a category (in no split)
    report: dict[str, int | dict[str, int]]


def feature_frame(raw: pd.DataFrame, dataset: DatasetParams, max_text_chars: int) -> pd.DataFrame:
    """What the models read from a catalog row: id, text, parsed price and the categorical columns."""
    frame = pd.DataFrame(
        {
            "id": raw[dataset.id_column].astype(str),
            "text": build_text(raw, dataset.text_columns, max_text_chars),
            "price": raw[dataset.price_column].map(parse_price) if dataset.price_column else np.nan,
        }
    )
    for column in dataset.categorical_columns:
        frame[column] = raw[column]
    return frame


def catalog_labels(raw: pd.DataFrame, dataset: DatasetParams) -> pd.Series:
    """Each row's label: the category path at `catalog.category_level`, missing when absent or its top level means unlabelled."""
    paths = raw[dataset.category_column]
    if dataset.category_format == "json_list":
        paths = paths.map(unwrap_json_list)
    labels = paths.map(lambda path: category_at_level(path, dataset.category_separator, dataset.category_level))
    return labels.mask(labels.map(lambda label: isinstance(label, str) and label_at_level(label, 0) in dataset.unlabelled_values))


def back_off_rare_labels(labels: pd.Series, min_class_count: int) -> pd.Series:
    """Deepest level first, a label with fewer than `min_class_count` rows becomes its parent, until every label below the top level has enough.

    Rows backed off join their parent's own rows, so each class below the top level keeps
    `min_class_count` rows and no row is lost; rare top-level classes are left to `handle_rare_classes`.
    """
    backed = labels.copy()
    deepest = int(labels.dropna().map(label_depth).max()) if labels.notna().any() else 0
    for level in range(deepest, 0, -1):
        present = backed.dropna()
        at_level = present[present.map(label_depth) == level]
        rare = at_level[at_level.map(at_level.value_counts()) < min_class_count]
        backed.loc[rare.index] = [label_at_level(label, level - 1) for label in rare]
    return backed


def back_off_report(labels: pd.Series, backed: pd.Series) -> dict[str, int | dict[str, int]]:
    """How many rows `back_off_rare_labels` moved up, and how many landed at each level."""
    moved = backed[labels.notna() & labels.ne(backed)]
    landed = moved.map(label_depth).value_counts().sort_index()
    return {"rows_backed_off": len(moved), "rows_backed_off_to_level": {str(level): int(rows) for level, rows in landed.items()}}


def handle_rare_classes(labels: pd.Series, catalog: CatalogParams) -> tuple[pd.Series, list[str]]:
    """Classes under `min_class_count` rows merged into "Other", or set missing to be dropped; also their names.

    Run after `back_off_rare_labels`, so only top-level classes are still rare.
    """
    counts = labels.value_counts()
    rare = sorted(counts[counts < catalog.min_class_count].index)
    replacement = OTHER_CLASS if catalog.rare_classes == "other" else None
    return labels.mask(labels.isin(rare), replacement), rare


def trainable_labels(raw: pd.DataFrame, catalog: CatalogParams) -> pd.Series:
    """Each row's class as preprocess trains it: rare deep labels backed off, then the rare-class rule at the top level."""
    labels, _ = handle_rare_classes(back_off_rare_labels(catalog_labels(raw, catalog), catalog.min_class_count), catalog)
    return labels


def make_examples(raw: pd.DataFrame, catalog: CatalogParams, corrections: Corrections | None = None) -> Examples:
    """Label, text and features per row; unlabelled rows dropped, rare classes handled and reviewed corrections applied (counted in the report)."""
    frame = feature_frame(raw, catalog, catalog.max_text_chars)
    labels = catalog_labels(raw, catalog)
    backed = back_off_rare_labels(labels, catalog.min_class_count)
    handled, rare = handle_rare_classes(backed, catalog)
    corrected, keep = handled, pd.Series(True, index=handled.index)
    if corrections is not None:
        corrected, keep = apply_corrections(frame["id"], handled, corrections.rows, corrections.source)
    frame.insert(2, "label", corrected)
    if catalog.group_column:
        frame["group"] = raw[catalog.group_column].fillna("").astype(str)
    unlabelled = frame.loc[corrected.isna() & labels.isna() & keep, ["id", "text"]].reset_index(drop=True)
    frame = frame[frame["label"].notna() & keep]
    report = {
        "rows_in": len(raw),
        "rows_without_label": int(labels.isna().sum()),
        "rare_classes": len(rare),
        f"rows_{'dropped' if catalog.rare_classes == 'drop' else 'merged'}_as_rare": int(backed.isin(rare).sum()),
        "rows_out": len(frame),
        **back_off_report(labels, backed),
    }
    if corrections is not None:
        report |= {"rows_corrected": int((corrected.ne(handled) & corrected.notna()).sum()), "rows_excluded": int((~keep).sum())}
    return Examples(frame.reset_index(drop=True), unlabelled, report)


def check_trainable(labels: pd.Series, min_class_count: int) -> None:
    """A classifier needs two classes, each large enough to appear on both sides of the split."""
    counts = labels.value_counts()
    if len(counts) < 2:
        raise InputError(f"need at least 2 classes with {min_class_count}+ labelled rows, found {len(counts)}: {dict(counts)}")
    if counts.min() < 3:
        raise InputError(
            f"class {counts.idxmin()!r} has {counts.min()} row(s), too few for train, validation and test; raise catalog.min_class_count"
        )
