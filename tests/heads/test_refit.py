"""The refit after the choice: the champion's parts that need no fine-tuning, fitted on train + validation, never on a test row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from devtools.scratch_repo import write_paths
from prodcat.core.errors import InputError
from prodcat.core.io import read_json, write_json
from prodcat.core.variants import Variant
from prodcat.encoders.matrices import save_matrix
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads import refit as refit_module
from prodcat.heads.base import Fitting, TrainingRows
from prodcat.heads.registry import refitted_variants
from prodcat.heads.scoring import TrainedHeads, refit_record, refitted
from prodcat.heads.sparse import SparseModel
from prodcat.heads.xgboost import XGBoostHead
from stages import refit as refit_stage

NAMES = ["bags", "lamps", "shoes"]
ROWS = {"train": 30, "validation": 12, "test": 12}
FIRST_MARK = {"train": 1000, "validation": 2000, "test": 3000}  # each row's embedding ends in its own mark


def split_frame(split: str) -> pd.DataFrame:
    rows = ROWS[split]
    labels = [NAMES[i % 3] for i in range(rows)]
    return pd.DataFrame(
        {
            "id": [f"{split}-{i}" for i in range(rows)],
            "text": [f"{label} {label[:-1]} {split}row{i}" for i, label in enumerate(labels)],
            "label": labels,
            "price": np.arange(rows, dtype=float),
            "group": [f"{split}-group-{i // 2}" for i in range(rows)],
        }
    )


@pytest.fixture()
def stored(tmp_path: Path) -> Path:
    """A working copy after champion: three splits, embeddings, the train categorical codes, a fusion champion with the hybrid in it."""
    (tmp_path / "data/processed").mkdir(parents=True)
    write_json(tmp_path / "data/processed/labels.json", NAMES)
    rng = np.random.default_rng(0)
    for split in ROWS:
        frame = split_frame(split)
        frame.to_parquet(tmp_path / f"data/processed/{split}.parquet")
        embedding = rng.normal(size=(len(frame), 4)) + frame["label"].map(NAMES.index).to_numpy()[:, None]
        save_matrix(tmp_path / "data/embeddings/finetuned" / split, np.column_stack([embedding, FIRST_MARK[split] + np.arange(len(frame))]))
    (tmp_path / "models/xgb").mkdir(parents=True)
    write_json(tmp_path / "models/xgb/tabular.json", TabularEncoding.fit(split_frame("train"), []).to_json())
    write_json(tmp_path / "models/champion.json", {"champion": "fusion", "fusion_weights": {"softmax": 0.5, "hybrid": 0.5, "sparse": 0.0}})
    params = {
        "variants": ["softmax", "sparse", "hybrid", "fusion"],
        "catalog": {"path": "catalog.csv", "id_column": "id", "category_column": "category", "text_columns": ["title"]},
        "encoder": {"base": "all-MiniLM-L6-v2"},
        "train_sparse": {"min_df": 1, "folds": 3},
        "train_xgb": {"num_boost_round": 5},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def run_refit(repo: Path) -> None:
    refit_stage.main(["--params", str(repo / "params.yaml"), "--paths", str(write_paths(repo))])


def test_the_champions_parts_are_refitted_on_train_and_validation_rows_and_no_test_row(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fit's inputs, by value: the sparse model's and its folds' texts, the booster's embedding marks and labels."""
    seen: dict[str, list] = {"oof_texts": [], "sparse_texts": [], "booster_marks": [], "booster_labels": []}
    out_of_fold, fit_sparse, fit_booster = refit_module.out_of_fold_scores, refit_module.fit_sparse, XGBoostHead.fit

    def spy_out_of_fold(texts: list[str], *args: object) -> np.ndarray:
        seen["oof_texts"].extend(texts)
        return out_of_fold(texts, *args)

    def spy_fit_sparse(texts: list[str], *args: object) -> SparseModel:
        seen["sparse_texts"].extend(texts)
        return fit_sparse(texts, *args)

    def spy_fit_booster(cls: type, spec: Variant, rows: TrainingRows, fitting: Fitting) -> XGBoostHead:
        seen["booster_marks"].extend(rows.blocks.embeddings["finetuned"][:, -1].astype(int).tolist())
        seen["booster_labels"].extend(rows.labels.tolist())
        return fit_booster(spec, rows, fitting)

    monkeypatch.setattr(refit_module, "out_of_fold_scores", spy_out_of_fold)
    monkeypatch.setattr(refit_module, "fit_sparse", spy_fit_sparse)
    monkeypatch.setattr(XGBoostHead, "fit", classmethod(spy_fit_booster))
    run_refit(stored)

    fitted = pd.concat([split_frame("train"), split_frame("validation")], ignore_index=True)
    assert seen["oof_texts"] == seen["sparse_texts"] == fitted["text"].tolist()
    assert seen["booster_marks"] == [*range(1000, 1030), *range(2000, 2012)]
    assert seen["booster_labels"] == fitted["label"].map(NAMES.index).tolist()
    assert read_json(stored / "models/refit/refit.json") == {
        "champion": "fusion",
        "variants": ["hybrid"],
        "rows": {"train": 30, "validation": 12},
    }
    # The refitted sparse model knows the validation rows' words, which the train-fitted one never saw.
    assert "validationrow3" in SparseModel.load(stored / "models/refit/sparse").vectorizers[0].vocabulary_


def test_evaluate_and_bundle_score_the_refitted_parts_and_refuse_a_refit_of_another_champion(stored: Path) -> None:
    run_refit(stored)
    models, test = stored / "models", split_frame("test")
    texts = test["text"].tolist()
    train_fitted = TrainedHeads(TabularEncoding.fit(test, []), {"hybrid": "train-fitted hybrid", "softmax": "softmax head"})
    stored_blocks = FeatureBlocks({"finetuned": np.zeros((12, 5))}, np.zeros((12, 3)), np.zeros((12, 1)))
    heads, blocks = refitted(models, ["softmax", "hybrid"], read_json(models / "champion.json"), train_fitted, stored_blocks, texts)
    assert heads.by_variant["softmax"] == "softmax head"  # fine-tuned: kept
    assert heads.by_variant["hybrid"].booster.num_boosted_rounds() == 5
    np.testing.assert_array_equal(blocks.sparse_scores, SparseModel.load(models / "refit/sparse").scores(texts))
    with pytest.raises(InputError, match=r"models/refit refitted fusion, not the champion sparse: run `dvc repro refit`"):
        refit_record(models, "sparse")


def test_with_refit_off_or_a_fine_tuned_champion_nothing_is_refitted(stored: Path) -> None:
    assert refitted_variants(["softmax", "hybrid", "sparse", "hybrid_linear", "stock", "fusion"]) == [
        "hybrid",
        "sparse",
        "hybrid_linear",
        "stock",
    ]
    params = yaml.safe_load((stored / "params.yaml").read_text())
    (stored / "params.yaml").write_text(yaml.safe_dump({**params, "refit": {"enabled": False}}))
    run_refit(stored)
    assert read_json(stored / "models/refit/refit.json")["variants"] == []
    assert sorted(path.name for path in (stored / "models/refit").iterdir()) == ["refit.json"]


def test_missing_categorical_codes_stop_the_refit_writing_nothing(stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (stored / "models/xgb/tabular.json").unlink()
    with pytest.raises(SystemExit, match="1"):
        run_refit(stored)
    assert capsys.readouterr().err == f"refit: error: {stored}/models/xgb/tabular.json is missing: run `dvc repro` first\n"
    assert not (stored / "models/refit").exists()
