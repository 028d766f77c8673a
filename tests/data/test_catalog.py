"""Parsing and preprocessing: prices, category paths, texts, labels and the split."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from prodcat.core.params import CatalogParams, PreprocessParams
from prodcat.data.catalog import OTHER_CLASS, build_text, category_at_level, check_trainable, make_examples, parse_price
from prodcat.data.splits import split_examples


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$12.99", 12.99),
        ("$1,299.00", 1299.0),
        ("$10.99 - $15.99", 13.49),
        ("$ 7", 7.0),
        ("12.5", 12.5),
        ("1.299,00 €", 1299.0),
        ("€ 4,50", 4.5),
        ("$1,179.99", 1179.99),
    ],
)
def test_parse_price_reads_real_world_formats(raw: str, expected: float) -> None:
    assert parse_price(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw",
    ["", "N/A", "free", "$ 19 99 $39.95 #listPriceLegalMessageText { margin-left: 4px }", None, math.nan, "inf", "nan"],
)
def test_parse_price_marks_junk_as_missing(raw: object) -> None:
    assert math.isnan(parse_price(raw))


@pytest.mark.parametrize(
    ("path", "level", "expected"),
    [
        ("Toys & Games | Puzzles | Jigsaw Puzzles", 0, "Toys & Games"),
        ("Toys & Games | Puzzles | Jigsaw Puzzles", 1, "Puzzles"),
        ("  Home & Kitchen|Kitchen & Dining ", 0, "Home & Kitchen"),
        ("Clothing, Shoes & Jewelry", 0, "Clothing, Shoes & Jewelry"),
        ("Toys & Games", 1, None),
        (" | Puzzles", 0, None),
        ("", 0, None),
        (None, 0, None),
    ],
)
def test_category_at_level(path: object, level: int, expected: str | None) -> None:
    assert category_at_level(path, "|", level) == expected


def test_build_text_joins_non_empty_columns_and_cuts() -> None:
    frame = pd.DataFrame({"a": ["Red  ball", None], "b": ["", "Blue\n cup"], "c": ["toy", "mug"]})
    assert build_text(frame, ["a", "b", "c"], max_chars=100).tolist() == ["Red ball. toy", "Blue cup. mug"]
    assert build_text(frame, ["a", "b", "c"], max_chars=5).tolist() == ["Red b", "Blue "]


CATALOG = CatalogParams(
    path="c.csv",
    id_column="id",
    category_column="cat",
    text_columns=["name"],
    price_column="price",
    categorical_columns=["model"],
)


def raw_frame() -> pd.DataFrame:
    cats = ["A | x"] * 6 + ["B | y"] * 6 + ["C"] * 2 + [None] * 2
    return pd.DataFrame(
        {
            "id": [f"id{i}" for i in range(len(cats))],
            "cat": cats,
            "name": [f"product {i}" for i in range(len(cats))],
            "price": ["$1,000.50"] + ["$2"] * (len(cats) - 1),
            "model": ["M1"] * len(cats),
        }
    )


def test_make_examples_merges_rare_classes_and_counts_drops() -> None:
    examples = make_examples(raw_frame(), CATALOG.model_copy(update={"min_class_count": 3, "rare_classes": "other"}))
    assert examples.frame["label"].value_counts().to_dict() == {"A": 6, "B": 6, OTHER_CLASS: 2}
    assert examples.frame.loc[0, "price"] == pytest.approx(1000.5)
    assert examples.report == {
        "rows_in": 16,
        "rows_without_label": 2,
        "rare_classes": 1,
        "rows_merged_as_rare": 2,
        "rows_out": 14,
    }


def test_make_examples_can_drop_rare_classes() -> None:
    examples = make_examples(raw_frame(), CATALOG.model_copy(update={"min_class_count": 3, "rare_classes": "drop"}))
    assert set(examples.frame["label"]) == {"A", "B"}
    assert examples.report["rows_dropped_as_rare"] == 2


def test_make_examples_without_price_column_leaves_price_missing() -> None:
    examples = make_examples(raw_frame(), CATALOG.model_copy(update={"price_column": None, "min_class_count": 2}))
    assert examples.frame["price"].isna().all()


def test_check_trainable_needs_two_classes() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        check_trainable(pd.Series(["A"] * 10), min_class_count=5)


def test_stratified_split_is_seeded_and_disjoint() -> None:
    frame = pd.DataFrame({"id": range(100), "label": ["A"] * 70 + ["B"] * 30})
    splits = split_examples(frame, PreprocessParams(test_size=0.2, validation_size=0.125, seed=1))
    again = split_examples(frame, PreprocessParams(test_size=0.2, validation_size=0.125, seed=1))
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    assert test["label"].value_counts().to_dict() == {"A": 14, "B": 6}
    assert validation["label"].value_counts().to_dict() == {"A": 7, "B": 3}
    assert len(train) == 70
    assert set(train["id"]).isdisjoint(test["id"]) and set(train["id"]).isdisjoint(validation["id"])
    assert set(validation["id"]).isdisjoint(test["id"])
    assert train["id"].tolist() == again["train"]["id"].tolist()


def test_grouped_split_keeps_each_group_on_one_side() -> None:
    frame = pd.DataFrame({"id": range(200), "label": ["A", "B"] * 100, "group": [f"g{i // 4}" for i in range(200)]})
    splits = split_examples(frame, PreprocessParams(test_size=0.2, validation_size=0.2, seed=3))
    groups = {name: set(split["group"]) for name, split in splits.items()}
    assert groups["train"].isdisjoint(groups["test"]) and groups["train"].isdisjoint(groups["validation"])
    assert groups["validation"].isdisjoint(groups["test"])
    assert 0.1 < len(splits["test"]) / len(frame) < 0.3
    assert 0.1 < len(splits["validation"]) / len(frame) < 0.25
