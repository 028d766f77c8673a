"""`prodcat predict` and `prodcat batch-page` on the small sparse bundle: the files, the lines printed, a user's mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from prodcat.cli import app
from prodcat.data.review import REVIEW_COLUMNS
from prodcat.inference.bundle import load_bundle
from prodcat.inference.drift import REPORT_FORMAT
from prodcat.reports.batch_page import render_report_page


def new_products(small_catalog: Path, folder: Path, rows: int = 40) -> Path:
    path = folder / "new.csv"
    pd.read_csv(small_catalog, dtype=str, keep_default_na=False).head(rows).drop(columns=["Category"]).to_csv(path, index=False)
    return path


def test_predict_writes_the_predictions_report_page_and_review_queue(
    runner: CliRunner, trained, small_catalog: Path, tmp_path: Path
) -> None:
    bundle, catalog = trained[1], new_products(small_catalog, tmp_path)
    output, queue = tmp_path / "out.parquet", tmp_path / "queue.csv"
    args = ["predict", "--bundle", str(bundle), "--input", str(catalog), "--output", str(output), "--chunk-rows", "15"]
    result = runner.invoke(app, [*args, "--review-queue", str(queue)], prog_name="prodcat")
    assert result.exit_code == 0, result.output
    predictions = pd.read_parquet(output)
    assert predictions["id"].tolist() == pd.read_csv(catalog, dtype=str)["Uniq Id"].tolist()
    assert (
        predictions["predicted"].tolist()
        == load_bundle(bundle).score(pd.read_csv(catalog, dtype=str, keep_default_na=False)).to_frame()["predicted"].tolist()
    )
    report = json.loads(Path(f"{output}.report.json").read_text())
    assert report["rows"] == 40 and Path(f"{output}.report.html").read_text(encoding="utf-8") == render_report_page(report)
    review = pd.read_csv(queue, dtype=str, keep_default_na=False)
    low = predictions["top1_probability"] < load_bundle(bundle).thresholds.low_confidence
    assert list(review.columns) == REVIEW_COLUMNS and sorted(review["id"]) == sorted(predictions["id"][low])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("prodcat predict: 40 products with sparse in ") and lines[0].endswith(f"products/s) -> {output}")
    assert lines[-1] == f"prodcat predict: {low.sum()} low-confidence products to review -> {queue}"
    assert not Path(f"{output}.progress").exists()

    page = tmp_path / "page.html"
    result = runner.invoke(app, ["batch-page", f"{output}.report.json", "--output", str(page)], prog_name="prodcat")
    assert result.exit_code == 0 and result.stdout.strip() == str(page)
    assert page.read_text(encoding="utf-8") == render_report_page(report)


def test_a_users_mistake_is_one_line_exit_1_and_nothing_written(runner: CliRunner, trained, small_catalog: Path, tmp_path: Path) -> None:
    catalog = new_products(small_catalog, tmp_path)
    pd.read_csv(catalog, dtype=str).drop(columns=["About Product"]).to_csv(catalog, index=False)
    args = ["predict", "--bundle", str(trained[1]), "--input", str(catalog), "--output", str(tmp_path / "out.parquet")]
    result = runner.invoke(app, [*args, "--review-queue", str(tmp_path / "queue.csv")], prog_name="prodcat")
    assert result.exit_code == 1
    lines = result.stderr.split("\n")  # the progress bar's line, then the error and the failed checks, one per line
    first = next(index for index, line in enumerate(lines) if line.startswith("prodcat predict: error: "))
    assert lines[first] == f"prodcat predict: error: {catalog} cannot be scored:"
    assert "column 'About Product': the column is missing" in lines[first + 1] and all(
        line.startswith("  - ") for line in lines[first + 1 : -1]
    )
    assert result.stderr.count("error: ") == 1 and "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.csv"]  # no predictions, report, queue, progress or scratch file

    result = runner.invoke(app, ["predict", "--bundle", str(tmp_path / "nowhere"), "--input", str(catalog), "--output", "o.csv"])
    assert result.exit_code == 1 and result.stderr == f"prodcat predict: error: {result.stderr.split(': error: ')[1]}"
    assert result.stderr.count("\n") == 1 and "nowhere" in result.stderr

    result = runner.invoke(app, ["batch-page", str(tmp_path / "none.json")], prog_name="prodcat")
    assert (result.exit_code, result.stderr) == (1, f"prodcat batch-page: error: no report at {tmp_path / 'none.json'}\n")


def test_batch_page_refuses_a_report_of_another_format_naming_both_and_the_fix(runner: CliRunner, tmp_path: Path) -> None:
    fix = "score the batch again (`prodcat predict`)"
    for version, found in [(None, "none"), (REPORT_FORMAT + 1, str(REPORT_FORMAT + 1))]:
        report = tmp_path / "old.report.json"
        report.write_text(json.dumps({"rows": 3} if version is None else {"rows": 3, "format_version": version}))
        result = runner.invoke(app, ["batch-page", str(report)], prog_name="prodcat")
        expected = f"prodcat batch-page: error: the batch report has format {found}, this prodcat reads format {REPORT_FORMAT}: {fix}\n"
        assert (result.exit_code, result.stderr) == (1, expected)
        assert not report.with_suffix(".html").exists()
