"""The data-quality suite: what passes, what fails, and what the validate stage tells the user."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from prodcat.params import DatasetParams, ValidationParams
from prodcat.quality import DataQualityError, build_suite, raise_for_failures, run_suite
from stages import validate

DATASET = DatasetParams(id_column="id", category_column="cat", text_columns=["name"], categorical_columns=["model"])
VALIDATION = ValidationParams(min_label_share=0.75)


def catalog(**overrides: list) -> pd.DataFrame:
    columns = {
        "id": ["a", "b", "c", "d"],
        "cat": ["X | y", "X", "Z | w", "Z"],
        "name": ["one", "two", "three", "four"],
        "model": ["m1", None, "m2", "m3"],
    }
    return pd.DataFrame({**columns, **overrides})


def failures(frame: pd.DataFrame, with_labels: bool = True) -> list[str]:
    return run_suite(frame, build_suite(DATASET, VALIDATION, with_labels=with_labels)).failures


def test_clean_catalog_passes() -> None:
    report = run_suite(catalog(), build_suite(DATASET, VALIDATION))
    assert report.success
    assert report.summary == {"success": True, "expectations": 7, "passed": 7, "failed": 0, "success_percent": 100.0}


def test_duplicate_and_missing_ids_are_named_with_examples() -> None:
    found = failures(catalog(id=["a", "a", None, "d"]))
    assert any("expect_column_values_to_be_unique on column 'id'" in line and "'a'" in line for line in found)
    assert any("expect_column_values_to_not_be_null on column 'id': 1 unexpected" in line for line in found)


def test_missing_column_is_named() -> None:
    assert failures(catalog().drop(columns=["name"])) == ["expect_column_to_exist on column 'name': the column is missing"]


def test_label_share_below_threshold_fails_but_prediction_suite_ignores_labels() -> None:
    unlabelled = catalog(cat=["X", None, None, "Z"])
    found = failures(unlabelled)
    assert len(found) == 1 and "column 'cat': 2 unexpected values (50.0%) (at most 25.0% allowed)" in found[0]
    assert failures(unlabelled.drop(columns=["cat"]), with_labels=False) == []


def test_error_message_lists_every_failure() -> None:
    report = run_suite(catalog(id=["a", "a", "b", "b"]).drop(columns=["model"]), build_suite(DATASET, VALIDATION))
    with pytest.raises(DataQualityError, match=r"failed 2 of \d+ data-quality expectations") as error:
        raise_for_failures(report, "shop.csv")
    assert "model" in str(error.value) and "be_unique" in str(error.value)


def test_validate_stage_fails_closed(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken catalog stops the stage with the message and leaves no summary behind."""
    from tests_support import write_params

    bad = tmp_path / "catalog.csv"
    pd.DataFrame({"Uniq Id": ["1", "1"], "Category": ["A", "B"]}).to_csv(bad, index=False)
    params = write_params(tmp_path, catalog=bad)
    summary = tmp_path / "metrics" / "data_quality.json"
    with pytest.raises(SystemExit) as exit_info:
        validate.main(["--params", str(params), "--summary", str(summary)])
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert "validate: error:" in message
    assert "expect_column_to_exist on column 'Product Name': the column is missing" in message
    assert "expect_column_values_to_be_unique on column 'Uniq Id'" in message
    assert not summary.exists()


def test_validate_stage_reports_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests_support import write_params

    bad = tmp_path / "catalog.csv"
    bad.write_bytes(b"Uniq Id,Category\n1,\xff\xfe broken\n")
    params = write_params(tmp_path, catalog=bad)
    with pytest.raises(SystemExit):
        validate.main(["--params", str(params), "--summary", str(tmp_path / "summary.json")])
    assert "cannot read" in capsys.readouterr().err
