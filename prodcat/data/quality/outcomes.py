"""GX validation results as outcomes: one readable line per failed expectation, the summary DVC tracks, the error."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from great_expectations.expectations.metadata_types import FailureSeverity

from prodcat.core.errors import InputError

SAMPLE_SIZE = 3  # offending values or rows shown per failed expectation


class DataQualityError(InputError):
    """The catalog failed its data-quality suite; the message names every failed expectation."""


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
    tolerance: float = 0.0  # share of rows the expectation lets fail (1 - mostly)
    flagged_rows: tuple = ()  # index labels of the offending rows, when the suite ran with every_row

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


def outcomes_of(results: list, frame: pd.DataFrame) -> list[Outcome]:
    """Results as outcomes; an expectation on a missing column is folded into that column's own failure."""
    exists = "expect_column_to_exist"
    missing = {r.expectation_config.kwargs["column"] for r in results if r.expectation_config.type == exists and not r.success}
    dependents = Counter(r.expectation_config.kwargs.get("column") for r in results if r.expectation_config.type != exists)
    outcomes = []
    for result in results:
        config = result.expectation_config
        column = config.kwargs.get("column")
        outcomes.append(
            Outcome(
                check=config.meta["check"],
                column=column,
                critical=config.severity == FailureSeverity.CRITICAL,
                success=result.success,
                observed=_observed(result.result or {}),
                message=_describe(result, frame, dependents[column] if column in missing else 0),
                folded=column in missing and config.type != exists,
                tolerance=1 - config.kwargs.get("mostly", 1.0) if config.kwargs.get("mostly") is not None else 0.0,
                flagged_rows=tuple((result.result or {}).get("unexpected_index_list") or ()),
            )
        )
    return outcomes


def raise_for_failures(report: QualityReport, source: str, data_docs: Path | None = None) -> None:
    """Stop with every critical failure, one per line, and where the Data Docs report is."""
    if not report.success:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        where = f"\nreport: {data_docs}" if data_docs else ""
        raise DataQualityError(
            f"{source} failed {len(report.failures)} critical data-quality "
            f"expectation{'s' * (len(report.failures) > 1)} of {len(report.outcomes)}:\n{lines}{where}"
        )
