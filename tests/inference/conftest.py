"""The inference tests' model: a small sparse-only champion bundle (no encoder, fast)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from devtools.scratch_repo import ROOT
from prodcat.core.io import write_json
from prodcat.core.params import SparseParams, load_params
from prodcat.data.catalog import make_examples
from prodcat.data.splits import label_ids, label_names
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.sparse import fit_sparse
from prodcat.inference.bundle import write_bundle
from prodcat.inference.drift import reference_profile

PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path) -> tuple[Path, Path, pd.DataFrame]:
    """(models folder, bundle folder, the training examples) of a `sparse` champion fitted on the small catalog."""
    folder = tmp_path_factory.mktemp("sparse-model")
    raw = pd.read_csv(small_catalog, dtype=str, keep_default_na=False, na_values=[""])
    train = make_examples(raw, PARAMS.catalog).frame
    labels = label_names(train["label"])
    models = folder / "models"
    fit_sparse(train["text"].tolist(), label_ids(train["label"], labels), len(labels), SparseParams(min_df=1), temperature=2.0).save(
        models / "sparse"
    )
    write_json(models / "xgb" / "tabular.json", TabularEncoding.fit(train, PARAMS.catalog.categorical_columns).to_json())
    choice = {"champion": "sparse", "fusion_weights": None, "embed_backend": "torch", "embed_backend_reason": "no encoder"}
    write_json(models / "champion.json", choice)
    write_json(folder / "labels.json", labels)
    bundle = folder / "bundle"
    bundle.mkdir()
    write_bundle(
        bundle,
        "sparse",
        None,
        labels,
        PARAMS,
        models,
        {"sha256": "0" * 64, "rows": len(train)},
        {"validation": {"accuracy": 0.9}, "test": {"accuracy": 0.8}},
        reference_profile(train, train["label"], PARAMS.bundle.bins),
    )
    return models, bundle, train
