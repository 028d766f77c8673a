"""Batch runs that resume: each scored chunk is committed as it completes, so a killed run goes on from the last one.

    <output>.progress/
      progress.json         the run key (what must match to resume), the rows of each committed chunk,
                            the batch monitor's counts after the last one
      part-000000.parquet   the predictions of chunk 0, then 1, ...

A chunk is committed in two atomic steps: its part file (temp file + rename), then progress.json (temp
file + rename) naming it. progress.json is the commit point: a part it does not name (the process died
between the two renames) is scored again and replaced. A rerun with the same run key (bundle
fingerprint, input file bytes, chunk rows, top-k) skips the committed chunks and restores the monitor
from their counts, so the predictions and the report equal an uninterrupted run's. A different key, or
parts that are not as recorded, start over and say why: the old progress belongs to a run this command
cannot finish, and its output path is about to be written anyway. The output is assembled from the parts
only once every chunk is in (`frames`), and the folder is removed after success (`discard`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodcat.core.io import atomic_file, read_json, write_json
from prodcat.inference.bundle import file_sha256

PROGRESS_SUFFIX = ".progress"
RECORD = "progress.json"
PROGRESS_FORMAT = 2  # raise when the record, the parts or the monitor counts change meaning: progress of another format starts over


def progress_path(output: str | Path) -> Path:
    """Where the committed chunks of a run writing `output` are kept until it succeeds: `<output>.progress/`."""
    return Path(f"{output}{PROGRESS_SUFFIX}")


def committed_chunks(output: str | Path) -> int:
    """How many chunks a run writing `output` has committed so far (0 before the first): for whoever watches a run."""
    record = progress_path(output) / RECORD
    return len(read_json(record)["parts"]) if record.is_file() else 0


def run_key(bundle_fingerprint: str, source: str | Path, chunk_rows: int, top_k: int) -> dict:
    """What decides every committed chunk's content: a run resumes only from progress recorded under an equal key.

    The cluster flags are not in it: a chunk scored on Dask predicts the same labels, in the same order.
    """
    return {
        "format": PROGRESS_FORMAT,
        "bundle_fingerprint": bundle_fingerprint,
        "input_sha256": file_sha256(Path(source)),  # the content: a renamed or re-saved identical file still resumes
        "chunk_rows": chunk_rows,
        "top_k": top_k,
    }


@dataclass
class BatchProgress:
    """The committed chunks of one run: their rows, the monitor's counts after the last, and why an older progress was dropped."""

    folder: Path
    key: dict
    parts: list[int]  # rows of each committed chunk, in input order
    monitor: dict | None  # BatchMonitor.counts() after the last committed chunk; None before the first
    note: str = ""  # what `open` found: resumed, or why it started over

    @classmethod
    def open(cls, folder: Path, key: dict, restart: bool = False) -> BatchProgress:
        """The progress to continue under `key`: the recorded one if it matches and its parts are whole, else a fresh start."""
        if restart or not (folder / RECORD).is_file():
            return cls.fresh(folder, key, "starting over (--restart): earlier progress removed" if restart and folder.exists() else "")
        try:
            record = read_json(folder / RECORD)
            parts, monitor = record["parts"], record["monitor"]
            changed = [name for name in key if record["key"].get(name) != key[name]]
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls.fresh(folder, key, f"starting over: {folder / RECORD} is unreadable")
        if changed:
            return cls.fresh(folder, key, f"starting over: the progress in {folder} is of another run ({', '.join(changed)} differ)")
        for index, rows in enumerate(parts):
            if part_rows(part := folder / part_name(index)) != rows:
                return cls.fresh(folder, key, f"starting over: {part} is missing or not the {rows} rows recorded")
        progress = cls(folder, key, parts, monitor)
        progress.note = f"resuming after chunk {len(parts)} ({progress.rows} products committed in {folder})"
        return progress

    @classmethod
    def fresh(cls, folder: Path, key: dict, note: str) -> BatchProgress:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return cls(folder, key, [], None, note)

    @property
    def chunks(self) -> int:
        return len(self.parts)

    @property
    def rows(self) -> int:
        return sum(self.parts)

    def commit(self, predictions: pd.DataFrame, monitor: dict) -> None:
        """Add the next chunk: its part file first, then the record that names it (the commit point)."""
        with atomic_file(self.folder / part_name(self.chunks)) as scratch:
            predictions.to_parquet(scratch, index=False)
        self.parts.append(len(predictions))
        self.monitor = monitor
        write_json(self.folder / RECORD, {"key": self.key, "parts": self.parts, "monitor": monitor})

    def frames(self) -> Iterator[pd.DataFrame]:
        """The committed predictions, chunk by chunk in input order (one in memory at a time)."""
        for index in range(self.chunks):
            yield pd.read_parquet(self.folder / part_name(index))

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def part_rows(path: Path) -> int | None:
    """The rows a committed part holds, from its Parquet footer; None when it is missing or unreadable."""
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException):
        return None
