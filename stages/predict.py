"""Batch prediction with the model bundle: the predicted category, top-3 and path levels per product, and a drift report.

    python -m stages.predict --input new.csv --output predictions.parquet     # models/bundle
    python -m stages.predict --bundle path/to/bundle --input new.csv --output predictions.csv --chunk-rows 50000
    python -m stages.predict --input new.csv --output predictions.parquet --workers 4          # a local Dask cluster
    python -m stages.predict --input new.csv --output predictions.parquet --scheduler tcp://host:8786

The catalog is read, checked and scored in chunks, so its size does not change the memory used. Writes
the predictions (whole or not at all) and `<output>.report.json` beside them, with the same report as
an HTML page that opens offline (`<output>.report.html`): input-suite failures,
unseen categorical values, text-length, price and predicted-label shift (per level of the label
paths) against the training data, low-confidence share, and warnings. Besides `predicted` and the
top-k columns, each level of the label paths gets `level_<j>` and `level_<j>_probability` (the summed
probability of the classes under the predicted path's level j; for flat labels, level 0 is the label). A missing column or a file that is not a CSV table stops the run
before anything is written; row-level problems are counted in the report.

A run resumes: each scored chunk is committed to `<output>.progress/` as it completes, so a run that
was killed (or crashed) goes on from its last complete chunk when the same command is run again, and
writes the same predictions and report as an uninterrupted run. Progress of another run (another bundle,
input file content, --chunk-rows or --top-k) is dropped and the run starts over, saying so; --restart
drops it always. The folder is removed once the output is written, and also when the input is unusable.

With --review-queue FILE the low-confidence predictions (top-1 probability below the bundle's
`bundle.low_confidence`) are also written to FILE in the review format of the audit stage
(prodcat/data/review.py, issue `low_confidence`, the prediction suggested): a person labels them in
`data/corrections.csv` (README, "Auditing labels"). It is written at the end, with the predictions, so a
resumed run writes it whole too.

With --workers or --scheduler each chunk is one task on a Dask cluster (the bundle is loaded once per
worker); the predictions are the same, in the same order. The bundle needs no params.yaml, so neither
does the cluster: it is given here, as the `cluster` params would give it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import nullcontext
from itertools import islice

import pandas as pd
from tqdm import tqdm

from prodcat.cluster.workers import open_cluster
from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError
from prodcat.core.io import atomic_file, write_json
from prodcat.core.params import ClusterParams, cluster_params
from prodcat.data.review import low_confidence_rows, review_frame
from prodcat.inference.batch import (
    PredictionsFile,
    check_run,
    read_chunks,
    report_page_path,
    report_path,
    score_chunks,
)
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.inference.progress import BatchProgress, progress_path, run_key
from prodcat.reports.batch_page import render_report_page


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default="models/bundle", help="the model bundle (default: models/bundle, from `dvc repro`)")
    parser.add_argument("--input", required=True, help="catalog CSV with the bundle's dataset columns (the label column is optional)")
    parser.add_argument("--output", required=True, help="predictions (.parquet or .csv); the report goes to <output>.report.json")
    parser.add_argument("--chunk-rows", type=int, default=20000, help="rows read, checked, scored and committed at a time (default: 20000)")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument(
        "--restart", action="store_true", help="ignore the progress of an earlier run into --output and score from the start"
    )
    parser.add_argument("--scheduler", help="score on this running Dask scheduler (tcp://host:8786); its workers must see --bundle")
    parser.add_argument(
        "--workers", type=int, default=0, help="score on a local Dask cluster of this many worker processes (default: 0, in-process)"
    )
    parser.add_argument("--threads-per-worker", type=int, default=1, help="threads of each local worker (default: 1)")
    parser.add_argument("--review-queue", help="also write the low-confidence predictions here (CSV, the audit's review format)")
    args = parser.parse_args(argv)
    with cli_errors("predict"):
        cluster = cluster_params(scheduler=args.scheduler, local_workers=args.workers, threads_per_worker=args.threads_per_worker)
        check_run(args.input, args.output, args.chunk_rows)
        bundle = load_bundle(args.bundle)
        key = run_key(bundle.manifest["fingerprint"], args.input, args.chunk_rows, args.top_k)
        progress = BatchProgress.open(progress_path(args.output), key, restart=args.restart)
        if progress.note:
            print(f"predict: {progress.note}", flush=True)
        try:
            resumed_rows = progress.rows
            report, seconds = score_file(args, bundle, progress, cluster)
        except InputError:
            progress.discard()  # the input is unusable: nothing a rerun of this file could resume
            raise
        progress.discard()
        earlier = f", {resumed_rows} of them scored by an earlier run" if resumed_rows else ""
        print(
            f"predict: {progress.rows} products with {bundle.manifest['variant']} in {seconds:.1f}s "
            f"({(progress.rows - resumed_rows) / seconds:.0f} products/s{earlier}) -> {args.output}"
        )
        for warning in report["warnings"]:
            print(f"predict: warning: {warning}")
        print(f"predict: report -> {report_path(args.output)}, {report_page_path(args.output)}")


def score_file(args: argparse.Namespace, bundle: Bundle, progress: BatchProgress, cluster: ClusterParams) -> tuple[dict, float]:
    """Score the chunks `progress` lacks, committing each, then write the output and its report from the committed chunks.

    Returns the report and the seconds this run took.
    """
    monitor = bundle.monitor()
    if progress.monitor is not None:
        monitor.restore(progress.monitor)
    started = time.perf_counter()
    remaining = islice(read_chunks(args.input, args.chunk_rows), progress.chunks, None)
    with (
        open_cluster(cluster) as client,
        tqdm(desc="predict", unit=" products", unit_scale=True, mininterval=2, initial=progress.rows) as bar,
    ):
        for scored in score_chunks(bundle, remaining, monitor, args.input, args.top_k, client):
            progress.commit(scored, monitor.counts())
            bar.update(len(scored))
    if progress.rows == 0:
        raise InputError(f"{args.input} has a header but no products")
    report = monitor.report()
    with (
        atomic_file(args.output) as scratch,
        atomic_file(report_path(args.output)) as report_scratch,
        atomic_file(report_page_path(args.output)) as page_scratch,
        atomic_file(args.review_queue) if args.review_queue else nullcontext() as queue_scratch,
    ):
        with PredictionsFile(scratch) as predictions:
            for frame in progress.frames():
                predictions.append(frame)
        write_json(report_scratch, report)
        page_scratch.write_text(render_report_page(report), encoding="utf-8")
        if queue_scratch:
            queue = review_queue(bundle, progress, read_chunks(args.input, args.chunk_rows))
            queue.to_csv(queue_scratch, index=False, lineterminator="\n")
            print(f"predict: {len(queue)} low-confidence products to review -> {args.review_queue}")
    return report, time.perf_counter() - started


def review_queue(bundle: Bundle, progress: BatchProgress, chunks: Iterator[pd.DataFrame]) -> pd.DataFrame:
    """The low-confidence predictions in the review format, with their texts read again from the input (parts hold no text)."""
    threshold = bundle.thresholds.low_confidence
    queued = [
        low_confidence_rows(frame, bundle.features(chunk)["text"], threshold)
        for frame, chunk in zip(progress.frames(), chunks, strict=True)
    ]
    return review_frame(pd.concat(queued, ignore_index=True))


if __name__ == "__main__":
    main()
