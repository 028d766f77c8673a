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

With --review-queue FILE the low-confidence predictions (top-1 probability below the bundle's
`bundle.low_confidence`) are also written to FILE in the review format of the audit stage
(prodcat/data/review.py, issue `low_confidence`, the prediction suggested): a person labels them in
`data/corrections.csv` (README, "Auditing labels").

With --workers or --scheduler each chunk is one task on a Dask cluster (the bundle is loaded once per
worker); the predictions are the same, in the same order. The bundle needs no params.yaml, so neither
does the cluster: it is given here, as the `cluster` params would give it.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from collections.abc import Iterator
from contextlib import nullcontext

import pandas as pd
from tqdm import tqdm

from prodcat.cluster.workers import open_cluster
from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError
from prodcat.core.io import atomic_file, write_json
from prodcat.core.params import cluster_params
from prodcat.data.review import low_confidence_rows, review_frame
from prodcat.inference.batch import PredictionsFile, read_chunks, report_page_path, report_path, score_chunks
from prodcat.inference.bundle import load_bundle
from prodcat.reports.batch_page import render_report_page


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default="models/bundle", help="the model bundle (default: models/bundle, from `dvc repro`)")
    parser.add_argument("--input", required=True, help="catalog CSV with the bundle's dataset columns (the label column is optional)")
    parser.add_argument("--output", required=True, help="predictions (.parquet or .csv); the report goes to <output>.report.json")
    parser.add_argument("--chunk-rows", type=int, default=20000, help="rows read, checked and scored at a time (default: 20000)")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--scheduler", help="score on this running Dask scheduler (tcp://host:8786); its workers must see --bundle")
    parser.add_argument(
        "--workers", type=int, default=0, help="score on a local Dask cluster of this many worker processes (default: 0, in-process)"
    )
    parser.add_argument("--threads-per-worker", type=int, default=1, help="threads of each local worker (default: 1)")
    parser.add_argument("--review-queue", help="also write the low-confidence predictions here (CSV, the audit's review format)")
    args = parser.parse_args(argv)
    with cli_errors("predict"):
        cluster = cluster_params(scheduler=args.scheduler, local_workers=args.workers, threads_per_worker=args.threads_per_worker)
        bundle = load_bundle(args.bundle)
        monitor = bundle.monitor()
        started = time.perf_counter()
        with (
            atomic_file(args.output) as scratch,
            atomic_file(report_path(args.output)) as report_scratch,
            atomic_file(report_page_path(args.output)) as page_scratch,
            atomic_file(args.review_queue) if args.review_queue else nullcontext() as queue_scratch,
            PredictionsFile(scratch) as predictions,
            open_cluster(cluster) as client,
            tqdm(desc="predict", unit=" products", unit_scale=True, mininterval=2) as progress,
        ):
            pending, queued = deque(), []
            chunks = remembered(read_chunks(args.input, args.chunk_rows), pending)
            for scored in score_chunks(bundle, chunks, monitor, args.input, args.top_k, client):
                predictions.append(scored)
                progress.update(len(scored))
                chunk = pending.popleft()  # predictions come back in input order
                if queue_scratch:
                    queued.append(low_confidence_rows(scored, bundle.features(chunk)["text"], bundle.thresholds.low_confidence))
            if predictions.rows == 0:
                raise InputError(f"{args.input} has a header but no products")
            report = monitor.report()
            write_json(report_scratch, report)
            page_scratch.write_text(render_report_page(report), encoding="utf-8")
            if queue_scratch:
                review_frame(pd.concat(queued, ignore_index=True)).to_csv(queue_scratch, index=False, lineterminator="\n")
        seconds = time.perf_counter() - started
        print(
            f"predict: {predictions.rows} products with {bundle.manifest['variant']} in {seconds:.1f}s "
            f"({predictions.rows / seconds:.0f} products/s) -> {args.output}"
        )
        for warning in report["warnings"]:
            print(f"predict: warning: {warning}")
        print(f"predict: report -> {report_path(args.output)}, {report_page_path(args.output)}")
        if args.review_queue:
            print(f"predict: {sum(map(len, queued))} low-confidence products to review -> {args.review_queue}")


def remembered(chunks: Iterator[pd.DataFrame], pending: deque) -> Iterator[pd.DataFrame]:
    """The chunks, each also kept in `pending` until its predictions are back (for the review queue's texts)."""
    for chunk in chunks:
        pending.append(chunk)
        yield chunk


if __name__ == "__main__":
    main()
