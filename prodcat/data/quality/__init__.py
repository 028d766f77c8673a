"""Data-quality checks on a raw catalog with Great Expectations (GX Core 1.x), one module per job.

- `suite`: the expectations, derived from the `catalog` params, and running them through a Checkpoint;
- `outcomes`: GX results as outcomes, the summary DVC tracks, and the error a user reads;
- `csv_file`: a catalog file read as preprocess reads it, or a message saying why it is not a CSV table.

The names below are the package's API (stages import them from here).
"""

from prodcat.data.quality.csv_file import check_header, read_checked
from prodcat.data.quality.outcomes import DataQualityError, Outcome, QualityReport, raise_for_failures
from prodcat.data.quality.suite import (
    PRICE_PATTERN,
    build_suite,
    category_path_pattern,
    run_suite,
    trainable_column,
    with_trainable_classes,
)

__all__ = [
    "PRICE_PATTERN",
    "DataQualityError",
    "Outcome",
    "QualityReport",
    "build_suite",
    "category_path_pattern",
    "check_header",
    "raise_for_failures",
    "read_checked",
    "run_suite",
    "trainable_column",
    "with_trainable_classes",
]
