"""Data-quality checks on a raw catalog with Great Expectations (GX Core 1.x).

The suite is derived from the `dataset` params, so another catalog gets its own checks without
code changes. A Checkpoint runs it; the outcome is reduced to a summary DVC can track as a metric
and to one readable line per failed expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from prodcat.params import DatasetParams, ValidationParams


class DataQualityError(ValueError):
    """The catalog failed its data-quality suite; the message names every failed expectation."""


def build_suite(dataset: DatasetParams, validation: ValidationParams, with_labels: bool = True) -> list[gxe.Expectation]:
    """Expectations for a catalog; `with_labels=False` gives the suite for prediction inputs."""
    columns = [column for column in dataset.required_columns if with_labels or column != dataset.category_column]
    expectations: list[gxe.Expectation] = [gxe.ExpectColumnToExist(column=column) for column in columns]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column=dataset.id_column),
        gxe.ExpectColumnValuesToBeUnique(column=dataset.id_column),
    ]
    if with_labels:
        expectations.append(
            gxe.ExpectColumnValuesToNotBeNull(column=dataset.category_column, mostly=validation.min_label_share)
        )
    return expectations


@dataclass(frozen=True)
class QualityReport:
    success: bool
    evaluated: int
    passed: int
    failures: list[str]

    @property
    def summary(self) -> dict[str, float | int | bool]:
        """What DVC tracks as the data-quality metric."""
        return {
            "success": self.success,
            "expectations": self.evaluated,
            "passed": self.passed,
            "failed": self.evaluated - self.passed,
            "success_percent": round(100 * self.passed / self.evaluated, 2) if self.evaluated else 100.0,
        }


def _describe_failure(result) -> str:
    config = result.expectation_config
    column = config.kwargs.get("column")
    where = f" on column {column!r}" if column else ""
    details = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"{config.type}{where}: could not be evaluated ({result.exception_info['exception_message']})"
    if config.type == "expect_column_to_exist":
        return f"{config.type}{where}: the column is missing"
    count, percent = details.get("unexpected_count"), details.get("unexpected_percent")
    examples = [value for value in details.get("partial_unexpected_list", []) if not pd.isna(value)][:3]
    mostly = config.kwargs.get("mostly")
    allowed = f" (at most {100 * (1 - mostly):.1f}% allowed)" if mostly is not None else ""
    sample = f", e.g. {[str(value)[:60] for value in examples]}" if examples else ""
    return f"{config.type}{where}: {count} unexpected values ({percent:.1f}%){allowed}{sample}"


def run_suite(frame: pd.DataFrame, expectations: list[gxe.Expectation], name: str = "catalog") -> QualityReport:
    """Run the expectations through a GX Checkpoint over an in-memory DataFrame."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=name, validation_definitions=[definition], result_format={"result_format": "SUMMARY"})
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    results = [result for run in outcome.run_results.values() for result in run.results]
    failures = [_describe_failure(result) for result in results if not result.success]
    return QualityReport(
        success=not failures, evaluated=len(results), passed=len(results) - len(failures), failures=failures
    )


def raise_for_failures(report: QualityReport, source: str) -> None:
    if not report.success:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        raise DataQualityError(
            f"{source} failed {len(report.failures)} of {report.evaluated} data-quality expectations:\n{lines}"
        )
