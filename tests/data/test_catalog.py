"""Parsing and preprocessing: prices, category paths, texts, labels and the split."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from prodcat.core.params import CatalogParams, PreprocessParams
from prodcat.data.catalog import (
    OTHER_CLASS,
    build_text,
    catalog_labels,
    category_at_level,
    check_trainable,
    make_examples,
    parse_price,
    unwrap_json_list,
)
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
        ("Toys & Games | Puzzles | Jigsaw Puzzles", 1, "Toys & Games | Puzzles"),
        ("Toys & Games | Puzzles | Jigsaw Puzzles", "leaf", "Toys & Games | Puzzles | Jigsaw Puzzles"),
        ("  Home & Kitchen|Kitchen & Dining ", 1, "Home & Kitchen | Kitchen & Dining"),
        ("  Home & Kitchen|Kitchen & Dining ", 0, "Home & Kitchen"),
        ("Clothing, Shoes & Jewelry", 0, "Clothing, Shoes & Jewelry"),
        ("Toys & Games", 1, "Toys & Games"),
        ("A |  | C", "leaf", "A"),
        (" | Puzzles", 0, None),
        ("", 0, None),
        (None, 0, None),
    ],
)
def test_category_at_level_is_the_path_cut_at_that_level(path: object, level: int | str, expected: str | None) -> None:
    assert category_at_level(path, "|", level) == expected


FLIPKART_TREE = (
    "[\"Clothing >> Women's Clothing >> Lingerie, Sleep & Swimwear >> Shorts >> Alisha Shorts >> Alisha Solid Women's Cycling Shorts\"]"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            FLIPKART_TREE,
            "Clothing >> Women's Clothing >> Lingerie, Sleep & Swimwear >> Shorts >> Alisha Shorts >> Alisha Solid Women's Cycling Shorts",
        ),
        ('["Pens >> Golf Balls >> ezyPRNT \\"RH\\" Golf Ball"]', 'Pens >> Golf Balls >> ezyPRNT "RH" Golf Ball'),
        ("Clothing >> Shorts", None),
        ('["A", "B"]', None),
        ("[3]", None),
        (None, None),
    ],
)
def test_unwrap_json_list_reads_one_path_in_a_json_list(raw: object, expected: str | None) -> None:
    assert unwrap_json_list(raw) == expected


def test_a_flipkart_tree_is_labelled_at_level_2() -> None:
    assert category_at_level(unwrap_json_list(FLIPKART_TREE), ">>", 2) == "Clothing | Women's Clothing | Lingerie, Sleep & Swimwear"


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
        "rows_backed_off": 0,
        "rows_backed_off_to_level": {},
    }


def catalog_of(categories: list[str | None]) -> pd.DataFrame:
    """A raw catalog with these category values, one product each."""
    return pd.DataFrame(
        {"id": [f"id{i}" for i in range(len(categories))], "cat": categories, "name": [f"product {i}" for i in range(len(categories))]}
    )


PATHS = CATALOG.model_copy(update={"price_column": None, "categorical_columns": []})


def test_same_named_subcategories_of_different_parents_stay_two_classes() -> None:
    raw = catalog_of(["Clothing | Accessories | Belts"] * 3 + ["Electronics | Accessories | Cables"] * 3)
    examples = make_examples(raw, PATHS.model_copy(update={"category_level": 1, "min_class_count": 3}))
    assert examples.frame["label"].value_counts().to_dict() == {"Clothing | Accessories": 3, "Electronics | Accessories": 3}


def test_rare_deep_labels_back_off_to_the_deepest_ancestor_with_enough_rows() -> None:
    """min 3 rows: "A | x | q" (2) joins "A | x" (1 of its own); "A | y | r" (1) passes "A | y" (1) for "A" (2 of its own);
    "C | w" backs off to "C", still rare at the top level, so the rare-class rule merges it into "Other"."""
    raw = catalog_of(["A | x | p"] * 3 + ["A | x | q"] * 2 + ["A | x", "A | y | r", "A", "A", "C | w"])
    examples = make_examples(raw, PATHS.model_copy(update={"category_level": "leaf", "min_class_count": 3}))
    assert examples.frame["label"].tolist() == ["A | x | p"] * 3 + ["A | x"] * 3 + ["A"] * 3 + [OTHER_CLASS]
    assert examples.report == {
        "rows_in": 10,
        "rows_without_label": 0,
        "rare_classes": 1,
        "rows_merged_as_rare": 1,
        "rows_out": 10,
        "rows_backed_off": 4,
        "rows_backed_off_to_level": {"0": 2, "1": 2},
    }


def test_a_json_list_category_with_an_unlabelled_top_level() -> None:
    raw = catalog_of(['["Clothing >> Shorts >> Alisha Shorts"]', '["missing >> missing"]', "Clothing >> Shorts", None])
    dataset = PATHS.model_copy(update={"category_format": "json_list", "category_separator": ">>", "unlabelled_values": ["missing"]})
    labels = catalog_labels(raw, dataset.model_copy(update={"category_level": 1}))
    assert labels.dropna().to_dict() == {0: "Clothing | Shorts"}  # unlabelled, not a JSON list, absent


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
