"""Scoring every variant through its head: probabilities from what `dvc repro` saves, missing artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from prodcat.core.errors import InputError
from prodcat.core.io import write_json
from prodcat.core.params import TrainXgbParams
from prodcat.core.variants import variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Fitting, TrainingRows
from prodcat.heads.registry import head_class
from prodcat.heads.scoring import TrainedHeads, variant_probabilities
from prodcat.heads.softmax_weights import save_head
from prodcat.heads.sparse import SparseModel
from prodcat.heads.xgboost import XGBoostHead

LABELS = np.repeat([0, 1, 2], 30)
SOFTMAX_HEAD = {"weight": torch.eye(3, 4), "bias": torch.zeros(3), "log_scale": torch.tensor(0.0)}  # reads class k off dimension k


def one_hot(labels: np.ndarray, confidence: float) -> np.ndarray:
    probabilities = np.full((len(labels), 3), (1 - confidence) / 2)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


@pytest.fixture()
def blocks() -> FeatureBlocks:
    """90 rows of three classes: fine-tuned embeddings that separate them, sparse scores 0.8 sure of the label."""
    embeddings = np.random.default_rng(0).normal(size=(90, 4)).astype(np.float32) + LABELS[:, None] * 3
    tabular = TabularEncoding.fit(pd.DataFrame(index=range(90)), []).transform(pd.DataFrame(index=range(90)))
    return FeatureBlocks({"finetuned": embeddings}, np.log(one_hot(LABELS, 0.8)).astype(np.float32), tabular)


@pytest.fixture()
def models(tmp_path: Path, blocks: FeatureBlocks) -> Path:
    """A models folder as the stages leave it: xgb/ (train_xgb), finetuned/ with the softmax head (finetune), sparse/ (train_sparse)."""
    models = tmp_path / "models"
    encoding = TabularEncoding.fit(pd.DataFrame(index=range(90)), [])
    (models / "xgb").mkdir(parents=True)
    write_json(models / "xgb/tabular.json", encoding.to_json())
    fitting = Fitting(encoding, TrainXgbParams(num_boost_round=5))
    XGBoostHead.fit(variant("finetuned"), TrainingRows(blocks, LABELS, 3), fitting).save(models / "xgb")
    (models / "finetuned").mkdir()
    save_head(SOFTMAX_HEAD, models / "finetuned")
    SparseModel([], np.zeros((3, 1), np.float32), np.zeros(3, np.float32), temperature=2.0).save(models / "sparse")
    return models


def test_each_head_turns_its_features_into_probabilities(models: Path, blocks: FeatureBlocks) -> None:
    heads = TrainedHeads.load(models, ["fusion", "finetuned", "softmax", "sparse"], {"fusion_weights": {"softmax": 0.25, "sparse": 0.75}})
    probabilities = variant_probabilities(["fusion", "finetuned", "softmax", "sparse"], blocks, heads)
    assert list(probabilities) == ["finetuned", "softmax", "sparse", "fusion"]  # fusion after its members
    assert (probabilities["finetuned"].argmax(axis=1) == LABELS).mean() > 0.95
    expected_softmax = torch.softmax(
        torch.nn.functional.normalize(torch.from_numpy(blocks.embeddings["finetuned"]), dim=-1)[:, :3], dim=-1
    ).numpy()
    np.testing.assert_allclose(probabilities["softmax"], expected_softmax, rtol=1e-5)
    squared = one_hot(LABELS, 0.8) ** 2  # temperature 2 on log-probabilities squares them before normalising
    np.testing.assert_allclose(probabilities["sparse"], squared / squared.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(probabilities["fusion"], 0.25 * probabilities["softmax"] + 0.75 * probabilities["sparse"], rtol=1e-6)


def test_each_head_loads_from_exactly_the_files_it_names(models: Path, blocks: FeatureBlocks, tmp_path: Path) -> None:
    """A bundle copies `Head.files` (and the tabular codes): from those alone each head scores as from the whole models folder."""
    for name in ("finetuned", "softmax", "sparse"):
        alone = tmp_path / "alone" / name
        for relative in ["xgb/tabular.json", *head_class(variant(name)).files(variant(name))]:
            (alone / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(models / relative, alone / relative)
        copied = variant_probabilities([name], blocks, TrainedHeads.load(alone, [name]))[name]
        np.testing.assert_array_equal(copied, variant_probabilities([name], blocks, TrainedHeads.load(models, [name]))[name])


def test_a_missing_artifact_is_named_with_the_command_that_makes_it(models: Path) -> None:
    (models / "xgb/finetuned.ubj").unlink()
    (models / "sparse/linear.npz").unlink()
    (models / "finetuned/softmax_head.safetensors").unlink()
    with pytest.raises(InputError, match=r"xgb/finetuned.ubj is missing: run `dvc repro` first"):
        TrainedHeads.load(models, ["finetuned"])
    with pytest.raises(InputError, match=r"sparse/linear.npz is missing: run `dvc repro` first"):
        TrainedHeads.load(models, ["sparse"])
    with pytest.raises(InputError, match=r"finetuned/softmax_head.safetensors is missing: the softmax variant needs finetune.objective"):
        TrainedHeads.load(models, ["softmax"])
    with pytest.raises(InputError, match=r"the fusion variant needs its weights \(models/champion.json"):
        TrainedHeads.load(models, ["fusion"])
    (models / "xgb/tabular.json").unlink()
    with pytest.raises(InputError, match=r"xgb/tabular.json is missing: run `dvc repro` first"):
        TrainedHeads.load(models, [])
