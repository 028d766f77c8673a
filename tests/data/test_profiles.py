"""Switching catalogs by profile: params rewritten in place, and real PriceRunner, Instacart and Flipkart samples through validate and preprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from devtools.scratch_repo import ROOT, write_params, write_paths
from prodcat.core.errors import InputError
from prodcat.core.params import load_params
from prodcat.data.profiles import apply_profile, profile_path
from prodcat.features.tabular import TabularEncoding
from stages import preprocess as preprocess_stage
from stages import validate as validate_stage

PRICERUNNER = ROOT.parent / "shared" / "data" / "pricerunner_aggregate.csv"
INSTACART = ROOT.parent / "shared" / "data" / "instacart_products.csv"
FLIPKART = ROOT.parent / "shared" / "data" / "flipkart_products.csv"


def test_profile_rewrites_only_its_keys_and_keeps_comments(tmp_path: Path) -> None:
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    for catalog in ["prices.csv", "data/default/catalog.csv"]:  # a catalog must exist to be applied
        (tmp_path / catalog).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / catalog).touch()
    apply_profile(params_file, profile_path("pricerunner"), catalog="prices.csv")
    before, after = yaml.safe_load((ROOT / "params.yaml").read_text()), yaml.safe_load(params_file.read_text())
    assert after["catalog"]["text_columns"] == ["Product Title"] and after["catalog"]["price_column"] is None
    assert after["catalog"]["group_column"] == "Cluster ID" and after["catalog"]["path"] == "prices.csv"
    assert after["catalog"]["min_class_count"] == before["catalog"]["min_class_count"] == 20  # not a schema key: kept
    assert {k: v for k, v in after.items() if k != "catalog"} == {k: v for k, v in before.items() if k != "catalog"}
    assert "# top-level classes with fewer rows are merged" in params_file.read_text()
    apply_profile(params_file, profile_path("amazon2020"), catalog=before["catalog"]["path"])
    assert yaml.safe_load(params_file.read_text()) == before
    # Byte for byte: every key back in its place with its comment, a null written `null`, not left blank.
    assert params_file.read_text() == (ROOT / "params.yaml").read_text()


def test_a_profile_replaces_the_whole_column_schema(tmp_path: Path) -> None:
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    profile = tmp_path / "titles.yaml"
    profile.write_text("catalog: {id_column: id, category_column: cat, text_columns: [title], max_text_chars: 200}\n")
    apply_profile(params_file, profile, catalog=None)
    catalog = yaml.safe_load(params_file.read_text())["catalog"]
    assert (catalog["text_columns"], catalog["max_text_chars"], catalog["path"]) == (["title"], 200, "data/default/catalog.csv")
    assert (catalog["price_column"], catalog["categorical_columns"]) == (None, [])  # defaults, not the old catalog's columns
    assert (catalog["category_format"], catalog["unlabelled_values"]) == ("plain", [])


@pytest.mark.parametrize("profile", sorted(path.stem for path in (ROOT / "profiles").glob("*.yaml")))
def test_every_catalog_key_dvc_yaml_names_is_in_params_after_a_profile(tmp_path: Path, profile: str) -> None:
    """DVC refuses to run a stage whose listed param is missing from params.yaml, defaults or not."""
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    apply_profile(params_file, profile_path(profile), catalog=None)
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    named = {key.split(".", 1)[1] for stage in stages.values() for key in stage.get("params", []) if key.startswith("catalog.")}
    assert named >= {"category_format", "unlabelled_values"}
    assert sorted(named - set(yaml.safe_load(params_file.read_text())["catalog"])) == []


def test_a_profile_in_the_old_layout_fails_naming_its_keys_and_writes_nothing(tmp_path: Path) -> None:
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    profile = tmp_path / "old.yaml"
    profile.write_text("dataset: {id_column: id}\npreprocess: {max_text_chars: 500}\n")
    with pytest.raises(
        InputError,
        match=r"^invalid params: preprocess.max_text_chars: Extra inputs are not permitted; dataset: Extra inputs are not permitted$",
    ):
        apply_profile(params_file, profile, catalog=None)
    assert params_file.read_text() == (ROOT / "params.yaml").read_text()


def test_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(InputError, match="amazon2020, flipkart, instacart, pricerunner"):
        profile_path("ebay")


@pytest.mark.skipif(not PRICERUNNER.is_file(), reason="needs ../shared/data/pricerunner_aggregate.csv")
def test_pricerunner_profile_validates_and_splits_by_cluster(tmp_path: Path) -> None:
    sample = tmp_path / "pricerunner_sample.csv"
    # Whole clusters (every 25th), so that many groups have several rows and "no group on both sides" can fail.
    full = pd.read_csv(PRICERUNNER, dtype=str)
    clusters = full["Cluster ID"].drop_duplicates().iloc[::25]
    rows = full[full["Cluster ID"].isin(clusters)]
    assert (rows["Cluster ID"].value_counts() >= 2).sum() > 100
    rows.to_csv(sample, index=False)
    params_file = write_params(tmp_path, sample, catalog={"min_class_count": 5})
    apply_profile(params_file, profile_path("pricerunner"), catalog=None)
    paths = write_paths(
        tmp_path, data_quality=tmp_path / "quality.json", processed=tmp_path / "processed", preprocess_report=tmp_path / "pre.json"
    )
    validate_stage.main(["--params", str(params_file), "--paths", str(paths)])
    preprocess_stage.main(["--params", str(params_file), "--paths", str(paths)])

    train = pd.read_parquet(tmp_path / "processed" / "train.parquet")
    test = pd.read_parquet(tmp_path / "processed" / "test.parquet")
    assert set(train["group"]).isdisjoint(test["group"])
    assert 0.1 < len(test) / (len(train) + len(test)) < 0.3
    assert train["label"].nunique() == 10
    encoding = TabularEncoding.fit(train, load_params(params_file).catalog.categorical_columns)
    assert encoding.feature_names == ["Merchant ID"]  # no price column: the feature is simply absent


def validated_and_preprocessed(tmp_path: Path, rows: pd.DataFrame, profile: str, **catalog: object) -> tuple[dict[str, pd.DataFrame], dict]:
    """A sample of a real catalog through the validate and preprocess stages under a profile: the splits and the report."""
    sample = tmp_path / f"{profile}_sample.csv"
    rows.to_csv(sample, index=False)
    params_file = write_params(tmp_path, sample, catalog=catalog)
    apply_profile(params_file, profile_path(profile), catalog=None)
    paths = write_paths(
        tmp_path, data_quality=tmp_path / "quality.json", processed=tmp_path / "processed", preprocess_report=tmp_path / "pre.json"
    )
    validate_stage.main(["--params", str(params_file), "--paths", str(paths)])
    preprocess_stage.main(["--params", str(params_file), "--paths", str(paths)])
    splits = {name: pd.read_parquet(tmp_path / "processed" / f"{name}.parquet") for name in ["train", "test", "unlabelled"]}
    return splits, yaml.safe_load((tmp_path / "pre.json").read_text())


@pytest.mark.skipif(not INSTACART.is_file(), reason="needs ../shared/data/instacart_products.csv")
def test_instacart_profile_labels_aisles_under_departments_and_leaves_missing_unlabelled(tmp_path: Path) -> None:
    rows = pd.read_csv(INSTACART, dtype=str).iloc[::10]  # every 10th product: 4,969, of them 123 in department "missing"
    splits, report = validated_and_preprocessed(tmp_path, rows, "instacart", min_class_count=5)
    labels = pd.concat([splits["train"]["label"], splits["test"]["label"]])
    assert report["rows_without_label"] == 123 and len(splits["unlabelled"]) == 123
    assert labels[labels != "Other"].str.count(r" \| ").eq(1).all()  # "department | aisle"
    assert not labels.str.startswith("missing").any()
    assert "snacks | cookies cakes" in set(labels)


@pytest.mark.skipif(not FLIPKART.is_file(), reason="needs ../shared/data/flipkart_products.csv")
def test_flipkart_profile_reads_the_tree_to_level_2_and_splits_by_name(tmp_path: Path) -> None:
    rows = pd.read_csv(FLIPKART, dtype=str).iloc[::4]  # every 4th listing: 5,000
    splits, report = validated_and_preprocessed(tmp_path, rows, "flipkart", min_class_count=10)
    train, test = splits["train"], splits["test"]
    assert set(train["group"]).isdisjoint(test["group"])  # a product name on one side only
    assert train["label"].str.count(r" \| ").max() == 2
    assert "Clothing | Women's Clothing | Western Wear" in set(train["label"])
    assert report["rows_backed_off"] == sum(report["rows_backed_off_to_level"].values()) > 0
    assert train["price"].notna().mean() > 0.99
