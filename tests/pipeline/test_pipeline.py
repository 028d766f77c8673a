"""End to end: `dvc repro` of the real pipeline on a small catalog and a tiny encoder, then an experiment."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from devtools.processes import run
from devtools.scratch_repo import set_params, write_paths
from prodcat.core.pipeline import stage_names, stage_specs
from prodcat.data.review import REVIEW_COLUMNS
from prodcat.heads.sparse import probabilities as sparse_probabilities

pytestmark = pytest.mark.slow

VARIANTS = ["stock", "finetuned", "softmax", "sparse", "hybrid", "fusion"]


def yaml_catalog(project: Path) -> Path:
    return Path(yaml.safe_load((project / "params.yaml").read_text())["catalog"]["path"])


def test_dvc_repro_builds_every_stage_output_and_compares_variants(project: Path) -> None:
    result = run(["dvc", "repro"], project)
    assert stage_names() == (
        "validate",
        "preprocess",
        "adapt",
        "finetune",
        "embed",
        "train_sparse",
        "audit",
        "train_xgb",
        "champion",
        "refit",
        "cascade",
        "evaluate",
        "bundle",
    )
    for stage in stage_names():
        assert f"Running stage '{stage}'" in result.stdout

    quality = json.loads((project / "metrics/data_quality.json").read_text())
    assert quality["success"] is True and quality["failed"] == 0

    train, validation, test = (pd.read_parquet(project / f"data/processed/{split}.parquet") for split in ("train", "validation", "test"))
    labels = json.loads((project / "data/processed/labels.json").read_text())
    assert set(train["id"]).isdisjoint(test["id"]) and set(validation["id"]).isdisjoint(set(train["id"]) | set(test["id"]))
    assert set(train["label"]) == set(validation["label"]) == set(test["label"]) == set(labels)
    assert train["price"].notna().mean() > 0.8  # "$12.99" parsed to numbers, not NaN

    assert [path.name for path in (project / "models/adapted").iterdir()] == [
        "adapt.json"
    ]  # adapt.method none: finetune starts from encoder.base
    assert (project / "models/finetuned/model.safetensors").is_file()
    assert (project / "models/finetuned/modules.json").is_file()
    # Only the last epoch's checkpoint is kept (2 epochs here): resuming needs nothing older.
    assert len(list((project / "models/checkpoints").glob("checkpoint-*"))) == 1
    assert json.loads((project / "metrics/finetune.json").read_text())["epochs"] == 2

    assert sorted(p.name for p in (project / "models/xgb").glob("*.ubj")) == ["finetuned.ubj", "hybrid.ubj", "stock.ubj"]
    assert sorted(p.name for p in (project / "data/embeddings").iterdir()) == ["finetuned", "stock"]
    assert (project / "models/finetuned/softmax_head.safetensors").is_file()
    for variant in VARIANTS:
        rows = json.loads((project / f"plots/confusion/{variant}.json").read_text())
        assert len(rows) == len(test) and set(rows[0]) == {"actual", "predicted"}
    assert not list(project.rglob("*.pkl")) and not list(project.rglob("*.pickle"))

    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert list(metrics) == VARIANTS
    per_class = json.loads((project / "metrics/per_class.json").read_text())
    for variant, scores in metrics.items():  # the summary agrees with the per-class table: a wrong average goes red
        recalls = [per_class[variant][name]["recall"] for name in labels]
        support = np.array([per_class[variant][name]["support"] for name in labels])
        assert scores["accuracy"] == pytest.approx(float(np.dot(recalls, support) / support.sum()), abs=2e-4)
        assert scores["macro_f1"] == pytest.approx(float(np.mean([per_class[variant][name]["f1"] for name in labels])), abs=2e-4)
        assert support.sum() == len(test)
        assert scores["hierarchical_f1"] == scores["accuracy"]  # top-level labels: a path of one level

    # The champion: the first of champion.preference that no variant clearly beats on validation, with its test scores beside it.
    validation_scores = json.loads((project / "metrics/validation.json").read_text())
    champion = json.loads((project / "metrics/champion.json").read_text())
    choice = json.loads((project / "models/champion.json").read_text())
    preference = [name for name in yaml.safe_load((project / "params.yaml").read_text())["champion"]["preference"] if name in VARIANTS]
    assert list(choice["passed_over"]) == preference[: preference.index(champion["name"])]
    for passed, beaten_by in choice["passed_over"].items():
        assert beaten_by and all(validation_scores[other]["accuracy"] > validation_scores[passed]["accuracy"] for other in beaten_by)
    assert validation_scores[champion["name"]] == champion["validation"] and choice["champion"] == champion["name"]
    assert champion["test"] == metrics[champion["name"]]
    # Refitted on train + validation: what the champion reads that needs no fine-tuning (the fusion: its members with a weight).
    weighted = [name for name, weight in (choice["fusion_weights"] or {}).items() if weight > 0] if champion["name"] == "fusion" else []
    refit = json.loads((project / "models/refit/refit.json").read_text())
    assert refit["variants"] == champion["refit"] == [name for name in weighted or [champion["name"]] if name != "softmax"]
    assert refit["rows"] == {"train": len(train), "validation": len(validation)}

    # The choice never reads the test split: with test.parquet gone, the stage chooses the same, with the same scores.
    stage = stage_specs(project / "dvc.yaml")["champion"]
    assert not any("test" in dep or dep == "data/processed" for dep in stage["deps"])
    (project / "data/processed/test.parquet").rename(project / "test.parquet.aside")
    again = write_paths(
        project.parent / "again", root=project, champion=project / "again.json", validation_report=project / "again-validation.json"
    )
    run([*stage["cmd"].split(), "--paths", str(again)], project)
    (project / "test.parquet.aside").rename(project / "data/processed/test.parquet")
    assert (project / "again.json").read_text() == (project / "models/champion.json").read_text()
    assert (project / "again-validation.json").read_text() == (project / "metrics/validation.json").read_text()
    (project / "again.json").unlink()
    (project / "again-validation.json").unlink()
    # Nor does the refit: without test.parquet it fits the same (the boosters' files are byte-equal).
    stage = stage_specs(project / "dvc.yaml")["refit"]
    assert not any("test" in dep or dep == "data/processed" for dep in stage["deps"])
    shutil.copytree(project / "models/refit", project.parent / "refit-before")
    (project / "data/processed/test.parquet").rename(project / "test.parquet.aside")
    run(stage["cmd"].split(), project)
    (project / "test.parquet.aside").rename(project / "data/processed/test.parquet")
    for path in (project.parent / "refit-before").rglob("*"):
        assert (
            not path.is_file()
            or path.read_bytes() == (project / "models/refit" / path.relative_to(project.parent / "refit-before")).read_bytes()
        )
    shutil.rmtree(project.parent / "refit-before")

    shown = run(["dvc", "metrics", "show", "metrics/evaluate.json"], project).stdout
    for column in ["stock.accuracy", "finetuned.accuracy", "hybrid.macro_f1"]:
        assert column in shown

    # The bundle: the champion (refitted) and only what it needs; on the test split it scores what evaluate reported for it.
    from prodcat.inference.bundle import load_bundle

    manifest = json.loads((project / "models/bundle/manifest.json").read_text())
    bundled = champion["test_refit"] if champion["refit"] else champion["test"]
    assert manifest["variant"] == champion["name"] and manifest["scores"] == {"validation": champion["validation"], "test": bundled}
    assert manifest["refit"] == champion["refit"]
    assert manifest["labels"] == labels and manifest["training_data"]["rows"] == len(train)
    bundle = load_bundle(project / "models/bundle")
    alone = replace(bundle.predictor, cascade_threshold=None)
    predicted = np.asarray(labels)[alone.probabilities(test).argmax(axis=1)]
    assert round(float((predicted == test["label"].to_numpy()).mean()), 4) == bundled["accuracy"]
    # The cascade stage's threshold is the bundle's; where the sparse model is that sure it answers, elsewhere the champion.
    cascade = json.loads((project / "models/cascade.json").read_text())
    assert json.loads((project / "metrics/cascade.json").read_text())["threshold"] == cascade["threshold"]
    assert manifest["scoring"]["cascade"] == (
        {"model": "sparse", "threshold": cascade["threshold"]} if cascade["threshold"] is not None else None
    )
    assert (manifest["scoring"]["max_seq_length"], manifest["scoring"]["embed_backend"]) == (
        (64, "torch") if manifest["encoders"] else (None, None)
    )
    if cascade["threshold"] is not None:
        sparse = sparse_probabilities(bundle.predictor.sparse.scores(test["text"].tolist()), bundle.predictor.sparse.temperature)
        sure = sparse.max(axis=1) >= cascade["threshold"]
        scored = bundle.predictor.probabilities(test)
        assert np.array_equal(scored[sure], sparse[sure])
        if not sure.all():  # the champion scores the other rows together, as alone on those rows (bf16 results depend on the batch)
            assert np.array_equal(scored[~sure], alone.probabilities(test[~sure]))

    # Batch prediction with the bundle, on products without labels and with unseen categorical values.
    catalog = pd.read_csv(yaml_catalog(project), dtype=str, keep_default_na=False).head(25).drop(columns=["Category"])
    catalog = catalog.assign(**{"Model Number": "NEVER-SEEN-1", "Is Amazon Seller": "maybe"})
    catalog.to_csv(project / "new.csv", index=False)
    printed = run(
        ["python", "-m", "prodcat", "predict", "--input", "new.csv", "--output", "new.parquet", "--chunk-rows", "10"], project
    ).stdout
    assert f"prodcat predict: 25 products with {champion['name']}" in printed and "products/s" in printed
    predictions = pd.read_parquet(project / "new.parquet")
    assert list(predictions.columns[:4]) == ["id", "predicted", "top1_category", "top1_probability"]
    assert set(predictions["predicted"]) <= set(labels) and (predictions["predicted"] == predictions["top1_category"]).all()
    probabilities = predictions[["top1_probability", "top2_probability", "top3_probability"]]
    assert (probabilities.diff(axis=1).iloc[:, 1:] <= 0).all().all() and (probabilities.sum(axis=1) <= 1.0001).all()
    report = json.loads((project / "new.parquet.report.json").read_text())
    assert report["unseen_categoricals"]["Is Amazon Seller"] == {"share": 1.0, "examples": ["maybe"]}

    again = run(["dvc", "repro"], project)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout
    assert "up to date" in run(["dvc", "status"], project).stdout

    # Compare two encoder configurations as the README shows: an experiment (here the second objective) and a metrics diff.
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    # A version of the registered bundle is a GTO tag (`gto register` makes the same); another project fetches it by name.
    run(["git", "tag", "-a", "product-classifier@v1.0.0", "-m", "first bundle"], project)
    run(["dvc", "artifacts", "get", str(project), "product-classifier", "-o", str(project.parent / "fetched")], project.parent)
    assert load_bundle(project.parent / "fetched").manifest == manifest
    experiment = run(
        [
            "dvc",
            "exp",
            "run",
            "-S",
            "finetune.objective=batch_all_triplet",
            "-S",
            "variants=[stock,finetuned,sparse,hybrid,hybrid_linear,fusion]",
            "-S",
            "champion.fusion_members=[hybrid,sparse]",
        ],
        project,
    )
    assert "Running stage 'finetune'" in experiment.stdout
    assert "Running stage 'validate'" not in experiment.stdout
    diff = json.loads(run(["dvc", "metrics", "diff", "--all", "--json"], project).stdout)
    finetuned = diff["metrics/evaluate.json"]["finetuned.accuracy"]
    assert {"old", "new"} <= set(finetuned) and finetuned["old"] is not None and finetuned["new"] is not None
    assert (
        json.loads(run(["dvc", "params", "diff", "--json"], project).stdout)["params.yaml"]["finetune.objective"]["new"]
        == "batch_all_triplet"
    )
    assert json.loads((project / "metrics/finetune.json").read_text())["objective"] == "batch_all_triplet"

    # hybrid_linear (the sparse-offset softmax head, fitted by train_xgb) is scored like any variant, and a bundle of it scores.
    linear_scores = json.loads((project / "metrics/evaluate.json").read_text())["hybrid_linear"]
    assert 0 < linear_scores["accuracy"] <= 1 and (project / "models/xgb/hybrid_linear.safetensors").is_file()
    choice = json.loads((project / "models/champion.json").read_text())
    (project.parent / "choice.json").write_text(json.dumps({**choice, "champion": "hybrid_linear"}))
    linear = write_paths(
        project.parent / "linear", root=project, champion=project.parent / "choice.json", bundle=project.parent / "linear_bundle"
    )
    run(["python", "-m", "stages.bundle", "--paths", str(linear)], project)
    linear_bundle = load_bundle(project.parent / "linear_bundle")
    assert linear_bundle.manifest["variant"] == "hybrid_linear"
    predicted = np.asarray(labels)[linear_bundle.predictor.probabilities(test).argmax(axis=1)]
    assert round(float((predicted == test["label"].to_numpy()).mean()), 4) == linear_scores["accuracy"]


def test_a_suspect_corrected_from_the_audit_queue_changes_the_next_version_and_shows_in_metrics_diff(project: Path) -> None:
    """The audit's loop (README, "Auditing labels"), only as far as the audit: no encoder is trained."""
    run(["dvc", "repro", "audit"], project)
    queue = pd.read_csv(project / "reports/audit/label_issues.csv", dtype=str, keep_default_na=False)
    assert list(queue.columns) == REVIEW_COLUMNS and (project / "reports/audit/index.html").is_file()
    shares = json.loads((project / "metrics/audit.json").read_text())
    before = {split: pd.read_parquet(project / f"data/processed/{split}.parquet") for split in ("train", "validation", "test")}
    assert list(shares) == ["train", "validation", "test"] and shares["train"]["rows"] == len(before["train"])
    flagged = queue[(queue["split"] == "train") & (queue["issue"] == "label_error")]
    assert shares["train"]["label_error"] == round(len(flagged) / len(before["train"]), 4) > 0
    suspect = flagged.iloc[0]
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "before the fix"], project)
    (project / "data/corrections.csv").write_text(f"id,label\n{suspect['id']},{suspect['suggested_label']}\n", encoding="utf-8")
    fixed = run(["dvc", "repro", "audit"], project).stdout
    assert "Running stage 'preprocess'" in fixed and "Running stage 'audit'" in fixed
    after = {split: pd.read_parquet(project / f"data/processed/{split}.parquet") for split in before}
    assert after["train"].set_index("id").loc[suspect["id"], "label"] == suspect["suggested_label"]
    assert all(after[split]["id"].tolist() == before[split]["id"].tolist() for split in before)  # no row moved between splits
    changed = json.loads(run(["dvc", "metrics", "diff", "--json"], project).stdout)
    assert changed["metrics/preprocess.json"]["rows_corrected"] == {"old": 0, "new": 1, "diff": 1}
    assert "metrics/audit.json" in changed


def point_catalog(project: Path, frame_or_text: pd.DataFrame | str) -> None:
    """Write the project's own catalog.csv and point catalog.path at it."""
    catalog = project / "catalog.csv"
    if isinstance(frame_or_text, str):
        catalog.write_text(frame_or_text, encoding="utf-8")
    else:
        frame_or_text.to_csv(catalog, index=False, lineterminator="\n")
    set_params(project / "params.yaml", catalog_path="catalog.csv")


def test_data_quality_drift_and_a_broken_catalog_stop_at_validate_touching_nothing_downstream(project: Path) -> None:
    good = pd.read_csv(yaml_catalog(project), dtype=str, keep_default_na=False)
    point_catalog(project, good)
    run(["dvc", "repro", "preprocess"], project)
    assert (project / "reports/data_docs/index.html").is_file()
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "good catalog"], project)

    # A new catalog version with many unreadable prices: a warning, and the drift shows in `dvc metrics diff`.
    point_catalog(project, good.assign(**{"Selling Price": good["Selling Price"].where(good.index % 4 > 0, "N/A")}))
    drifted = run(["dvc", "repro", "validate"], project)
    assert "validate: warning: [price_format]" in drifted.stderr
    diff = json.loads(run(["dvc", "metrics", "diff", "--json", "--targets", "metrics/data_quality.json"], project).stdout)
    price = diff["metrics/data_quality.json"]["checks.price_format[Selling Price]"]
    assert price["new"] - price["old"] > 20 and diff["metrics/data_quality.json"]["warnings"] == {"old": 0, "new": 1, "diff": 1}

    later = [project / "data/processed/train.parquet", project / "data/processed/labels.json", project / "metrics/preprocess.json"]
    before = {path: path.read_bytes() for path in later}
    point_catalog(project, "Uniq Id,Product Name,Category\n1,red ball,Toys\n1,blue cup,Kitchen\n")
    result = run(["dvc", "repro"], project, check=False)
    assert result.returncode != 0
    assert "validate: error:" in result.stderr
    assert "expect_column_to_exist on column 'About Product': the column is missing" in result.stderr
    assert "expect_column_values_to_be_unique on column 'Uniq Id'" in result.stderr
    assert "report: reports/data_docs/index.html" in result.stderr
    assert "Running stage 'preprocess'" not in result.stdout
    assert {path: path.read_bytes() for path in later} == before
    assert not (project / "metrics/data_quality.json").exists()  # no success summary for a failed catalog
    [page] = (project / "reports/data_docs/validations").rglob("*.html")  # the report of the failed run, to open
    failed = re.search(r"Unsuccessful Expectations</div></td><td[^>]*><div[^>]*>(\d+)<", page.read_text(encoding="utf-8"))
    assert int(failed[1]) >= 9  # 6 missing columns, row count, duplicate id, no trainable class
