"""Scoring a catalog file of any size with a model bundle: chunk by chunk, in constant memory.

Each chunk is read, checked with the input suite, scored and appended to the predictions; the drift
and quality report accumulates counters over the chunks. What makes the whole file unusable stops the
run with an InputError before anything is written: a file that is not a CSV table, a missing column.
Row-level problems (blank ids or texts, unreadable prices, duplicate ids within a chunk) are counted
in the report instead, so one bad row does not cost a million good ones.

On a Dask cluster (prodcat/cluster/workers.py) each chunk is one task: every worker loads the bundle once,
and the predictions come back, and are written, in input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client

from prodcat.cluster.workers import map_ordered, worker_model, worker_path
from prodcat.core.errors import InputError
from prodcat.data.quality import DataQualityError, build_suite, check_header, run_suite
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.inference.drift import BatchMonitor, InputChecks
from prodcat.inference.predictor import predict

STRUCTURAL_CHECKS = ("required_columns",)  # a chunk failing these cannot be scored: the run stops
OUTPUT_FORMATS = (".parquet", ".csv")
REPORT_SUFFIX = ".report.json"
REPORT_PAGE_SUFFIX = ".report.html"


def report_path(output: str | Path) -> Path:
    """Where the drift and quality report of `output` goes: beside it, `<output>.report.json`."""
    return Path(f"{output}{REPORT_SUFFIX}")


def report_page_path(output: str | Path) -> Path:
    """The same report as an offline HTML page (prodcat/reports/batch_page.py): `<output>.report.html`."""
    return Path(f"{output}{REPORT_PAGE_SUFFIX}")


def check_output(path: str | Path) -> None:
    """Refuse an output format the predictions cannot be written in, before anything is scored."""
    if Path(path).suffix not in OUTPUT_FORMATS:
        raise InputError(f"predictions go to a .parquet or .csv file, not {path}")


def check_chunk_rows(chunk_rows: int) -> None:
    if chunk_rows < 1:
        raise InputError(f"chunk rows must be positive, got {chunk_rows}")


def check_run(source: str | Path, output: str | Path, chunk_rows: int) -> None:
    """What is refused before any progress is opened or anything scored: the output format, the chunk size, the file's header."""
    check_output(output)
    check_chunk_rows(chunk_rows)
    check_header(source)


def read_chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The catalog in chunks of `chunk_rows` rows, read as preprocess reads it (strings, blanks missing)."""
    check_chunk_rows(chunk_rows)
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
    suite = build_suite(bundle.dataset, bundle.input_checks)
    outcomes = run_suite(chunk, suite, name="batch", every_row=True).outcomes
    if missing := [o.message for o in outcomes if o.check in STRUCTURAL_CHECKS and not o.success]:
        raise DataQualityError(f"{source} cannot be scored:\n" + "\n".join(f"  - {message}" for message in missing))
    row_level = [o for o in outcomes if o.check not in STRUCTURAL_CHECKS]
    return InputChecks(
        flagged={o.key: len(o.flagged_rows) for o in row_level},
        failed_rows=len({row for o in row_level for row in o.flagged_rows}),
        tolerance={o.key: o.tolerance for o in row_level},
    )


ScoredChunk = tuple[pd.DataFrame, pd.DataFrame, InputChecks]  # features, predictions, input checks


def score_chunk(bundle: Bundle, chunk: pd.DataFrame, source: str, top_k: int = 3) -> ScoredChunk:
    """Check and score one chunk: what the batch report counts (features, checks) and the predictions."""
    checks = check_chunk(chunk, bundle, source)
    features = bundle.features(chunk)
    return features, predict(bundle.predictor, features, top_k).to_frame(), checks


def score_shard(chunk: pd.DataFrame, folder: str, fingerprint: str, source: str, top_k: int) -> ScoredChunk:
    """A worker task: `score_chunk` with the worker's copy of the bundle, loaded on its first chunk."""
    with worker_model(f"bundle:{folder}:{fingerprint}", lambda: load_bundle(folder)) as bundle:
        return score_chunk(bundle, chunk, source, top_k)


def score_chunks(
    bundle: Bundle, chunks: Iterable[pd.DataFrame], monitor: BatchMonitor, source: str, top_k: int = 3, client: Client | None = None
) -> Iterator[pd.DataFrame]:
    """The predictions of each chunk, in order, each chunk added to the batch report; one task per chunk on `client`."""
    if client is None:
        scored: Iterator[ScoredChunk] = (score_chunk(bundle, chunk, source, top_k) for chunk in chunks)
    else:
        scored = map_ordered(client, score_shard, chunks, worker_path(bundle.folder), bundle.manifest["fingerprint"], source, top_k)
    for features, predictions, checks in scored:
        monitor.add(features, predictions, checks)
        yield predictions


class PredictionsFile:
    """Predictions appended chunk by chunk to one Parquet file (one row group per chunk) or CSV file."""

    def __init__(self, path: Path) -> None:
        check_output(path)
        self.path = Path(path)
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: TextIO | None = None

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
