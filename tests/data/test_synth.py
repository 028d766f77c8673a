"""The embedded default catalog: deterministic, in the Amazon 2020 schema, messy where real data is messy."""

from __future__ import annotations

import pandas as pd
import pytest

from prodcat.data.synth import AMAZON_2020_COLUMNS, generate_catalog, write_catalog


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    return generate_catalog(2400, 7)


def test_same_seed_gives_identical_frame(catalog: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_catalog(2400, 7), catalog)


def test_different_seed_gives_different_frame() -> None:
    assert not generate_catalog(200, 7).equals(generate_catalog(200, 8))


def test_columns_are_the_28_amazon_2020_columns_in_order(catalog: pd.DataFrame) -> None:
    assert len(AMAZON_2020_COLUMNS) == 28
    assert tuple(catalog.columns) == AMAZON_2020_COLUMNS
    assert all(isinstance(value, str) for value in catalog.to_numpy().ravel())


def test_main_categories_are_many_and_each_large_enough(catalog: pd.DataFrame) -> None:
    labelled = catalog.loc[catalog["Category"] != "", "Category"]
    levels = labelled.str.split(" | ", regex=False)
    assert levels.str.len().between(2, 3).all()
    counts = levels.str[0].value_counts()
    assert len(counts) >= 12
    assert counts.min() >= 30
    assert counts.iloc[0] > 2 * counts.iloc[len(counts) // 2], "class sizes should be imbalanced"


def test_some_rows_have_no_category(catalog: pd.DataFrame) -> None:
    assert 0.02 <= (catalog["Category"] == "").mean() <= 0.08


def test_selling_price_is_messy_like_real_data(catalog: pd.DataFrame) -> None:
    price = catalog["Selling Price"]
    assert price.str.fullmatch(r"\$\d{1,3}(,\d{3})+\.\d\d").any()
    assert price.str.contains(" - ", regex=False).any()
    assert (price == "").any()
    assert price.str.fullmatch(r"\$\d+\.\d\d").mean() > 0.7


def test_ids_are_unique_32_hex(catalog: pd.DataFrame) -> None:
    assert catalog["Uniq Id"].is_unique
    assert catalog["Uniq Id"].str.fullmatch(r"[0-9a-f]{32}").all()


def test_the_written_csv_round_trips(tmp_path) -> None:
    path = tmp_path / "default" / "catalog.csv"
    write_catalog(path, 300, 3)
    read = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(read, generate_catalog(300, 3))


def test_committed_default_catalog_is_what_make_data_regenerates(tmp_path) -> None:
    """data/default/catalog.csv must stay in sync with the generator (`make data`)."""
    from pathlib import Path

    committed = Path(__file__).resolve().parents[2] / "data" / "default" / "catalog.csv"
    write_catalog(tmp_path / "catalog.csv", 2400, 7)
    assert (tmp_path / "catalog.csv").read_bytes() == committed.read_bytes()
