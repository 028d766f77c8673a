"""Scoring every variant through its head: probabilities from what `dvc repro` saves, missing artifacts, the champion rule."""

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
from prodcat.heads.champion_rule import beaten_by, choose_champion, clearly_beats
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


PREFERENCE = ["fusion", "hybrid", "sparse", "softmax", "stock"]


def right(rows: int, wrong: list[int]) -> np.ndarray:
    """Which of `rows` validation rows a variant got right: all but `wrong`."""
    correct = np.ones(rows, dtype=bool)
    correct[wrong] = False
    return correct


def test_a_paired_win_counts_only_beyond_the_noise() -> None:
    """Wins minus losses against noise_z x sqrt(wins + losses): 10 - 1 = 9 > 2 x sqrt(11) = 6.6; 8 - 2 = 6 < 2 x sqrt(10) = 6.3."""
    assert clearly_beats(right(100, [0]), right(100, list(range(1, 11))), 2.0)
    assert not clearly_beats(right(100, [0, 1]), right(100, list(range(2, 10))), 2.0)
    assert not clearly_beats(right(100, list(range(1, 11))), right(100, [0]), 2.0)  # a loss is no win


def test_a_tie_or_a_difference_within_the_noise_keeps_the_preferred_variant_whatever_rows_move() -> None:
    """The committed run (fusion) and a fresh clone (sparse) tied on validation: the preference decides, not rounding or list order."""
    tie = {"sparse": right(184, [0, 1, 2, 3, 4, 5]), "fusion": right(184, [3, 4, 5, 6, 7, 8]), "stock": right(184, list(range(60)))}
    assert choose_champion(tie, PREFERENCE, 2.0) == "fusion"
    assert choose_champion(dict(reversed(tie.items())), PREFERENCE, 2.0) == "fusion"
    for moved in range(9):  # one row flips either way, for either variant: still within the noise
        for name in ("sparse", "fusion"):
            nudged = {**tie, name: tie[name].copy()}
            nudged[name][moved] = ~nudged[name][moved]
            assert choose_champion(nudged, PREFERENCE, 2.0) == "fusion", (name, moved)
    assert choose_champion({"sparse": right(72, [0]), "fusion": right(72, [1, 2])}, PREFERENCE, 2.0) == "fusion"  # 1.4 points on 72 rows


def test_a_clear_win_is_taken_and_the_most_accurate_is_never_passed_over_for_a_beaten_one() -> None:
    scores = {"fusion": right(500, list(range(40))), "sparse": right(500, list(range(20))), "hybrid": right(500, list(range(10)))}
    assert choose_champion(scores, PREFERENCE, 2.0) == "hybrid"  # beats fusion (30 - 0) and sparse (10 - 0) clearly
    assert beaten_by(scores, 2.0) == {"fusion": ["sparse", "hybrid"], "sparse": ["hybrid"], "hybrid": []}
    assert choose_champion(scores, PREFERENCE, 100.0) == "fusion"  # nothing counts as clear: the preference alone
    assert choose_champion(scores, PREFERENCE, 0.0) == "hybrid"  # any difference counts: the best accuracy
