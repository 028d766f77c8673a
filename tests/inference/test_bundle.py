"""The model bundle, chunked batch prediction and the drift report, on a small sparse-only model (no encoder, fast).

The bundle of a real `dvc repro` (encoders, fusion) is covered in test_pipeline.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devtools.scratch_repo import ROOT
from prodcat.core.io import write_json
from prodcat.core.params import SparseParams, load_params
from prodcat.data.catalog import make_examples
from prodcat.data.splits import label_ids, label_names
from prodcat.heads.linear import SparseModel, fit_sparse, load_temperature, probabilities
from prodcat.heads.xgboost import TabularEncoding
from prodcat.inference.bundle import BUNDLE_FORMAT, BundleError, load_bundle, write_bundle
from prodcat.inference.drift import batch_report, reference_profile
from prodcat.reports.batch_page import render_report_page
from stages import predict as predict_stage

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
    write_json(models / "champion.json", {"champion": "sparse", "fusion_weights": None})
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


@pytest.fixture()
def new_products(small_catalog: Path) -> pd.DataFrame:
    return pd.read_csv(small_catalog, dtype=str, keep_default_na=False, na_values=[""]).head(30).drop(columns=["Category"])


def test_the_bundle_holds_what_the_champion_needs_and_scores_as_the_models_folder(trained, new_products: pd.DataFrame) -> None:
    models, folder, _ = trained
    bundle = load_bundle(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == BUNDLE_FORMAT == 1 and manifest["variant"] == "sparse"
    assert manifest["files"] == ["sparse", "xgb/tabular.json"] and manifest["encoders"] == {}
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "sparse", "xgb"]  # no booster, no encoder
    assert manifest["inference"]["dataset"] == PARAMS.catalog.dataset.model_dump()
    assert {"torch", "scikit-learn", "prodcat"} <= set(manifest["libraries"])
    assert sum(manifest["reference"]["labels"].values()) == pytest.approx(1.0, abs=1e-4)

    # The same probabilities as the sparse model and its calibration in the models folder give.
    features = bundle.features(new_products)
    sparse = SparseModel.load(models / "sparse")
    expected = probabilities(sparse.scores(features["text"].tolist()), load_temperature(models / "sparse"))
    assert np.array_equal(bundle.predictor.probabilities(features), expected)
    assert bundle.score(new_products)["predicted"].tolist() == np.asarray(bundle.predictor.labels)[expected.argmax(axis=1)].tolist()


def test_a_refitted_champion_is_bundled_from_the_refit_folder(trained, tmp_path: Path) -> None:
    """With the refit's variants given, the refit stage's files (models/refit) replace the train fits; the rest come from models/."""
    models, _, train = trained
    labels = label_names(train["label"])
    refit = models / "refit"
    fit_sparse(train["text"].tolist()[::2], label_ids(train["label"], labels)[::2], len(labels), SparseParams(min_df=1), 3.0).save(
        refit / "sparse"
    )
    for name, refitted in [("refitted", ["sparse"]), ("train-fitted", None)]:
        target = tmp_path / name
        target.mkdir()
        scores = {"validation": {"accuracy": 0.9}, "test": {"accuracy": 0.8}}
        manifest = write_bundle(target, "sparse", None, labels, PARAMS, models, {"rows": len(train)}, scores, {}, refit=refitted)
        source = refit if refitted else models
        assert (target / "sparse/linear.npz").read_bytes() == (source / "sparse/linear.npz").read_bytes()
        assert (target / "xgb/tabular.json").read_bytes() == (models / "xgb/tabular.json").read_bytes()
        assert manifest["refit"] == (refitted or [])
    shutil.rmtree(refit)


def test_a_bundle_it_cannot_read_is_refused_by_name(trained, tmp_path: Path) -> None:
    copy = shutil.copytree(trained[1], tmp_path / "bundle")
    with pytest.raises(BundleError, match=r"model bundle not found: .*nowhere"):
        load_bundle(tmp_path / "nowhere")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": BUNDLE_FORMAT + 1}))
    with pytest.raises(BundleError, match="bundle format 2, newer than this prodcat reads \\(1\\): upgrade prodcat"):
        load_bundle(copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(copy / "sparse")
    with pytest.raises(BundleError, match="is incomplete: sparse missing"):
        load_bundle(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=re.escape("not a model bundle: manifest.json is missing")):
        load_bundle(copy)


def predict_files(bundle: Path, catalog: Path, output: Path, chunk_rows: int) -> tuple[pd.DataFrame, dict]:
    predict_stage.main(["--bundle", str(bundle), "--input", str(catalog), "--output", str(output), "--chunk-rows", str(chunk_rows)])
    frame = pd.read_csv(output, dtype={"id": str}) if output.suffix == ".csv" else pd.read_parquet(output)
    report = json.loads(Path(f"{output}.report.json").read_text())
    assert Path(f"{output}.report.html").read_text(encoding="utf-8") == render_report_page(report)  # the same report, as a page
    return frame, report


def test_chunked_prediction_equals_one_chunk_in_parquet_and_csv(trained, new_products: pd.DataFrame, tmp_path: Path, capsys) -> None:
    new_products.loc[4, "Uniq Id"] = None  # a row-level problem: counted, not fatal
    new_products.to_csv(tmp_path / "new.csv", index=False)
    whole, whole_report = predict_files(trained[1], tmp_path / "new.csv", tmp_path / "whole.parquet", 10000)
    chunked, chunked_report = predict_files(trained[1], tmp_path / "new.csv", tmp_path / "chunked.parquet", 7)
    as_csv, _ = predict_files(trained[1], tmp_path / "new.csv", tmp_path / "chunked.csv", 7)
    assert len(whole) == 30 and chunked.equals(whole) and chunked_report == whole_report
    assert as_csv["predicted"].tolist() == whole["predicted"].tolist()
    assert as_csv["top1_probability"].tolist() == pytest.approx(whole["top1_probability"].tolist(), abs=1e-4)
    assert whole["level_0"].tolist() == whole["predicted"].tolist() and "level_1" not in whole  # the catalog's labels are flat
    assert whole["level_0_probability"].tolist() == whole["top1_probability"].tolist()
    assert whole_report["predicted_levels"] == [{"level": 0, **whole_report["predicted_labels"]}]
    assert whole_report["rows"] == 30 and whole_report["input_failures"]["checks"]["id_not_null[Uniq Id]"] == pytest.approx(
        1 / 30, abs=1e-6
    )
    assert "input check id_not_null[Uniq Id]: 3.3% of rows, the input suite allows 0.0%" in whole_report["warnings"]
    printed = capsys.readouterr().out
    assert "predict: 30 products with sparse in" in printed and "products/s" in printed


@pytest.mark.parametrize("case", ["missing column", "broken row after the first chunks", "not a csv"])
def test_a_file_that_cannot_be_scored_writes_nothing(trained, new_products: pd.DataFrame, tmp_path: Path, capsys, case: str) -> None:
    catalog = tmp_path / "new.csv"
    if case == "missing column":
        new_products.drop(columns=["About Product"]).to_csv(catalog, index=False)
        expected = "column 'About Product': the column is missing"
    elif case == "broken row after the first chunks":
        catalog.write_text(new_products.to_csv(index=False) + '"unclosed,quote\n', encoding="utf-8")
        expected = "the file looks truncated"
    else:
        catalog.write_text(new_products.to_csv(index=False, sep=";"), encoding="utf-8")
        expected = "looks separated by ';'"
    with pytest.raises(SystemExit):
        predict_files(trained[1], catalog, tmp_path / "out.parquet", 7)
    assert expected in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv"]  # no predictions, no report, no scratch file


def test_report_of_a_batch_like_training_shows_no_shift(trained) -> None:
    _, folder, train = trained
    bundle = load_bundle(folder)
    predictions = pd.DataFrame({"predicted": train["label"], "top1_probability": 0.9})
    report = batch_report(
        bundle.manifest["reference"], bundle.predictor.heads.encoding.categories, train, predictions, None, bundle.thresholds, "sparse", "f"
    )
    assert report["text_length"]["psi"] == pytest.approx(0, abs=1e-6) and report["price"]["psi"] == pytest.approx(0, abs=1e-6)
    assert report["predicted_labels"]["psi"] == pytest.approx(0, abs=1e-6)
    assert report["unseen_categoricals"]["Model Number"]["share"] == 0.0 and report["low_confidence"]["share"] == 0.0
    assert report["warnings"] == []


def test_report_of_unseen_models_long_texts_and_unsure_predictions_warns(trained) -> None:
    _, folder, train = trained
    bundle = load_bundle(folder)
    batch = train.head(50).assign(**{"Model Number": [f"NEW-{i}" for i in range(50)], "text": "x" * 3000})
    predictions = pd.DataFrame({"predicted": [train["label"].iloc[0]] * 50, "top1_probability": [0.3] * 40 + [0.9] * 10})
    report = batch_report(
        bundle.manifest["reference"], bundle.predictor.heads.encoding.categories, batch, predictions, None, bundle.thresholds, "sparse", "f"
    )
    assert report["unseen_categoricals"]["Model Number"] == {"share": 1.0, "examples": ["NEW-0", "NEW-1", "NEW-2", "NEW-3", "NEW-4"]}
    assert report["text_length"]["batch"][-1] == 1.0 and report["text_length"]["psi"] > 2
    assert report["low_confidence"] == {"threshold": 0.5, "share": 0.8}
    assert report["warnings"][0] == "unseen Model Number values: 100.0% of filled values > 50.0%"
    assert any(w.startswith("text_length PSI") for w in report["warnings"]) and any(
        w.startswith("predicted_labels PSI") for w in report["warnings"]
    )
    assert "low-confidence predictions (top-1 probability < 0.5): 80.0% > 20.0%" in report["warnings"]


def test_report_markdown_leads_with_the_warnings_and_names_every_measure(trained) -> None:
    from prodcat.inference.drift import report_markdown

    _, folder, train = trained
    bundle = load_bundle(folder)
    batch = train.assign(**{"Model Number": "NEW"})  # like training but for the model numbers
    predictions = pd.DataFrame({"predicted": train["label"], "top1_probability": 0.9})
    report = batch_report(
        bundle.manifest["reference"],
        bundle.predictor.heads.encoding.categories,
        batch,
        predictions,
        None,
        bundle.thresholds,
        "sparse",
        "abc",
    )
    lines = report_markdown(report, "out.parquet.report.json").splitlines()
    assert lines[0] == f"## Batch report: {len(train)} products, 1 warning(s)"
    assert lines[4] == "- **warning**: unseen Model Number values: 100.0% of filled values > 50.0%"
    assert "| unseen Model Number values | 100.0% |" in lines and f"| text length PSI | {report['text_length']['psi']:.3f} |" in lines
    assert lines[-1] == "Full report: `out.parquet.report.json`"
