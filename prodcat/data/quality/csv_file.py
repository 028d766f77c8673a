"""Reading a catalog file as preprocess does, or saying why it is not a CSV table (empty, not UTF-8, `;`, cut off)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pandas as pd

from prodcat.data.catalog import read_catalog
from prodcat.data.quality.outcomes import SAMPLE_SIZE, DataQualityError

LIKELY_DELIMITERS = (";", "\t", "|")


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


def check_header(path: str | Path) -> None:
    """What can be told from the file's first non-blank line: it exists, is not empty, is UTF-8 and comma-separated.

    Reads one line, so it suits files too large to read whole (batch prediction reads those in chunks).
    """
    path = Path(path)
    if not path.is_file():
        raise DataQualityError(f"{path} not found: expected a CSV file with one row per product")
    with path.open("rb") as handle:
        header = next((line for line in handle if line.strip()), b"")
    if not header:
        raise DataQualityError(f"{path} is empty: expected a header row, then one row per product")
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataQualityError(_undecodable(path, header, error)) from None
    if hint := _delimiter_hint(path, text):
        raise DataQualityError(hint)


def read_checked(path: str | Path) -> pd.DataFrame:
    """Read the catalog as preprocess does, turning files that are not a CSV table into messages that say what to fix."""
    path = Path(path)
    check_header(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataQualityError(_undecodable(path, data, error)) from None
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
