"""Class indices mean the same category everywhere: the label map on disk, the split's ids, and predicted names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodcat.data.splits import label_ids, label_names, read_split
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.scoring import TrainedHeads
from prodcat.heads.sparse import LinearHead
from prodcat.inference.predictor import Predictor, predict

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
    """The label map is applied by position: reversing it, or the ranking, names the wrong categories."""
    scores = np.log(np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], dtype=np.float32))

    class FixedScores:
        def scores(self, texts: list[str]) -> np.ndarray:
            return scores

    heads = TrainedHeads(TabularEncoding(use_price=False, categories={}), {"sparse": LinearHead(temperature=1.0)})
    predictor = Predictor("sparse", NAMES, ["sparse"], {}, FixedScores(), heads)
    result = predict(predictor, pd.DataFrame({"id": ["p1", "p2", "p3"], "text": ["x", "y", "z"]}), top_k=2).to_frame()
    assert result["id"].tolist() == ["p1", "p2", "p3"]
    assert result["predicted"].tolist() == ["Zoo Supplies", "Books", "Toys"]
    assert result["top1_category"].tolist() == result["predicted"].tolist()
    assert result["top2_category"].tolist() == ["Toys", "Toys", "Zoo Supplies"]
    assert result["top1_probability"].tolist() == pytest.approx([0.7, 0.6, 0.5], abs=1e-4)


def test_a_bundled_variant_loads_with_its_label_map_and_names_the_right_categories(tmp_path: Path) -> None:
    """write_bundle + load_bundle + predict on what train_sparse and preprocess save (sparse: no encoder needed)."""
    from devtools.scratch_repo import ROOT
    from prodcat.core.io import write_json
    from prodcat.core.params import SparseParams, load_params
    from prodcat.heads.sparse import fit_sparse
    from prodcat.inference.bundle import load_bundle, write_bundle

    texts = {"Books": "paperback novel book", "Toys": "plastic toy bricks", "Zoo Supplies": "zoo animal feed"}
    train = pd.DataFrame({"text": [texts[name] for name in NAMES for _ in range(20)], "label": [name for name in NAMES for _ in range(20)]})
    fit_sparse(train["text"].tolist(), label_ids(train["label"], NAMES), 3, SparseParams(min_df=1), temperature=3.0).save(
        tmp_path / "sparse"
    )
    write_json(tmp_path / "xgb" / "tabular.json", TabularEncoding(use_price=False, categories={}).to_json())
    params = load_params(ROOT / "params.yaml")
    reference = {
        "rows": 60,
        "text_length": {"edges": [1.0], "shares": [0.0, 1.0]},
        "price": None,
        "labels": {name: 1 / 3 for name in NAMES},
    }
    write_bundle(tmp_path / "bundle", "sparse", None, NAMES, params, tmp_path, {"rows": 60}, {}, reference)

    predictor = load_bundle(tmp_path / "bundle").predictor
    assert (predictor.name, predictor.labels) == ("sparse", NAMES)
    products = pd.DataFrame({"id": ["1", "2", "3"], "text": [texts["Toys"], texts["Books"], texts["Zoo Supplies"]]})
    assert predict(predictor, products).labels.tolist() == ["Toys", "Books", "Zoo Supplies"]
