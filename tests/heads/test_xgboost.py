"""The head phase: design matrices, XGBoost training, unseen values included, and the XGBoost head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.core.io import write_json
from prodcat.core.params import TrainXgbParams
from prodcat.core.variants import variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Fitting, TrainingRows
from prodcat.heads.xgboost import XGBoostHead, design_matrix, predict_proba, text_features, train_booster

TRAIN = pd.DataFrame({"price": [1.0, 0.0, np.nan, 9.5], "model": ["m2", "m1", None, "m1"], "seller": ["Y", "N", "Y", "Y"]})


def test_design_matrix_keeps_zero_codes_as_values() -> None:
    """Code 0 and price 0 are values; only blanks, unparseable prices and unseen values are missing."""
    encoding = TabularEncoding.fit(TRAIN, ["model", "seller"])
    text = np.zeros((4, 5), dtype=np.float32)
    matrix = design_matrix(text, encoding.transform(TRAIN), encoding)
    assert matrix.num_col() == 8
    assert matrix.num_nonmissing() == 4 * 8 - 2  # the blank model number and the NaN price are the only gaps
    assert matrix.feature_types == ["q"] * 6 + ["c", "c"]


def test_booster_learns_a_separable_problem() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    text = rng.normal(size=(90, 4)).astype(np.float32) + labels[:, None] * 3
    frame = pd.DataFrame({"price": rng.random(90), "model": rng.choice(["a", "b"], 90)})
    encoding = TabularEncoding.fit(frame, ["model"])
    booster = train_booster(
        design_matrix(text, encoding.transform(frame), encoding, labels), 3, TrainXgbParams(num_boost_round=10), threads=1
    )
    unseen = frame.assign(model="zzz")
    probabilities = predict_proba(booster, design_matrix(text, encoding.transform(unseen), encoding))
    assert probabilities.shape == (90, 3)
    assert (probabilities.argmax(axis=1) == labels).mean() > 0.95


def test_the_xgboost_head_reads_its_variants_embedding_then_the_sparse_scores() -> None:
    blocks = FeatureBlocks({"stock": np.zeros((2, 2)), "finetuned": np.ones((2, 2))}, np.full((2, 3), 7.0), np.empty((2, 0)))
    assert text_features(variant("hybrid"), blocks).tolist() == [[1, 1, 7, 7, 7]] * 2
    assert text_features(variant("stock"), blocks).tolist() == [[0, 0]] * 2


def test_the_xgboost_head_scores_the_same_after_saving_and_loading(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    frame = pd.DataFrame({"price": rng.random(90), "model": rng.choice(["a", "b"], 90)})
    encoding = TabularEncoding.fit(frame, ["model"])
    blocks = FeatureBlocks({"stock": rng.normal(size=(90, 4)).astype(np.float32) + labels[:, None] * 3}, None, encoding.transform(frame))
    head = XGBoostHead.fit(variant("stock"), TrainingRows(blocks, labels, 3), Fitting(encoding, TrainXgbParams(num_boost_round=10)))
    (tmp_path / "xgb").mkdir()
    write_json(tmp_path / "xgb/tabular.json", encoding.to_json())
    head.save(tmp_path / "xgb")
    assert XGBoostHead.files(variant("stock")) == ["xgb/tabular.json", "xgb/stock.ubj"]
    loaded = XGBoostHead.load(tmp_path, variant("stock"), {})
    assert (head.predict_proba(blocks, {}).argmax(axis=1) == labels).mean() > 0.95
    np.testing.assert_array_equal(loaded.predict_proba(blocks, {}), head.predict_proba(blocks, {}))
