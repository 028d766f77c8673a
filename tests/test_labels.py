"""Class indices mean the same category everywhere: the label map on disk, the split's ids, and predicted names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.catalog import label_ids, label_names, read_split
from prodcat.classifier import TabularEncoding, design_matrix, train_booster
from prodcat.params import TrainXgbParams
from prodcat.predict import TrainedVariant, predict

NAMES = ["Books", "Toys", "Zoo Supplies"]


def test_label_map_is_sorted_and_ids_are_positions() -> None:
    labels = pd.Series(["Toys", "Books", "Zoo Supplies", "Books"])
    assert label_names(labels) == NAMES
    assert label_ids(labels, NAMES).tolist() == [1, 0, 2, 0]


def test_read_split_returns_the_map_as_written_and_each_row_its_class_index(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a", "b", "c", "d"], "label": ["Toys", "Books", "Zoo Supplies", "Books"]}).to_parquet(tmp_path / "test.parquet")
    (tmp_path / "labels.json").write_text(json.dumps(NAMES))
    frame, names, ids = read_split(tmp_path, "test")
    assert names == NAMES
    assert ids.tolist() == [1, 0, 2, 0]
    assert [names[i] for i in ids] == frame["label"].tolist()


def test_predict_names_the_category_whose_probability_is_highest() -> None:
    """A booster that learnt feature value k -> class k, and a featurizer mapping each text to its class index."""
    code = {"a book": 0, "a toy": 1, "a zoo thing": 2}
    encoding = TabularEncoding(use_price=False, categories={})
    features = np.repeat(np.arange(3, dtype=np.float32), 30).reshape(-1, 1)
    booster = train_booster(
        design_matrix(features, encoding.transform(pd.DataFrame(index=range(90))), encoding, features.ravel().astype(int)),
        num_classes=3, params=TrainXgbParams(num_boost_round=10), threads=1,
    )
    variant = TrainedVariant(
        name="handmade", labels=NAMES, encoding=encoding, booster=booster,
        featurize=lambda texts: np.array([[code[text]] for text in texts], dtype=np.float32),
    )
    products = pd.DataFrame({"id": ["p1", "p2", "p3"], "text": ["a zoo thing", "a book", "a toy"]})
    result = predict(variant, products, top_k=2)
    assert result["id"].tolist() == ["p1", "p2", "p3"]
    assert result["predicted"].tolist() == ["Zoo Supplies", "Books", "Toys"]
    assert result["top1_category"].tolist() == result["predicted"].tolist()
    assert (result["top1_probability"] > 0.5).all() and (result["top2_probability"] < result["top1_probability"]).all()


def test_a_saved_variant_loads_with_its_label_map_and_names_the_right_categories(tmp_path: Path) -> None:
    """load_variant + predict on what train_xgb and embed save (tfidf: no encoder needed)."""
    from devtools.scratch_repo import ROOT
    from prodcat.embedding import fit_tfidf, tfidf_to_json
    from prodcat.io import write_json
    from prodcat.params import TfidfParams, load_params
    from prodcat.predict import load_variant

    texts = {"Books": "paperback novel book", "Toys": "plastic toy bricks", "Zoo Supplies": "zoo animal feed"}
    train = pd.DataFrame({"text": [texts[name] for name in NAMES for _ in range(20)], "label": [name for name in NAMES for _ in range(20)]})
    vectorizer = fit_tfidf(train["text"].tolist(), TfidfParams(min_df=1))
    encoding = TabularEncoding(use_price=False, categories={})
    matrix = design_matrix(vectorizer.transform(train["text"]), encoding.transform(train), encoding, label_ids(train["label"], NAMES))
    (tmp_path / "xgb").mkdir()
    train_booster(matrix, 3, TrainXgbParams(num_boost_round=10), threads=1).save_model(tmp_path / "xgb" / "tfidf.ubj")
    write_json(tmp_path / "xgb" / "tabular.json", encoding.to_json())
    write_json(tmp_path / "tfidf.json", tfidf_to_json(vectorizer))
    write_json(tmp_path / "labels.json", NAMES)

    variant = load_variant("tfidf", load_params(ROOT / "params.yaml"), tmp_path, tmp_path / "labels.json")
    assert variant.labels == NAMES
    products = pd.DataFrame({"id": ["1", "2", "3"], "text": [texts["Toys"], texts["Books"], texts["Zoo Supplies"]]})
    assert predict(variant, products)["predicted"].tolist() == ["Toys", "Books", "Zoo Supplies"]
