"""Data-quality checks on a raw catalog with Great Expectations (GX Core 1.x).

The suite is derived from the `dataset` params, so another catalog gets its own checks without
code changes. A Checkpoint runs it and, when asked, writes offline Data Docs; the outcome is reduced
to a summary DVC tracks as a metric and to one readable line per failed expectation. Each
expectation belongs to a named check (`validation.warn_only` demotes checks to warnings).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.metadata_types import FailureSeverity

# The very patterns parse_price reads, so a price GX accepts is a price preprocess turns into a number.
from prodcat.catalog import _EU_PRICE, _US_PRICE, catalog_labels, handle_rare_classes, read_catalog
from prodcat.datadocs import SITE_NAME, site_config
from prodcat.params import DatasetParams, PreprocessParams, ValidationParams

# Named groups made non-capturing: pandas warns about capture groups in a match-only regex.
PRICE_PATTERN = re.sub(r"\(\?P<\w+>", "(?:", f"(?:{_US_PRICE.pattern})|(?:{_EU_PRICE.pattern})")
SAMPLE_SIZE = 3
# GX logs at INFO, and one of its modules pins its own logger to INFO.
QUIET_LOGGERS = ("great_expectations", "great_expectations.data_context.types.base")
LIKELY_DELIMITERS = (";", "\t", "|")


class DataQualityError(ValueError):
    """The catalog failed its data-quality suite; the message names every failed expectation."""


def category_path_pattern(separator: str) -> str:
    """"A | B | C" with the configured separator: one or more levels, none of them blank."""
    sep = re.escape(separator)
    level = rf"(?:(?!{sep})\s)*(?!{sep})\S(?:(?!{sep}).)*"
    return rf"^{level}(?:{sep}{level})*$"


def trainable_column(dataset: DatasetParams, preprocess: PreprocessParams) -> str:
    """Name of the derived column GX counts classes in; it says what it holds, for the report."""
    return f"{dataset.category_column} level {dataset.category_level} classes with {preprocess.min_class_count}+ rows"


def with_trainable_classes(frame: pd.DataFrame, dataset: DatasetParams, preprocess: PreprocessParams) -> pd.DataFrame:
    """The catalog plus each row's class as preprocess will train it, or missing when that class is too small.

    Same rule as preprocess: the label at `category_level`, rare classes merged into "Other" or dropped;
    only classes that keep `min_class_count` rows count.
    """
    labels = pd.Series(None, index=frame.index, dtype=object)
    if dataset.category_column in frame:
        labels, _ = handle_rare_classes(catalog_labels(frame, dataset), preprocess)
    kept = labels.map(labels.value_counts()).ge(preprocess.min_class_count)
    return frame.assign(**{trainable_column(dataset, preprocess): labels.where(kept)})


def build_suite(
    dataset: DatasetParams, validation: ValidationParams, preprocess: PreprocessParams, with_labels: bool = True
) -> list[gxe.Expectation]:
    """Expectations for a training catalog; `with_labels=False` gives the suite for prediction inputs.

    Prediction batches carry no labels and may be of any size: the label checks and row-count bounds are left out.
    """

    def expect(check: str, rule: str, kind: type[gxe.Expectation], **kwargs: object) -> gxe.Expectation:
        """Tag the expectation with its check and severity; Data Docs show the description in place of GX's text."""
        severity = FailureSeverity.WARNING if check in validation.warn_only else FailureSeverity.CRITICAL
        return kind(**kwargs, meta={"check": check}, severity=severity, description=f"{check} ({severity.value}): {rule}")

    label, price = dataset.category_column, dataset.price_column
    columns = [column for column in dataset.required_columns if with_labels or column != label]
    rows = f"{validation.min_rows} to {validation.max_rows}" if validation.max_rows else f"at least {validation.min_rows}"
    suite = [
        *[expect("required_columns", f"column '{c}' exists", gxe.ExpectColumnToExist, column=c) for c in columns],
        expect("id_not_null", f"'{dataset.id_column}' is filled in every row", gxe.ExpectColumnValuesToNotBeNull,
               column=dataset.id_column),
        expect("id_unique", f"'{dataset.id_column}' is unique", gxe.ExpectColumnValuesToBeUnique, column=dataset.id_column),
        *[
            expect("text_nulls", f"'{c}' is filled in at least {validation.min_text_share:.0%} of rows",
                   gxe.ExpectColumnValuesToNotBeNull, column=c, mostly=validation.min_text_share)
            for c in dataset.text_columns
        ],
    ]
    if price:
        suite.append(expect(
            "price_format",
            f"at least {validation.min_price_share:.0%} of the filled '{price}' values are prices parse_price reads "
            "(12.99, 1,299.00, 10.99 - 15.99, 1.299,00 €, with or without a currency sign)",
            gxe.ExpectColumnValuesToMatchRegex, column=price, regex=PRICE_PATTERN, mostly=validation.min_price_share,
        ))
    if with_labels:
        suite += [
            expect("row_count", f"{rows} rows", gxe.ExpectTableRowCountToBeBetween,
                   min_value=validation.min_rows, max_value=validation.max_rows),
            expect("label_share", f"'{label}' is filled in at least {validation.min_label_share:.0%} of rows",
                   gxe.ExpectColumnValuesToNotBeNull, column=label, mostly=validation.min_label_share),
            expect("category_path", f"'{label}' is a path of non-empty levels separated by '{dataset.category_separator}'",
                   gxe.ExpectColumnValuesToMatchRegex, column=label, regex=category_path_pattern(dataset.category_separator)),
            expect("trainable_classes",
                   f"at least 2 classes keep {preprocess.min_class_count}+ rows after the rare-class rule",
                   gxe.ExpectColumnUniqueValueCountToBeBetween,
                   column=trainable_column(dataset, preprocess), min_value=2, max_value=None),
        ]
    return suite


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, as the user and the metric see it."""

    check: str
    column: str | None
    critical: bool
    success: bool
    observed: float | int | None  # % of offending rows, or the measured value of a table-wide check
    message: str
    folded: bool = False  # could not run for a missing column: reported once, on that column

    @property
    def key(self) -> str:
        return f"{self.check}[{self.column}]" if self.column else self.check


@dataclass(frozen=True)
class QualityReport:
    outcomes: list[Outcome]

    def _messages(self, critical: bool) -> list[str]:
        return [o.message for o in self.outcomes if o.critical == critical and not o.success and not o.folded]

    @property
    def failures(self) -> list[str]:
        return self._messages(critical=True)

    @property
    def warnings(self) -> list[str]:
        return self._messages(critical=False)

    @property
    def success(self) -> bool:
        """Only critical failures fail the run; warnings are reported."""
        return not self.failures

    @property
    def summary(self) -> dict[str, object]:
        """What DVC tracks as the data-quality metric: totals, then what each check observed."""
        evaluated = len(self.outcomes)
        passed = sum(outcome.success for outcome in self.outcomes)
        return {
            "success": self.success,
            "expectations": evaluated,
            "passed": passed,
            "failed": evaluated - passed,
            "success_percent": round(100 * passed / evaluated, 2) if evaluated else 100.0,
            "warnings": len(self.warnings),
            "checks": {outcome.key: outcome.observed for outcome in self.outcomes if outcome.observed is not None},
        }


def _sample(values: list) -> str:
    distinct = dict.fromkeys(str(value)[:60] for value in values if not pd.isna(value))
    shown = list(distinct)[:SAMPLE_SIZE]
    return f", e.g. {shown}" if shown else ""


def _percent(value: float) -> str:
    """One decimal, but a single bad row in a big catalog still shows as more than 0.0%."""
    return f"{value:.1f}%" if value >= 0.1 or value == 0 else f"{value:.2g}%"


def _bounds(kwargs: dict) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    return f"at least {low}" if high is None else f"between {low} and {high}"


def _exception(info: dict | None) -> str | None:
    """The first exception message GX caught, whether reported flat or per metric."""
    entries = [info] if info and "raised_exception" in info else list((info or {}).values())
    return next((entry["exception_message"] for entry in entries if entry.get("raised_exception")), None)


def _observed(details: dict) -> float | int | None:
    if "observed_value" in details:
        return details["observed_value"]
    if "unexpected_percent" in details:
        return round(details["unexpected_percent"] or 0.0, 4)
    return None


def _describe(result, frame: pd.DataFrame, dependents: int) -> str:
    """One line: check, expectation, column, what was found and a few offending values."""
    config = result.expectation_config
    column = config.kwargs.get("column")
    head = f"[{config.meta['check']}] {config.type}" + (f" on column {column!r}" if column else "")
    details = result.result or {}
    if config.type == "expect_column_to_exist":
        skipped = f" ({dependents} more expectation(s) on it could not run)" if dependents else ""
        return f"{head}: the column is missing{skipped}"
    if error := _exception(result.exception_info):
        return f"{head}: could not be evaluated ({error})"
    if "observed_value" in details:
        common = frame[column].value_counts().head(SAMPLE_SIZE).to_dict() if column in frame else {}
        values = f"; most common: {common}" if common else ""
        return f"{head}: observed {details['observed_value']}, expected {_bounds(config.kwargs)}{values}"
    mostly = config.kwargs.get("mostly")
    allowed = f" (at most {100 * (1 - mostly):.1f}% allowed)" if mostly is not None and mostly < 1 else ""
    rows = [index + 1 for index in details.get("partial_unexpected_index_list") or []][:SAMPLE_SIZE]
    where = f" at data rows {rows}" if rows and config.type == "expect_column_values_to_not_be_null" else ""
    return (
        f"{head}: {details.get('unexpected_count')} unexpected values ({_percent(details.get('unexpected_percent') or 0)})"
        f"{allowed}{where}{_sample(details.get('partial_unexpected_list', []))}"
    )


def _outcomes(results: list, frame: pd.DataFrame) -> list[Outcome]:
    """Results as outcomes; an expectation on a missing column is folded into that column's own failure."""
    exists = "expect_column_to_exist"
    missing = {r.expectation_config.kwargs["column"] for r in results if r.expectation_config.type == exists and not r.success}
    dependents = Counter(
        r.expectation_config.kwargs.get("column") for r in results if r.expectation_config.type != exists
    )
    outcomes = []
    for result in results:
        config = result.expectation_config
        column = config.kwargs.get("column")
        outcomes.append(Outcome(
            check=config.meta["check"],
            column=column,
            critical=config.severity == FailureSeverity.CRITICAL,
            success=result.success,
            observed=_observed(result.result or {}),
            message=_describe(result, frame, dependents[column] if column in missing else 0),
            folded=column in missing and config.type != exists,
        ))
    return outcomes


def run_suite(
    frame: pd.DataFrame, expectations: list[gxe.Expectation], name: str = "catalog", data_docs: Path | None = None
) -> QualityReport:
    """Run the expectations through a GX Checkpoint over an in-memory DataFrame; Data Docs into `data_docs`."""
    for logger in QUIET_LOGGERS:  # stages log at INFO: keep their lines, not GX's chatter
        logging.getLogger(logger).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions = []
    if data_docs is not None:
        context.add_data_docs_site(SITE_NAME, site_config(data_docs))
        actions = [UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])]
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=name, validation_definitions=[definition], actions=actions,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10},  # offending values kept per expectation
    ))
    run_id = RunIdentifier(run_name="validate", run_time=dt.datetime.now(dt.timezone.utc))  # names the run in Data Docs
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    results = [result for run in outcome.run_results.values() for result in run.results]
    return QualityReport(_outcomes(results, frame))


def raise_for_failures(report: QualityReport, source: str, data_docs: Path | None = None) -> None:
    """Stop with every critical failure, one per line, and where the Data Docs report is."""
    if not report.success:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        where = f"\nreport: {data_docs}" if data_docs else ""
        raise DataQualityError(
            f"{source} failed {len(report.failures)} critical data-quality "
            f"expectation{'s' * (len(report.failures) > 1)} of {len(report.outcomes)}:\n{lines}{where}"
        )


def _undecodable(path: Path, data: bytes, error: UnicodeDecodeError) -> str:
    """Where the first non-UTF-8 byte is, in editor terms."""
    line = data.count(b"\n", 0, error.start) + 1
    return f"{path} is not UTF-8: byte 0x{data[error.start]:02x} on line {line}; re-save the file as UTF-8"


def _delimiter_hint(path: Path, header: str) -> str | None:
    """A header without commas but with another likely delimiter: the file was saved with the wrong one."""
    found = [delimiter for delimiter in LIKELY_DELIMITERS if delimiter in header]
    if "," in header or not found:
        return None
    return f"{path} has no comma in its header ({header.strip()[:80]!r}): it looks separated by {found[0]!r}; save it comma-separated"


def _short_records(text: str, width: int) -> list[int]:
    """Lines where a record ends with fewer fields than the header: a cut-off or hand-edited file."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # one product text may be megabytes long
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        return [reader.line_num for record in reader if record and len(record) < width]
    finally:
        csv.field_size_limit(limit)


def read_checked(path: str | Path) -> pd.DataFrame:
    """Read the catalog as preprocess does, turning files that are not a CSV table into messages that say what to fix."""
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise DataQualityError(f"{path} is empty: expected a header row, then one row per product")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataQualityError(_undecodable(path, data, error)) from None
    if hint := _delimiter_hint(path, text.partition("\n")[0]):
        raise DataQualityError(hint)
    try:
        frame = read_catalog(path)
    except ValueError as error:  # unbalanced quotes, ragged rows
        hint = "; the file looks truncated" if "EOF inside string" in str(error) else ""
        raise DataQualityError(f"{str(error).strip()}{hint}") from None
    if short := _short_records(text, len(frame.columns)):
        raise DataQualityError(
            f"{path}: {len(short)} row(s) have fewer fields than the {len(frame.columns)} of the header, "
            f"ending on line(s) {short[:SAMPLE_SIZE]}; the file looks truncated"
        )
    return frame
