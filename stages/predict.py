"""Batch prediction with the model bundle: the predicted category and top-3 per product, and a drift report.

    python -m stages.predict --input new.csv --output predictions.parquet     # models/bundle
    python -m stages.predict --bundle path/to/bundle --input new.csv --output predictions.csv --chunk-rows 50000

The catalog is read, checked and scored in chunks, so its size does not change the memory used. Writes
the predictions (whole or not at all) and `<output>.report.json` beside them, with the same report as
an HTML page that opens offline (`<output>.report.html`): input-suite failures,
unseen categorical values, text-length, price and predicted-label shift against the training data,
low-confidence share, and warnings. A missing column or a file that is not a CSV table stops the run
before anything is written; row-level problems are counted in the report.
"""

from __future__ import annotations

import argparse
import time

from tqdm import tqdm

from prodcat.batch import PredictionsFile, read_chunks, report_page_path, report_path, score_chunk
from prodcat.bundle import load_bundle
from prodcat.cli import cli_errors
from prodcat.errors import InputError
from prodcat.io import atomic_file, write_json
from prodcat.report_page import render_report_page


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default="models/bundle", help="the model bundle (default: models/bundle, from `dvc repro`)")
    parser.add_argument("--input", required=True, help="catalog CSV with the bundle's dataset columns (the label column is optional)")
    parser.add_argument("--output", required=True, help="predictions (.parquet or .csv); the report goes to <output>.report.json")
    parser.add_argument("--chunk-rows", type=int, default=20000, help="rows read, checked and scored at a time (default: 20000)")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)
    with cli_errors("predict"):
        bundle = load_bundle(args.bundle)
        monitor = bundle.monitor()
        started = time.perf_counter()
        with (
            atomic_file(args.output) as scratch,
            atomic_file(report_path(args.output)) as report_scratch,
            atomic_file(report_page_path(args.output)) as page_scratch,
            PredictionsFile(scratch) as predictions,
            tqdm(desc="predict", unit=" products", unit_scale=True, mininterval=2) as progress,
        ):
            for chunk in read_chunks(args.input, args.chunk_rows):
                predictions.append(score_chunk(bundle, chunk, monitor, args.input, args.top_k))
                progress.update(len(chunk))
            if predictions.rows == 0:
                raise InputError(f"{args.input} has a header but no products")
            report = monitor.report()
            write_json(report_scratch, report)
            page_scratch.write_text(render_report_page(report), encoding="utf-8")
        seconds = time.perf_counter() - started
        print(
            f"predict: {predictions.rows} products with {bundle.manifest['variant']} in {seconds:.1f}s "
            f"({predictions.rows / seconds:.0f} products/s) -> {args.output}"
        )
        for warning in report["warnings"]:
            print(f"predict: warning: {warning}")
        print(f"predict: report -> {report_path(args.output)}, {report_page_path(args.output)}")


if __name__ == "__main__":
    main()
