"""The tabular block: price and categorical codes learnt on train, unseen values missing, the same codes after a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from prodcat.features.tabular import TabularEncoding

TRAIN = pd.DataFrame({"price": [1.0, 0.0, np.nan, 9.5], "model": ["m2", "m1", None, "m1"], "seller": ["Y", "N", "Y", "Y"]})


def test_tabular_coding_is_shared_and_unseen_values_are_missing() -> None:
    encoding = TabularEncoding.fit(TRAIN, ["model", "seller"])
    assert encoding.categories == {"model": ["m1", "m2"], "seller": ["N", "Y"]}
    test = pd.DataFrame({"price": [3.0], "model": ["never-seen"], "seller": ["Y"]})
    assert np.allclose(encoding.transform(TRAIN), [[1, 1, 1], [0, 0, 0], [np.nan, np.nan, 1], [9.5, 0, 1]], equal_nan=True)
    assert np.allclose(encoding.transform(test), [[3.0, np.nan, 1]], equal_nan=True)


def test_tabular_coding_round_trips_through_json() -> None:
    encoding = TabularEncoding.fit(TRAIN, ["model"])
    restored = TabularEncoding.from_json(json.loads(json.dumps(encoding.to_json())))
    assert restored == encoding


def test_no_price_feature_when_catalog_has_no_prices() -> None:
    encoding = TabularEncoding.fit(TRAIN.assign(price=np.nan), ["seller"])
    assert encoding.feature_names == ["seller"]
    assert encoding.transform(TRAIN).shape == (4, 1)
