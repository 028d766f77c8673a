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

from devtools.scratch_repo import ROOT, write_params, write_paths
from prodcat.cli.predict import predict as predict_command
from prodcat.core.io import write_json
from prodcat.core.params import SparseParams, load_params
from prodcat.data.review import REVIEW_COLUMNS
from prodcat.data.splits import label_ids, label_names
from prodcat.encoders.encode import encode_texts
from prodcat.encoders.load import load_encoder
from prodcat.heads.sparse import SparseModel, fit_sparse, load_temperature, probabilities
from prodcat.inference import bundle as bundle_module
from prodcat.inference.bundle import BUNDLE_FORMAT, BundleError, build_encoders, load_bundle, model_files, scoring_runtime, write_bundle
from prodcat.inference.drift import batch_report
from prodcat.reports.batch_page import render_report_page
from stages import bundle as bundle_stage
from stages import cascade as cascade_stage

PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture()
def new_products(small_catalog: Path) -> pd.DataFrame:
    return pd.read_csv(small_catalog, dtype=str, keep_default_na=False, na_values=[""]).head(30).drop(columns=["Category"])


def test_the_bundle_holds_what_the_champion_needs_and_scores_as_the_models_folder(trained, new_products: pd.DataFrame) -> None:
    models, folder, _ = trained
    bundle = load_bundle(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == BUNDLE_FORMAT == 2 and manifest["variant"] == "sparse"
    assert manifest["files"] == ["sparse", "xgb/tabular.json"] and manifest["encoders"] == {}
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "sparse", "xgb"]  # no booster, no encoder
    assert (
        manifest["inference"]["dataset"] == PARAMS.catalog.dataset.model_dump()
        and manifest["inference"]["runtime"] == PARAMS.inference.runtime
    )
    assert {"torch", "scikit-learn", "prodcat"} <= set(manifest["libraries"])
    assert sum(manifest["reference"]["labels"].values()) == pytest.approx(1.0, abs=1e-4)

    # The same probabilities as the sparse model and its calibration in the models folder give.
    features = bundle.features(new_products)
    sparse = SparseModel.load(models / "sparse")
    expected = probabilities(sparse.scores(features["text"].tolist()), load_temperature(models / "sparse"))
    assert np.array_equal(bundle.predictor.probabilities(features), expected)
    assert bundle.score(new_products).labels.tolist() == np.asarray(bundle.predictor.labels)[expected.argmax(axis=1)].tolist()


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
    with pytest.raises(BundleError, match="bundle format 3, newer than this prodcat reads \\(2\\): upgrade prodcat"):
        load_bundle(copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(copy / "sparse")
    with pytest.raises(BundleError, match="is incomplete: sparse missing"):
        load_bundle(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=re.escape("not a model bundle: manifest.json is missing")):
        load_bundle(copy)


def test_a_bundle_of_an_older_format_is_refused_naming_both_formats_and_the_fix(trained, new_products, tmp_path: Path, capsys) -> None:
    copy = shutil.copytree(trained[1], tmp_path / "bundle")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": BUNDLE_FORMAT - 1}))
    new_products.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(SystemExit):
        predict_command(bundle=copy, source=tmp_path / "new.csv", output=tmp_path / "out.parquet")
    assert f"{copy} has bundle format 1, older than this prodcat reads (2): rebuild it with `dvc repro bundle`" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "new.csv"]  # no predictions, no report, no progress


def predict_files(bundle: Path, catalog: Path, output: Path, chunk_rows: int) -> tuple[pd.DataFrame, dict]:
    predict_command(bundle=bundle, source=catalog, output=output, chunk_rows=chunk_rows)
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
    assert "prodcat predict: 30 products with sparse in" in printed and "products/s" in printed


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


def test_model_files_hold_the_sparse_model_when_the_cascade_reads_it() -> None:
    assert model_files(["softmax"]) == ["xgb/tabular.json", "finetuned"]
    assert model_files(["softmax"], cascade=True) == ["xgb/tabular.json", "finetuned", "sparse"]


def run_bundle_stage(trained, folder: Path, cascade: dict | None) -> dict:
    """The bundle stage's command on the sparse model's folder, with the cascade stage's output when given; returns the manifest."""
    models, _, train = trained
    data = folder / "data"
    data.mkdir(parents=True)
    train.to_parquet(data / "train.parquet")
    shutil.copy2(models.parent / "labels.json", data / "labels.json")
    write_json(folder / "scores.json", {"validation": {"accuracy": 0.9}, "test": {"accuracy": 0.8}})
    paths = write_paths(folder, processed=data, models=models, champion=models / "champion.json", champion_report=folder / "scores.json",
                        cascade=folder / "cascade.json", bundle=folder / "bundle")  # fmt: skip
    argv = ["--params", str(ROOT / "params.yaml"), "--paths", str(paths)]
    if cascade is not None:
        write_json(folder / "cascade.json", cascade)
        argv += ["--cascade"]
    bundle_stage.main(argv)
    return json.loads((folder / "bundle" / "manifest.json").read_text())


def test_the_manifest_names_the_scoring_path_and_the_bundle_scores_by_it(trained, new_products: pd.DataFrame, tmp_path: Path) -> None:
    without = run_bundle_stage(trained, tmp_path / "plain", None)  # the bundle stage as before the cascade stage existed
    assert without["scoring"] == {"path": "sparse", "cascade": None, "embed_backend": None, "max_seq_length": None}
    assert load_bundle(tmp_path / "plain" / "bundle").predictor.cascade_threshold is None
    nulled = run_bundle_stage(trained, tmp_path / "nulled", {"threshold": None, "reason": "the champion is sparse itself"})
    assert nulled["scoring"] == without["scoring"] and nulled["fingerprint"] == without["fingerprint"]

    manifest = run_bundle_stage(trained, tmp_path / "cascade", {"threshold": 0.6, "reason": None})
    assert manifest["scoring"] == {"path": "cascade: sparse, then sparse", "cascade": {"model": "sparse", "threshold": 0.6},
                                   "embed_backend": None, "max_seq_length": None}  # fmt: skip
    assert manifest["fingerprint"] != without["fingerprint"]  # the threshold shapes scores
    bundle = load_bundle(tmp_path / "cascade" / "bundle")
    assert bundle.predictor.cascade_threshold == 0.6
    assert (
        bundle.score(new_products).to_frame().equals(load_bundle(tmp_path / "plain" / "bundle").score(new_products).to_frame())
    )  # sparse, then sparse: the same


def test_the_cascade_stage_is_a_no_op_for_a_sparse_champion_or_when_switched_off(trained, tmp_path: Path) -> None:
    models = trained[0]
    moved = {"models": models, "cascade": tmp_path / "cascade.json", "cascade_report": tmp_path / "report.json"}
    argv = ["--paths", str(write_paths(tmp_path, champion=models / "champion.json", **moved))]
    cascade_stage.main(["--params", str(ROOT / "params.yaml"), *argv])
    assert json.loads((tmp_path / "cascade.json").read_text()) == {"threshold": None, "reason": "the champion is sparse itself"}
    assert json.loads((tmp_path / "report.json").read_text()) == {"enabled": False, "reason": "the champion is sparse itself"}
    write_json(tmp_path / "fusion.json", {"champion": "fusion", "fusion_weights": {"softmax": 0.5, "sparse": 0.5}})
    argv = ["--paths", str(write_paths(tmp_path, champion=tmp_path / "fusion.json", **moved))]
    params = write_params(tmp_path / "off", ROOT / "data/default/catalog.csv", cascade={"enabled": False})
    cascade_stage.main(["--params", str(params), *argv])
    assert json.loads((tmp_path / "cascade.json").read_text()) == {"threshold": None, "reason": "cascade.enabled is false"}


def test_the_review_queue_holds_the_low_confidence_predictions_in_the_review_format(
    trained, new_products: pd.DataFrame, tmp_path: Path
) -> None:
    new_products.to_csv(tmp_path / "new.csv", index=False)
    queue = tmp_path / "queue.csv"
    predict_command(bundle=trained[1], source=tmp_path / "new.csv", output=tmp_path / "out.parquet", chunk_rows=7, review_queue=queue)
    predictions = pd.read_parquet(tmp_path / "out.parquet")
    review = pd.read_csv(queue, dtype={"id": str}, keep_default_na=False)
    assert list(review.columns) == REVIEW_COLUMNS
    threshold = load_bundle(trained[1]).thresholds.low_confidence
    low = predictions[predictions["top1_probability"] < threshold].sort_values(["top1_probability", "id"])
    assert 0 < len(low) < len(predictions)  # the sparse bundle's temperature leaves some predictions unsure, not all
    assert review["id"].tolist() == low["id"].tolist()  # the least sure first
    assert review["suggested_label"].tolist() == low["predicted"].tolist() and review["score"].tolist() == pytest.approx(
        (1 - low["top1_probability"]).tolist(), abs=1e-4
    )
    assert set(review["issue"]) == {"low_confidence"} and set(review["split"]) == {"new"} and set(review["given_label"]) == {""}
    texts = new_products.set_index("Uniq Id")["Product Name"]
    assert all(text.startswith(texts[identifier]) for identifier, text in zip(review["id"], review["text"], strict=True))


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_the_manifest_records_the_encoder_runtime_and_loading_runs_it(
    trained, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    models, _, train = trained
    params = PARAMS.model_copy(update={"inference": PARAMS.inference.model_copy(update={"runtime": runtime})})
    manifest = write_bundle(tmp_path, "sparse", None, ["a", "b"], params, models, {}, {}, {})
    assert manifest["inference"]["runtime"] == runtime
    # An encoder entry as a `stock` bundle from a local base folder holds it, at fp32 so both runtimes agree to float error.
    shutil.copytree(tiny_bert, tmp_path / "stock")
    manifest["encoders"] = {"stock": {"folder": "stock"}}
    manifest["inference"] = {**manifest["inference"], "embed_precision": "fp32", "max_seq_length": 32}
    loaded = []
    monkeypatch.setattr(bundle_module, "load_runtime", spy(bundle_module.load_runtime, loaded))
    vectors = build_encoders(tmp_path, manifest)["stock"](train["text"].tolist()[:20])
    reference = encode_texts(load_encoder(str(tiny_bert), 32), train["text"].tolist()[:20], 64, "fp32")
    # fp32 sums in another order (OpenVINO's kernels): a few ulps of values of order 1, far below 1e-5
    assert np.abs(vectors - reference).max() < 1e-5 and [(name, str(source)) for name, source, _ in loaded] == [
        (runtime, str(tmp_path / "stock"))
    ]


def test_the_bundle_encodes_with_int8_only_where_the_champion_adopted_it() -> None:
    assert scoring_runtime("onnx_int8", int8_packed=True) == "onnx_int8"
    assert scoring_runtime("onnx_int8", int8_packed=False) == "torch"  # asked for, but a gate fell back: torch scores
    assert (scoring_runtime("torch", int8_packed=False), scoring_runtime("openvino", int8_packed=False)) == ("torch", "openvino")


def spy(function, calls: list):
    def recorded(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return recorded
