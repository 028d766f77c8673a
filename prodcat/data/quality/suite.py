"""The data-quality suite: expectations derived from the `catalog` params, run through a GX Checkpoint.

The suite is derived from the params, so another catalog gets its own checks without code changes.
A Checkpoint runs it and, when asked, writes offline Data Docs. Each expectation belongs to a named
check (`quality.warn_only` demotes checks to warnings).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction, ValidationAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.metadata_types import FailureSeverity

from prodcat.core.params import CatalogParams, DatasetParams, QualityParams
from prodcat.data.catalog import PRICE_PATTERN, trainable_labels
from prodcat.data.datadocs import SITE_NAME, site_config
from prodcat.data.quality.outcomes import QualityReport, outcomes_of

__all__ = ["PRICE_PATTERN", "build_suite", "category_path_pattern", "run_suite", "trainable_column", "with_trainable_classes"]

# GX logs at INFO, and one of its modules pins its own logger to INFO.
QUIET_LOGGERS = ("great_expectations", "great_expectations.data_context.types.base")


def category_path_pattern(separator: str, category_format: str = "plain") -> str:
    """ "A | B | C" with the configured separator: one or more levels, none of them blank; json_list: inside '["..."]'."""
    sep = re.escape(separator)
    level = rf"(?:(?!{sep})\s)*(?!{sep})\S(?:(?!{sep}).)*"
    path = rf"{level}(?:{sep}{level})*"
    return rf'^\[\s*"{path}"\s*\]$' if category_format == "json_list" else rf"^{path}$"


def trainable_column(dataset: DatasetParams, min_class_count: int) -> str:
    """Name of the derived column GX counts classes in; it says what it holds, for the report."""
    return f"{dataset.category_column} level {dataset.category_level} classes with {min_class_count}+ rows"


def with_trainable_classes(frame: pd.DataFrame, catalog: CatalogParams) -> pd.DataFrame:
    """The catalog plus each row's class as preprocess will train it, or missing when that class is too small.

    Same rule as preprocess: the label at `category_level`, rare deep labels backed off to an ancestor,
    rare top-level classes merged into "Other" or dropped; only classes that keep `min_class_count` rows count.
    """
    labels = pd.Series(None, index=frame.index, dtype=object)
    if catalog.category_column in frame:
        labels = trainable_labels(frame, catalog)
    kept = labels.map(labels.value_counts()).ge(catalog.min_class_count)
    return frame.assign(**{trainable_column(catalog, catalog.min_class_count): labels.where(kept)})


def build_suite(dataset: DatasetParams, quality: QualityParams, min_class_count: int | None = None) -> list[gxe.Expectation]:
    """Expectations for a training catalog whose classes need `min_class_count` rows; without it, the suite for prediction inputs.

    Prediction batches carry no labels and may be of any size: the label checks and row-count bounds are left out.
    """
    with_labels = min_class_count is not None

    def expect(check: str, rule: str, kind: type[gxe.Expectation], **kwargs: Any) -> gxe.Expectation:
        """Tag the expectation with its check and severity; Data Docs show the description in place of GX's text."""
        severity = FailureSeverity.WARNING if check in quality.warn_only else FailureSeverity.CRITICAL
        return kind(**kwargs, meta={"check": check}, severity=severity, description=f"{check} ({severity.value}): {rule}")

    label, price = dataset.category_column, dataset.price_column
    columns = [column for column in dataset.required_columns if with_labels or column != label]
    rows = f"{quality.min_rows} to {quality.max_rows}" if quality.max_rows else f"at least {quality.min_rows}"
    suite = [
        *[expect("required_columns", f"column '{c}' exists", gxe.ExpectColumnToExist, column=c) for c in columns],
        expect("id_not_null", f"'{dataset.id_column}' is filled in every row", gxe.ExpectColumnValuesToNotBeNull, column=dataset.id_column),
        expect("id_unique", f"'{dataset.id_column}' is unique", gxe.ExpectColumnValuesToBeUnique, column=dataset.id_column),
        *[
            expect(
                "text_nulls",
                f"'{c}' is filled in at least {quality.min_text_share:.0%} of rows",
                gxe.ExpectColumnValuesToNotBeNull,
                column=c,
                mostly=quality.min_text_share,
            )
            for c in dataset.text_columns
        ],
    ]
    if price:
        suite.append(
            expect(
                "price_format",
                f"at least {quality.min_price_share:.0%} of the filled '{price}' values are prices parse_price reads "
                "(12.99, 1,299.00, 10.99 - 15.99, 1.299,00 €, with or without a currency sign)",
                gxe.ExpectColumnValuesToMatchRegex,
                column=price,
                regex=PRICE_PATTERN,
                mostly=quality.min_price_share,
            )
        )
    if min_class_count is not None:
        suite += [
            expect("row_count", f"{rows} rows", gxe.ExpectTableRowCountToBeBetween, min_value=quality.min_rows, max_value=quality.max_rows),
            expect(
                "label_share",
                f"'{label}' is filled in at least {quality.min_label_share:.0%} of rows",
                gxe.ExpectColumnValuesToNotBeNull,
                column=label,
                mostly=quality.min_label_share,
            ),
            expect(
                "category_path",
                f"'{label}' is a path of non-empty levels separated by '{dataset.category_separator}'"
                + (' inside a JSON list ["..."]' if dataset.category_format == "json_list" else ""),
                gxe.ExpectColumnValuesToMatchRegex,
                column=label,
                regex=category_path_pattern(dataset.category_separator, dataset.category_format),
            ),
            expect(
                "trainable_classes",
                f"at least 2 classes keep {min_class_count}+ rows after the rare-class rule",
                gxe.ExpectColumnUniqueValueCountToBeBetween,
                column=trainable_column(dataset, min_class_count),
                min_value=2,
                max_value=None,
            ),
        ]
    return suite


def run_suite(
    frame: pd.DataFrame,
    expectations: list[gxe.Expectation],
    name: str = "catalog",
    data_docs: Path | None = None,
    every_row: bool = False,
) -> QualityReport:
    """Run the expectations through a GX Checkpoint over an in-memory DataFrame; Data Docs into `data_docs`.

    `every_row` keeps the index of every offending row (GX's COMPLETE result format), so rows failing
    any expectation can be counted; otherwise a few examples per expectation.
    """
    for logger in QUIET_LOGGERS:  # stages log at INFO: keep their lines, not GX's chatter
        logging.getLogger(logger).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions: list[ValidationAction] = []
    if data_docs is not None:
        context.add_data_docs_site(SITE_NAME, site_config(data_docs))  # type: ignore[arg-type]  # the site's config as GX's YAML has it
        actions = [UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])]
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=actions,
            result_format={
                "result_format": "COMPLETE" if every_row else "SUMMARY",
                "partial_unexpected_count": 10,
            },  # offending values kept per expectation
        )
    )
    run_id = RunIdentifier(run_name="validate", run_time=dt.datetime.now(dt.UTC))  # names the run in Data Docs
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    results = [result for run in outcome.run_results.values() for result in run.results]
    return QualityReport(outcomes_of(results, frame))
