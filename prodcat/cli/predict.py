"""`prodcat predict` and `prodcat batch-page`: batch prediction with a model bundle, and its report as a page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodcat.core.cli import cli_errors
from prodcat.core.io import read_json
from prodcat.core.params import cluster_params
from prodcat.inference.batch import report_page_path, report_path
from prodcat.inference.batch_run import predict_file
from prodcat.inference.drift import check_report_format
from prodcat.reports.batch_page import write_report_page


def predict(
    source: Annotated[Path, typer.Option("--input", help="catalog CSV with the bundle's dataset columns (the label column is optional)")],
    output: Annotated[Path, typer.Option(help="predictions (.parquet or .csv); the report goes to <output>.report.json and .report.html")],
    bundle: Annotated[Path, typer.Option(help="the model bundle (from `dvc repro`)")] = Path("models/bundle"),
    chunk_rows: Annotated[int, typer.Option(help="rows read, checked, scored and committed at a time")] = 20000,
    top_k: Annotated[int, typer.Option(help="categories kept per product, most likely first")] = 3,
    restart: Annotated[
        bool, typer.Option("--restart", help="drop the progress of an earlier run into --output and score from the start")
    ] = False,
    review_queue: Annotated[
        Path | None, typer.Option(help="also write the low-confidence predictions here (CSV, the review format; see `prodcat review`)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="score on this running Dask scheduler (tcp://host:8786); its workers must see --bundle")
    ] = None,
    workers: Annotated[int, typer.Option(help="score on a local Dask cluster of this many worker processes (0: in-process)")] = 0,
    threads_per_worker: Annotated[int, typer.Option(help="threads of each local worker")] = 1,
) -> None:
    """Predict the category of every product in a catalog CSV: top-k categories, each level's probability, a drift report.

    The file is scored in chunks (constant memory). A run resumes: each chunk is committed to
    <output>.progress/, and the same command run again after a crash or a kill goes on from the last
    complete chunk and writes the same files. The outputs are written whole or not at all.
    """
    with cli_errors("prodcat predict"):
        cluster = cluster_params(scheduler=scheduler, local_workers=workers, threads_per_worker=threads_per_worker)
        run = predict_file(
            bundle,
            source,
            output,
            chunk_rows=chunk_rows,
            top_k=top_k,
            restart=restart,
            cluster=cluster,
            review_queue=review_queue,
            note=lambda line: print(f"prodcat predict: {line}", flush=True),
        )
    earlier = f", {run.resumed} of them scored by an earlier run" if run.resumed else ""
    print(
        f"prodcat predict: {run.rows} products with {run.variant} in {run.seconds:.1f}s "
        f"({(run.rows - run.resumed) / run.seconds:.0f} products/s{earlier}) -> {output}"
    )
    for warning in run.report["warnings"]:
        print(f"prodcat predict: warning: {warning}")
    print(f"prodcat predict: report -> {report_path(output)}, {report_page_path(output)}")
    if run.queued is not None:
        print(f"prodcat predict: {run.queued} low-confidence products to review -> {review_queue}")


def batch_page(
    report: Annotated[Path, typer.Argument(metavar="REPORT", help="a batch report JSON (<output>.report.json of `prodcat predict`)")],
    output: Annotated[Path | None, typer.Option(help="the page (default: the report's path with .html)")] = None,
) -> None:
    """Render a batch report JSON again as the HTML page that opens offline (`prodcat predict` writes both)."""
    with cli_errors("prodcat batch-page"):
        if report.is_file():
            check_report_format(read_json(report))  # a report of an older prodcat is refused, naming the fix
        print(write_report_page(report, output))
