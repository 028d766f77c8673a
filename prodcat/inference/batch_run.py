"""One batch run over a catalog file: resumable, written whole or not at all, with its report, page and review queue.

The catalog is read, checked and scored in chunks (prodcat/inference/batch.py), so its size does not
change the memory used. Each scored chunk is committed to `<output>.progress/` as it completes
(prodcat/inference/progress.py): a run that was killed goes on from its last complete chunk when run
again with the same bundle, input, chunk size and top-k, and writes the same files as an uninterrupted
run. At the end it writes the predictions, `<output>.report.json`, the same report as an offline page
(`<output>.report.html`) and, when asked, the low-confidence predictions in the review format
(prodcat/data/review.py); then the progress folder is removed. An unusable input removes it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from prodcat.cluster.workers import open_cluster
from prodcat.core.errors import InputError
from prodcat.core.io import atomic_file, write_json
from prodcat.core.params import ClusterParams
from prodcat.data.review import low_confidence_rows, review_frame
from prodcat.inference.batch import PredictionsFile, check_run, read_chunks, report_page_path, report_path, score_chunks
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.inference.progress import BatchProgress, progress_path, run_key
from prodcat.reports.batch_page import render_report_page


@dataclass(frozen=True)
class BatchRun:
    """What a finished run did: its products (`resumed` of them scored by an earlier run), its report, its review queue's size."""

    variant: str
    rows: int
    resumed: int
    seconds: float
    report: dict
    queued: int | None  # None without a review queue


def predict_file(
    bundle_folder: str | Path,
    source: str | Path,
    output: str | Path,
    *,
    chunk_rows: int = 20000,
    top_k: int = 3,
    restart: bool = False,
    cluster: ClusterParams | None = None,
    review_queue: str | Path | None = None,
    note: Callable[[str], None] = print,
) -> BatchRun:
    """Score `source` with the bundle into `output`, resuming the progress of the same run unless `restart`.

    `note` hears, before scoring, why earlier progress is resumed or dropped. An unusable input raises
    InputError before anything is written; with `cluster`, each chunk is one task on that Dask cluster.
    """
    check_run(source, output, chunk_rows)
    bundle = load_bundle(bundle_folder)
    key = run_key(bundle.manifest["fingerprint"], source, chunk_rows, top_k)
    progress = BatchProgress.open(progress_path(output), key, restart=restart)
    if progress.note:
        note(progress.note)
    resumed = progress.rows
    try:
        report, queued, seconds = _score_and_write(
            bundle, progress, cluster or ClusterParams(), source, output, chunk_rows, top_k, review_queue
        )
    except InputError:
        progress.discard()  # the input is unusable: nothing a rerun of this file could resume
        raise
    progress.discard()
    return BatchRun(bundle.manifest["variant"], progress.rows, resumed, seconds, report, queued)


def _score_and_write(
    bundle: Bundle,
    progress: BatchProgress,
    cluster: ClusterParams,
    source: str | Path,
    output: str | Path,
    chunk_rows: int,
    top_k: int,
    review_queue: str | Path | None,
) -> tuple[dict, int | None, float]:
    """Score the chunks `progress` lacks, committing each, then write the output files from the committed chunks.

    Returns the report, the review queue's length and the seconds this run took.
    """
    monitor = bundle.monitor()
    if progress.monitor is not None:
        monitor.restore(progress.monitor)
    started = time.perf_counter()
    remaining = islice(read_chunks(source, chunk_rows), progress.chunks, None)
    with (
        open_cluster(cluster) as client,
        tqdm(desc="predict", unit=" products", unit_scale=True, mininterval=2, initial=progress.rows) as bar,
    ):
        for scored in score_chunks(bundle, remaining, monitor, str(source), top_k, client):
            progress.commit(scored, monitor.counts())
            bar.update(len(scored))
    if progress.rows == 0:
        raise InputError(f"{source} has a header but no products")
    report = monitor.report()
    queued = None
    with (
        atomic_file(output) as scratch,
        atomic_file(report_path(output)) as report_scratch,
        atomic_file(report_page_path(output)) as page_scratch,
        atomic_file(review_queue) if review_queue else nullcontext() as queue_scratch,
    ):
        with PredictionsFile(scratch) as predictions:
            for frame in progress.frames():
                predictions.append(frame)
        write_json(report_scratch, report)
        page_scratch.write_text(render_report_page(report), encoding="utf-8")
        if queue_scratch:
            queue = low_confidence_queue(bundle, progress, read_chunks(source, chunk_rows))
            queue.to_csv(queue_scratch, index=False, lineterminator="\n")
            queued = len(queue)
    return report, queued, time.perf_counter() - started


def low_confidence_queue(bundle: Bundle, progress: BatchProgress, chunks: Iterator[pd.DataFrame]) -> pd.DataFrame:
    """The low-confidence predictions in the review format, with their texts read again from the input (parts hold no text)."""
    threshold = bundle.thresholds.low_confidence
    queued = [
        low_confidence_rows(frame, bundle.features(chunk)["text"], threshold)
        for frame, chunk in zip(progress.frames(), chunks, strict=True)
    ]
    return review_frame(pd.concat(queued, ignore_index=True))
