"""Batch prediction: validate a catalog without labels, then write the predicted category and top-3 per product.

    python -m stages.predict --input new.csv --output predictions.parquet     # the champion
    python -m stages.predict --variant sparse --input new.csv --output predictions.parquet

Uses what `dvc repro` trained (models/, data/processed/labels.json) and the `dataset` params.
"""

from __future__ import annotations

import time
from pathlib import Path

from prodcat.catalog import feature_frame
from prodcat.cli import stage_errors, stage_parser
from prodcat.io import atomic_file
from prodcat.params import load_params
from prodcat.predict import load_predictor, predict
from prodcat.quality import build_suite, raise_for_failures, read_checked, run_suite
from prodcat.variants import VARIANTS


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--variant", choices=list(VARIANTS), help="default: the champion chosen on validation (models/champion.json)")
    parser.add_argument("--input", required=True, help="catalog CSV with the `dataset` columns (the label column is optional)")
    parser.add_argument("--output", required=True, help="predictions (.parquet or .csv)")
    parser.add_argument("--models", default="models", help="the models folder that `dvc repro` filled")
    parser.add_argument("--labels", default="data/processed/labels.json", help="the label map written by preprocess")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)
    with stage_errors("predict"):
        params = load_params(args.params)
        raw = read_checked(args.input)
        suite = build_suite(params.dataset, params.validation, params.preprocess, with_labels=False)
        raise_for_failures(run_suite(raw, suite), args.input)
        predictor = load_predictor(args.variant, params, Path(args.models), Path(args.labels))
        started = time.perf_counter()
        predictions = predict(predictor, feature_frame(raw, params.dataset, params.preprocess.max_text_chars), args.top_k)
        seconds = time.perf_counter() - started
        with atomic_file(args.output) as scratch:
            predictions.to_csv(scratch, index=False) if scratch.suffix == ".csv" else predictions.to_parquet(scratch, index=False)
        print(f"predict: {len(predictions)} products with {predictor.name} in {seconds:.1f}s ({len(predictions) / seconds:.0f} products/s) -> {args.output}")


if __name__ == "__main__":
    main()
