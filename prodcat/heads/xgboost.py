"""The head phase: XGBoost on text features plus price and categorical columns (coded by prodcat.features.tabular).

On a Dask cluster the booster trains through `xgboost.dask` on row shards of the same design matrix
and is the same kind of Booster (saved as UBJ), so nothing downstream knows where it was trained.

`XGBoostHead` is the head of the variants stock, adapted, finetuned and hybrid: one booster each,
`models/xgb/<variant>.ubj`, beside the categorical codes `models/xgb/tabular.json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

from prodcat.core.io import read_json
from prodcat.core.params import TrainXgbParams
from prodcat.core.variants import Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import FittedHead, Fitting, TrainingRows, existing

if TYPE_CHECKING:
    from distributed import Client

BOOSTERS = "xgb"  # the train_xgb stage's folder below models/
TABULAR_FILE = "tabular.json"


@dataclass(frozen=True)
class Design:
    """Text features and tabular columns side by side (float32, NaN = missing), with XGBoost's feature types."""

    data: np.ndarray
    feature_types: list[str]

    @classmethod
    def of(cls, text_features: np.ndarray, tabular: np.ndarray, encoding: TabularEncoding) -> Design:
        feature_types = ["q"] * text_features.shape[1] + (["q"] if encoding.use_price else []) + ["c"] * len(encoding.categories)
        return cls(np.hstack([text_features, tabular]).astype(np.float32), feature_types)


def design_matrix(
    text_features: np.ndarray, tabular: np.ndarray, encoding: TabularEncoding, labels: np.ndarray | None = None
) -> xgb.DMatrix:
    """The design as an in-memory DMatrix, with XGBoost's native categorical types."""
    design = Design.of(text_features, tabular, encoding)
    return xgb.DMatrix(design.data, label=labels, feature_types=design.feature_types, enable_categorical=True, missing=np.nan)


def booster_params(num_classes: int, params: TrainXgbParams) -> dict:
    """Multi-class softmax boosting (the original recipe used max_depth 6, eta 0.3, 100 rounds; see params.yaml)."""
    return {
        "objective": "multi:softprob",
        "num_class": num_classes,
        "max_depth": params.max_depth,
        "eta": params.eta,
        "tree_method": "hist",
        "eval_metric": "mlogloss",
        "seed": params.seed,
    }


def train_booster(matrix: xgb.DMatrix, num_classes: int, params: TrainXgbParams, threads: int) -> xgb.Booster:
    return xgb.train({**booster_params(num_classes, params), "nthread": threads}, matrix, num_boost_round=params.num_boost_round)


def train_booster_on_cluster(
    client: Client, design: Design, labels: np.ndarray, num_classes: int, params: TrainXgbParams, shard_rows: int
) -> xgb.Booster:
    """`train_booster` through `xgboost.dask`: one partition per `shard_rows` rows, each worker using all its threads."""
    import dask.array as da  # dask loads only when a cluster is configured
    from xgboost import dask as dxgb

    data = client.persist(da.from_array(design.data, chunks=(shard_rows, -1)))
    label = client.persist(da.from_array(labels, chunks=(shard_rows,)))
    matrix = dxgb.DaskDMatrix(client, data, label, feature_types=design.feature_types, enable_categorical=True, missing=np.nan)
    return dxgb.train(client, booster_params(num_classes, params), matrix, num_boost_round=params.num_boost_round, verbose_eval=False)[
        "booster"
    ]


def predict_proba(booster: xgb.Booster, matrix: xgb.DMatrix) -> np.ndarray:
    """(rows, classes) probabilities."""
    return booster.predict(matrix).reshape(matrix.num_row(), -1)


def text_features(spec: Variant, blocks: FeatureBlocks) -> np.ndarray:
    """The text block an XGBoost variant reads: its encoder's embedding, then the sparse scores if it uses them."""
    parts = [blocks.embeddings[spec.encoder]] if spec.encoder else []
    if spec.sparse_scores:
        assert blocks.sparse_scores is not None  # the blocks hold what the scored variants read
        parts.append(blocks.sparse_scores)
    return np.hstack(parts).astype(np.float32)


@dataclass(frozen=True)
class XGBoostHead(FittedHead):
    """A booster on the variant's text features plus the tabular columns, coded as in training."""

    variant: Variant
    booster: xgb.Booster
    encoding: TabularEncoding

    fitted_in = "train_xgb"
    refitted = True

    @classmethod
    def fit(cls, spec: Variant, rows: TrainingRows, fitting: Fitting) -> XGBoostHead:
        """Boost on the rows' blocks: in this process with `fitting.threads`, or through `xgboost.dask` on `fitting.client` in shards."""
        features, params = text_features(spec, rows.blocks), fitting.train_xgb
        if fitting.client is None:
            matrix = design_matrix(features, rows.blocks.tabular, fitting.encoding, rows.labels)
            booster = train_booster(matrix, rows.num_classes, params, fitting.threads)
        else:
            design = Design.of(features, rows.blocks.tabular, fitting.encoding)
            booster = train_booster_on_cluster(fitting.client, design, rows.labels, rows.num_classes, params, fitting.shard_rows)
        return cls(spec, booster, fitting.encoding)

    def save(self, boosters: Path) -> None:
        """The booster as `<variant>.ubj` in the stage's folder (`models/xgb`); the stage writes the shared tabular.json."""
        self.booster.save_model(boosters / f"{self.variant.name}.ubj")

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return [f"{BOOSTERS}/{TABULAR_FILE}", f"{BOOSTERS}/{spec.name}.ubj"]

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> XGBoostHead:
        encoding = TabularEncoding.from_json(read_json(existing(models / BOOSTERS / TABULAR_FILE)))
        return cls(spec, xgb.Booster(model_file=str(existing(models / BOOSTERS / f"{spec.name}.ubj"))), encoding)

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        return predict_proba(self.booster, design_matrix(text_features(self.variant, blocks), blocks.tabular, self.encoding))
