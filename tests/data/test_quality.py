"""The data-quality suite: what passes, what fails, what the user reads, and the offline Data Docs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from prodcat.core.params import CatalogParams, ParamsError, QualityParams, parse_params
from prodcat.data.catalog import parse_price
from prodcat.data.datadocs import strip_remote_assets
from prodcat.data.quality import (
    PRICE_PATTERN,
    DataQualityError,
    build_suite,
    category_path_pattern,
    raise_for_failures,
    run_suite,
    with_trainable_classes,
)
from prodcat.reports.browser import find_chromium, screenshot
from prodcat.reports.data_docs_screenshot import validation_pages

CATALOG = CatalogParams(
    path="c.csv",
    id_column="id",
    category_column="cat",
    text_columns=["name"],
    price_column="price",
    categorical_columns=["model"],
    min_class_count=2,
)
QUALITY = QualityParams(min_label_share=0.75, min_text_share=0.75, min_rows=2, max_rows=100)
CLASSES = "cat level 0 classes with 2+ rows"


def catalog(**overrides: list) -> pd.DataFrame:
    columns = {
        "id": ["a", "b", "c", "d"],
        "cat": ["X | y", "X", "Z | w", "Z"],
        "name": ["one", "two", "three", "four"],
        "price": ["$1.00", "$1,299.00", "$10.99 - $15.99", "1.299,00 €"],
        "model": ["m1", None, "m2", "m3"],
    }
    return pd.DataFrame({**columns, **overrides})


def report(frame: pd.DataFrame, quality: QualityParams = QUALITY, with_labels: bool = True, **kwargs):
    prepared = with_trainable_classes(frame, CATALOG) if with_labels else frame
    return run_suite(prepared, build_suite(CATALOG, quality, CATALOG.min_class_count if with_labels else None), **kwargs)


def failures(frame: pd.DataFrame, **kwargs) -> list[str]:
    return report(frame, **kwargs).failures


def test_clean_catalog_passes_and_summary_keeps_the_metric_keys() -> None:
    summary = report(catalog()).summary
    assert {key: summary[key] for key in ["success", "expectations", "passed", "failed", "success_percent"]} == {
        "success": True,
        "expectations": 13,
        "passed": 13,
        "failed": 0,
        "success_percent": 100.0,
    }
    assert summary["warnings"] == 0
    assert summary["checks"]["row_count"] == 4 and summary["checks"]["trainable_classes[" + CLASSES + "]"] == 2
    assert summary["checks"]["price_format[price]"] == 0.0 and summary["checks"]["label_share[cat]"] == 0.0


def test_duplicate_and_missing_ids_are_named_with_examples() -> None:
    found = failures(catalog(id=["a", "a", None, "d"]))
    assert any(line.startswith("[id_unique] expect_column_values_to_be_unique on column 'id'") and "'a'" in line for line in found)
    assert any(
        "[id_not_null] expect_column_values_to_not_be_null on column 'id': 1 unexpected values (25.0%) at data rows [3]" in line
        for line in found
    )


def test_missing_column_is_named_once_with_the_checks_it_blocks() -> None:
    assert failures(catalog().drop(columns=["name"])) == [
        "[required_columns] expect_column_to_exist on column 'name': the column is missing (1 more expectation(s) on it could not run)"
    ]


def test_label_share_below_threshold_fails_but_prediction_suite_ignores_labels_and_batch_size() -> None:
    unlabelled = catalog(cat=["X", None, None, "X"])
    found = failures(unlabelled)
    assert (
        "[label_share] expect_column_values_to_not_be_null on column 'cat': 2 unexpected values (50.0%) (at most 25.0% allowed)" in found[0]
    )
    assert any(
        line.startswith(
            f"[trainable_classes] expect_column_unique_value_count_to_be_between on column {CLASSES!r}: observed 1, expected at least 2; most common: {{'X': 2}}"
        )
        for line in found
    )
    prediction = report(unlabelled.drop(columns=["cat"]).head(1), with_labels=False)  # one product, no label
    assert prediction.success
    assert {outcome.check for outcome in prediction.outcomes} == {
        "required_columns",
        "id_not_null",
        "id_unique",
        "text_nulls",
        "price_format",
    }


@pytest.mark.parametrize(
    ("separator", "good", "bad"),
    [
        ("|", ["A", "A | B | C", "A|B", "Toys & Games | Puzzles"], ["A | | C", "A |", "| B", "   ", "A ||B"]),
        (" > ", ["A > B", "A", "A | B"], ["A >  > B", "A > "]),
    ],
)
def test_category_path_pattern_rejects_empty_levels(separator: str, good: list[str], bad: list[str]) -> None:
    pattern = re.compile(category_path_pattern(separator))
    assert [path for path in good if not pattern.search(path)] == []
    assert [path for path in bad if pattern.search(path)] == []


def test_category_path_pattern_of_a_json_list_wants_the_list_around_the_path() -> None:
    pattern = re.compile(category_path_pattern(">>", "json_list"))
    good = ['["Clothing >> Shorts"]', '["Pens >> ezyPRNT \\"RH\\" Golf Ball"]', '[ "A" ]']
    bad = ["Clothing >> Shorts", '["Clothing >>  >> Shorts"]', '["Clothing >> "]', '["A"', "[]"]
    assert [path for path in good if not pattern.search(path)] == []
    assert [path for path in bad if pattern.search(path)] == []


def test_malformed_category_paths_are_named() -> None:
    found = failures(catalog(cat=["X | y", "X |  | z", "Z | w", "Z"]))
    assert found == ["[category_path] expect_column_values_to_match_regex on column 'cat': 1 unexpected values (25.0%), e.g. ['X |  | z']"]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "N/A",
        "$1,299.00",
        "$10.99 - $15.99",
        "1.299,00 €",
        "€ 4,50",
        "12.5",
        "NaN",
        "inf",
        "-inf",
        "$-3",
        "$ 17 66 $35.32 Save $17.66 (50%)",
        "$31.99 $ 31 . 99",
        "Currently unavailable.",
    ],
)
def test_price_pattern_accepts_exactly_what_parse_price_reads(raw: str) -> None:
    assert bool(re.search(PRICE_PATTERN, raw)) == (not math.isnan(parse_price(raw)))


def test_warn_only_reports_a_failure_without_failing() -> None:
    frame = catalog(price=["N/A", "$1.00", "unknown", "$2.00"])
    strict = report(frame)
    assert strict.failures == [
        "[price_format] expect_column_values_to_match_regex on column 'price': 2 unexpected values (50.0%) (at most 10.0% allowed), e.g. ['N/A', 'unknown']"
    ]
    lenient = report(frame, QUALITY.model_copy(update={"warn_only": ["price_format"]}))
    assert lenient.success and lenient.warnings == strict.failures
    assert lenient.summary["success"] is True and lenient.summary["failed"] == 1 and lenient.summary["warnings"] == 1


def test_row_count_and_text_share_bounds() -> None:
    found = failures(catalog(name=["one", None, None, "four"]), quality=QUALITY.model_copy(update={"max_rows": 3}))
    assert "[row_count] expect_table_row_count_to_be_between: observed 4, expected between 2 and 3" in found
    assert any(
        line.startswith(
            "[text_nulls] expect_column_values_to_not_be_null on column 'name': 2 unexpected values (50.0%) (at most 25.0% allowed) at data rows [2, 3]"
        )
        for line in found
    )


@pytest.mark.parametrize(("rare_classes", "classes"), [("other", 2), ("drop", 1)])
def test_trainable_classes_follow_the_catalog_rare_class_rule(rare_classes: str, classes: int) -> None:
    """One big class and two rare ones: merged into "Other" they make a second class, dropped they do not."""
    frame = pd.DataFrame({"cat": ["A"] * 3 + ["B", "C"]})
    derived = with_trainable_classes(frame, CATALOG.model_copy(update={"rare_classes": rare_classes}))[CLASSES]
    assert derived.nunique() == classes


def test_trainable_classes_count_rare_subcategories_backed_off_to_their_parent() -> None:
    """At level 1, "A | y" and "A | z" (one row each) back off to "A" (two rows): a class, as preprocess trains it."""
    frame = pd.DataFrame({"cat": ["A | x"] * 2 + ["A | y", "A | z"]})
    deep = CATALOG.model_copy(update={"category_level": 1, "rare_classes": "drop"})
    derived = with_trainable_classes(frame, deep)["cat level 1 classes with 2+ rows"]
    assert derived.tolist() == ["A | x", "A | x", "A", "A"]


def test_params_reject_unknown_or_structural_warnings_and_inverted_bounds() -> None:
    raw = {"catalog": CATALOG.model_dump(), "encoder": {"base": "b"}, "variants": ["sparse"]}
    with pytest.raises(ParamsError, match=r"quality\.warn_only\.0"):
        parse_params({**raw, "quality": {"warn_only": ["required_columns"]}})
    with pytest.raises(ParamsError, match="max_rows"):
        parse_params({**raw, "quality": {"min_rows": 10, "max_rows": 5}})


def test_error_message_lists_every_failure_and_the_report() -> None:
    failed = report(catalog(id=["a", "a", "b", "b"]).drop(columns=["model"]))
    with pytest.raises(DataQualityError, match=r"shop\.csv failed 2 critical data-quality expectations of 13:") as error:
        raise_for_failures(failed, "shop.csv", Path("reports/data_docs/index.html"))
    assert "model" in str(error.value) and "be_unique" in str(error.value)
    assert str(error.value).endswith("report: reports/data_docs/index.html")


def test_strip_remote_assets_keeps_local_ones() -> None:
    html = (
        '<link rel="stylesheet" href="https://cdn.example/b.css"/><link rel="icon" href="static/f.ico">'
        '<script src="https://cdn.example/j.js"></script><script>local()</script><img src="https://s3/logo.png" alt="x">'
    )
    assert strip_remote_assets(html) == (
        '<link rel="icon" href="static/f.ico"><script>local()</script><span class="prodcat-brand">prodcat data quality</span>'
    )


@pytest.fixture(scope="module")
def data_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data Docs of a failing run: duplicate ids and a price warning."""
    site = tmp_path_factory.mktemp("docs") / "data_docs"
    quality = QUALITY.model_copy(update={"warn_only": ["price_format"]})
    report(catalog(id=["a", "a", "c", "d"], price=["N/A"] * 4), quality, data_docs=site)
    return site


def test_data_docs_are_built_and_load_nothing_from_the_network(data_docs: Path) -> None:
    pages = sorted(data_docs.rglob("*.html"))
    index, [validation] = data_docs / "index.html", validation_pages(data_docs)
    assert index in pages and len(pages) == 3  # index, suite, one validation result
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"(?:href|src)=\"https?://[^\"]*\.(?:css|js)", html), page
        assert not re.search(r"<img[^>]+src=\"https?://", html), page
        assert ".fa-check-circle::before" in html  # the offline stylesheet is inline
    index_html = index.read_text(encoding="utf-8")
    links = {(data_docs / link).resolve() for link in re.findall(r'<a href="([^"]+)">open</a>', index_html)}
    assert validation.resolve() in links  # the index tables are static HTML, with links
    text = validation.read_text(encoding="utf-8")
    assert "id_unique (critical): &#39;id&#39; is unique" in text or "id_unique (critical): 'id' is unique" in text
    assert "price_format (warning): at least 90% of the filled" in text


def test_data_docs_screenshot_offline(data_docs: Path, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    png = screenshot(validation_pages(data_docs)[-1], tmp_path / "page.png", width=1000, height=800)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1000
    assert len(data) > 20_000  # a rendered page, not a blank one


def test_the_suite_holds_every_named_check_and_each_warnable_one_can_be_demoted() -> None:
    """The eight checks the README documents are the ones the suite runs; warn_only demotes exactly what it names."""
    from typing import get_args

    from prodcat.core.params import WarnableCheck

    warnable = set(get_args(WarnableCheck))
    full = build_suite(CATALOG, QUALITY, CATALOG.min_class_count)
    assert {e.meta["check"] for e in full} == warnable | {"required_columns", "trainable_classes"}
    demoted = build_suite(CATALOG, QUALITY.model_copy(update={"warn_only": sorted(warnable)}), CATALOG.min_class_count)
    critical = {e.meta["check"] for e in demoted if e.severity.value == "critical"}
    assert critical == {"required_columns", "trainable_classes"}
