"""Scoring a catalog file of any size with a model bundle: chunk by chunk, in constant memory.

Each chunk is read, checked with the input suite, scored and appended to the predictions; the drift
and quality report accumulates counters over the chunks. What makes the whole file unusable stops the
run with an InputError before anything is written: a file that is not a CSV table, a missing column.
Row-level problems (blank ids or texts, unreadable prices, duplicate ids within a chunk) are counted
in the report instead, so one bad row does not cost a million good ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodcat.bundle import Bundle
from prodcat.drift import BatchMonitor, InputChecks
from prodcat.errors import InputError
from prodcat.params import PreprocessParams
from prodcat.predict import predict
from prodcat.quality import DataQualityError, build_suite, check_header, run_suite

STRUCTURAL_CHECKS = ("required_columns",)  # a chunk failing these cannot be scored: the run stops
OUTPUT_FORMATS = (".parquet", ".csv")
REPORT_SUFFIX = ".report.json"
REPORT_PAGE_SUFFIX = ".report.html"


def report_path(output: str | Path) -> Path:
    """Where the drift and quality report of `output` goes: beside it, `<output>.report.json`."""
    return Path(f"{output}{REPORT_SUFFIX}")


def report_page_path(output: str | Path) -> Path:
    """The same report as an offline HTML page (prodcat/report_page.py): `<output>.report.html`."""
    return Path(f"{output}{REPORT_PAGE_SUFFIX}")


def read_chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The catalog in chunks of `chunk_rows` rows, read as preprocess reads it (strings, blanks missing)."""
    if chunk_rows < 1:
        raise InputError(f"chunk rows must be positive, got {chunk_rows}")
    check_header(path)
    try:
        with pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8", chunksize=chunk_rows) as reader:
            yield from reader
    except UnicodeDecodeError as error:
        raise DataQualityError(f"{path} is not UTF-8 (byte 0x{error.object[error.start]:02x}); re-save the file as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        hint = "; the file looks truncated" if "EOF inside string" in str(error) else ""
        raise DataQualityError(f"cannot read {path} as a CSV table: {str(error).strip()}{hint}") from None


def check_chunk(chunk: pd.DataFrame, bundle: Bundle, source: str) -> InputChecks:
    """The input suite (without label checks) on one chunk: stops on a missing column, counts the offending rows of the rest."""
    suite = build_suite(bundle.dataset, bundle.input_checks, PreprocessParams(), with_labels=False)
    outcomes = run_suite(chunk, suite, name="batch", every_row=True).outcomes
    if missing := [o.message for o in outcomes if o.check in STRUCTURAL_CHECKS and not o.success]:
        raise DataQualityError(f"{source} cannot be scored:\n" + "\n".join(f"  - {message}" for message in missing))
    row_level = [o for o in outcomes if o.check not in STRUCTURAL_CHECKS]
    return InputChecks(
        flagged={o.key: len(o.flagged_rows) for o in row_level},
        failed_rows=len({row for o in row_level for row in o.flagged_rows}),
        tolerance={o.key: o.tolerance for o in row_level},
    )


def score_chunk(bundle: Bundle, chunk: pd.DataFrame, monitor: BatchMonitor, source: str, top_k: int = 3) -> pd.DataFrame:
    """Check and score one chunk, adding it to the batch report; its predictions."""
    checks = check_chunk(chunk, bundle, source)
    features = bundle.features(chunk)
    predictions = predict(bundle.predictor, features, top_k)
    monitor.add(features, predictions, checks)
    return predictions


class PredictionsFile:
    """Predictions appended chunk by chunk to one Parquet file (one row group per chunk) or CSV file."""

    def __init__(self, path: Path) -> None:
        if Path(path).suffix not in OUTPUT_FORMATS:
            raise InputError(f"predictions go to a .parquet or .csv file, not {path}")
        self.path = Path(path)
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv = None

    def append(self, predictions: pd.DataFrame) -> None:
        if self.path.suffix == ".csv":
            if self._csv is None:
                self._csv = self.path.open("w", encoding="utf-8", newline="")
            predictions.to_csv(self._csv, index=False, header=self.rows == 0, lineterminator="\n")
        else:
            table = pa.Table.from_pandas(predictions, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        self.rows += len(predictions)

    def __enter__(self) -> PredictionsFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for handle in (self._parquet, self._csv):
            if handle is not None:
                handle.close()
