"""The bad-input matrix: each broken or odd catalog, the message the user reads, and what validate leaves behind.

Every case runs the real stage (`stages.validate.main`) on a variant of the 400-row synthetic catalog.
Files of later stages and the previous summary are seeded first: a rejected catalog must leave every
one of them byte for byte as it was; an accepted one may only rewrite the summary.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from devtools.scratch_repo import write_params, write_paths
from prodcat.data.catalog import read_catalog
from stages import validate

LATER_OUTPUTS = ["metrics/data_quality.json", "data/processed/train.parquet", "models/xgb/stock.ubj", "metrics/evaluate.json"]
SUMMARY = "metrics/data_quality.json"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in LATER_OUTPUTS}


def run_validate(folder: Path, catalog: Path, capsys, caplog, **sections: dict) -> tuple[int, str]:
    """Run the stage as `dvc repro` would; return its exit status and what the user reads on the terminal."""
    for name in LATER_OUTPUTS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"previous {name}\n".encode())
    params = write_params(folder, catalog, **sections)
    argv = ["--params", str(params), "--paths", str(write_paths(folder))]
    caplog.set_level(logging.INFO)
    try:
        validate.main(argv)
        status = 0
    except SystemExit as exit_info:
        status = exit_info.code
    logged = [f"validate: {record.getMessage()}" for record in caplog.records if record.name == "stages.validate"]
    return status, "\n".join([*logged, capsys.readouterr().err.strip()])


@pytest.fixture()
def good(small_catalog: Path) -> pd.DataFrame:
    return read_catalog(small_catalog)


def write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n", **kwargs)
    return path


def cut_inside_quotes(good: pd.DataFrame, path: Path) -> Path:
    """A download that stopped inside the quoted text of the last product."""
    text = write(good, path).read_text(encoding="utf-8")
    last_row = text.rstrip("\n").rfind("\n") + 1
    path.write_text(text[: text.index('"', last_row) + 12], encoding="utf-8")
    return path


def cut_between_fields(good: pd.DataFrame, path: Path) -> Path:
    """A last row that stops after its first five fields, outside any quotes."""
    write(good.iloc[:-1], path)
    with path.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(good.iloc[-1].fillna("").tolist()[:5])
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def latin1(good: pd.DataFrame, path: Path) -> Path:
    frame = good.copy()
    frame.loc[4, "Product Name"] = "Café Mug"
    return write(frame, path, encoding="latin-1")


def duplicate_id(good: pd.DataFrame, path: Path) -> Path:
    frame = good.copy()
    frame.loc[1, "Uniq Id"] = frame.loc[0, "Uniq Id"]
    return write(frame, path)


REJECTED: dict[str, tuple[Callable[[pd.DataFrame, Path], Path], list[str]]] = {
    "empty file": (
        lambda good, path: empty(path),
        ["validate: error: {path} is empty: expected a header row, then one row per product"],
    ),
    "header only": (
        lambda good, path: write(good.iloc[:0], path),
        [
            "validate: error: {path} failed 2 critical data-quality expectations of 20:",
            "  - [row_count] expect_table_row_count_to_be_between: observed 0, expected between 100 and 1000000",
            "  - [trainable_classes] expect_column_unique_value_count_to_be_between on column "
            "'Category level 0 classes with 20+ rows': observed 0, expected at least 2",
        ],
    ),
    "missing required column": (
        lambda good, path: write(good.drop(columns=["About Product"]), path),
        [
            "validate: error: {path} failed 1 critical data-quality expectation of 20:",
            "  - [required_columns] expect_column_to_exist on column 'About Product': the column is missing "
            "(1 more expectation(s) on it could not run)",
        ],
    ),
    "non-UTF-8 bytes": (latin1, ["validate: error: {path} is not UTF-8: byte 0xe9 on line 6; re-save the file as UTF-8"]),
    "wrong delimiter": (
        lambda good, path: write(good, path, sep=";"),
        [
            "validate: error: {path} has no comma in its header ('Uniq Id;Product Name;Brand Name;Asin;Category;Upc Ean Code;"
            "List Price;Selling Pr'): it looks separated by ';'; save it comma-separated"
        ],
    ),
    "truncated last row, inside quotes": (
        cut_inside_quotes,
        [
            "validate: error: cannot read {path} as a UTF-8 CSV: Error tokenizing data. C error: EOF inside string "
            "starting at row 400; the file looks truncated"
        ],
    ),
    "truncated last row, between fields": (
        cut_between_fields,
        [
            "validate: error: {path}: 1 row(s) have fewer fields than the 28 of the header, ending on line(s) [401]; "
            "the file looks truncated"
        ],
    ),
    "duplicate ids": (
        duplicate_id,
        [
            "validate: error: {path} failed 1 critical data-quality expectation of 20:",
            "  - [id_unique] expect_column_values_to_be_unique on column 'Uniq Id': 2 unexpected values (0.5%), e.g. ['{first_id}']",
        ],
    ),
    "label missing on every row": (
        lambda good, path: write(good.assign(Category=""), path),
        [
            "validate: error: {path} failed 2 critical data-quality expectations of 20:",
            "  - [label_share] expect_column_values_to_not_be_null on column 'Category': 400 unexpected values (100.0%) "
            "(at most 20.0% allowed) at data rows [1, 2, 3]",
            "  - [trainable_classes] expect_column_unique_value_count_to_be_between on column "
            "'Category level 0 classes with 20+ rows': observed 0, expected at least 2",
        ],
    ),
    "a single class": (
        lambda good, path: write(good.assign(Category="Toys & Games | Puzzles"), path),
        [
            "validate: error: {path} failed 1 critical data-quality expectation of 20:",
            "  - [trainable_classes] expect_column_unique_value_count_to_be_between on column "
            "'Category level 0 classes with 20+ rows': observed 1, expected at least 2; most common: {{'Toys & Games': 400}}",
        ],
    ),
}


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_input_is_named_and_changes_nothing_later(case: str, good: pd.DataFrame, tmp_path: Path, capsys, caplog) -> None:
    make, expected = REJECTED[case]
    catalog = make(good, tmp_path / "catalog.csv")
    before = {name: f"previous {name}\n".encode() for name in LATER_OUTPUTS}
    status, output = run_validate(tmp_path, catalog, capsys, caplog)
    assert status == 1
    for line in expected:
        assert line.format(path=catalog, first_id=good.loc[0, "Uniq Id"]) in output.splitlines(), output
    assert snapshot(tmp_path) == before


def with_prices(good: pd.DataFrame, value: str, every: int = 4) -> pd.DataFrame:
    """`value` as the selling price of every `every`-th product."""
    frame = good.copy()
    frame.loc[frame.index % every == 0, "Selling Price"] = value
    return frame


def unchanged_except_summary(folder: Path) -> bool:
    later = snapshot(folder)
    return all(later[name] == f"previous {name}\n".encode() for name in LATER_OUTPUTS if name != SUMMARY)


@pytest.mark.parametrize(
    ("price", "warned"),
    [("", False), ("N/A", True), ("$1,299.00", False), ("$10.99 - $15.99", False), ("1.299,00 €", False)],
)
def test_prices_outside_the_parser_formats_are_a_warning(
    price: str, warned: bool, good: pd.DataFrame, tmp_path: Path, capsys, caplog
) -> None:
    catalog = write(with_prices(good, price), tmp_path / "catalog.csv")
    status, output = run_validate(tmp_path, catalog, capsys, caplog)
    assert status == 0, output
    warning = re.search(
        r"^validate: warning: \[price_format\] expect_column_values_to_match_regex on column 'Selling Price': "
        r"\d+ unexpected values \(2\d\.\d%\) \(at most 10\.0% allowed\), e\.g\. \['N/A'",
        output,
        re.MULTILINE,
    )
    assert bool(warning) == warned, output
    summary = json.loads((tmp_path / SUMMARY).read_text())
    assert summary["success"] is True and summary["warnings"] == int(warned)
    assert unchanged_except_summary(tmp_path)


@pytest.mark.parametrize(("warn_only", "status"), [(["price_format"], 0), ([], 1)])
def test_nan_and_inf_prices_are_reported_and_fail_when_price_format_is_critical(
    warn_only: list[str], status: int, good: pd.DataFrame, tmp_path: Path, capsys, caplog
) -> None:
    frame = with_prices(good, "NaN", every=5)
    frame.loc[0:2, "Selling Price"] = ["NaN", "inf", "-inf"]
    catalog = write(frame, tmp_path / "catalog.csv")
    code, output = run_validate(tmp_path, catalog, capsys, caplog, quality={"warn_only": warn_only})
    assert code == status, output
    prefix = "validate: warning: " if status == 0 else "  - "
    assert re.search(
        rf"^{re.escape(prefix)}\[price_format\] expect_column_values_to_match_regex on column 'Selling Price': \d+ unexpected "
        r"values \(2\d\.\d%\) \(at most 10\.0% allowed\), e\.g\. \['NaN', 'inf', '-inf'\]$",
        output,
        re.MULTILINE,
    ), output
    if status == 0:
        assert json.loads((tmp_path / SUMMARY).read_text())["warnings"] == 1 and unchanged_except_summary(tmp_path)
    else:
        assert snapshot(tmp_path) == {name: f"previous {name}\n".encode() for name in LATER_OUTPUTS}


def test_extra_columns_are_allowed_and_reported(good: pd.DataFrame, tmp_path: Path, capsys, caplog) -> None:
    catalog = write(good.assign(**{"Warehouse Bin": "A1", "Internal Note": ""}), tmp_path / "catalog.csv")
    status, output = run_validate(tmp_path, catalog, capsys, caplog)
    assert status == 0, output
    line = next(line for line in output.splitlines() if "not used by the pipeline" in line)
    assert line.startswith("validate: 21 column(s) not used by the pipeline (kept, not checked): ['Brand Name', 'Asin'")
    assert line.endswith("'Warehouse Bin', 'Internal Note']")
    assert json.loads((tmp_path / SUMMARY).read_text())["failed"] == 0


def test_a_5_mb_text_cell_passes_quickly_and_keeps_the_report_small(good: pd.DataFrame, tmp_path: Path, capsys, caplog) -> None:
    frame = good.copy()
    frame.loc[0, "About Product"] = "Very long description. " * 230_000  # 5.3 MB
    catalog = write(frame, tmp_path / "catalog.csv")
    started = time.perf_counter()
    status, output = run_validate(tmp_path, catalog, capsys, caplog)
    assert status == 0, output
    assert time.perf_counter() - started < 30
    assert re.search(
        rf"^validate: {re.escape(str(catalog))} passed 20 of 20 data-quality expectations \(400 rows, 0 warning\(s\)\)",
        output,
        re.MULTILINE,
    )
    pages = sum(page.stat().st_size for page in (tmp_path / "reports/data_docs").rglob("*.html"))
    assert pages < 1_000_000


def test_failed_validation_still_writes_the_report_but_no_summary(good: pd.DataFrame, tmp_path: Path, capsys, caplog) -> None:
    catalog = duplicate_id(good, tmp_path / "catalog.csv")
    status, output = run_validate(tmp_path, catalog, capsys, caplog)
    assert status == 1
    index = tmp_path / "reports/data_docs/index.html"
    assert output.splitlines()[-1] == f"report: {index}" and index.is_file()
    assert snapshot(tmp_path)[SUMMARY] == f"previous {SUMMARY}\n".encode()
