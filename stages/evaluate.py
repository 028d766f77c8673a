"""Stage evaluate: test-split accuracy, macro-F1 and per-class scores per variant; confusion matrices as DVC plots."""

from __future__ import annotations

import logging
from pathlib import Path

import xgboost as xgb

from prodcat.classifier import TabularEncoding, design_matrix, predict_proba
from prodcat.catalog import read_split
from prodcat.cli import stage_errors, stage_parser
from prodcat.embedding import load_matrix
from prodcat.io import atomic_dir, read_json, write_json
from prodcat.metrics import confusion_rows, per_class_metrics, summary_metrics
from prodcat.params import load_params

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--data", required=True, help="preprocess output folder (test.parquet, labels.json)")
    parser.add_argument("--embeddings", required=True, help="embed output folder")
    parser.add_argument("--boosters", required=True, help="train_xgb output folder (<variant>.ubj, tabular.json)")
    parser.add_argument("--report", required=True, help="accuracy and macro_f1 per variant (a DVC metric)")
    parser.add_argument("--per-class", required=True, help="per-class precision/recall/F1 per variant (a DVC metric)")
    parser.add_argument("--plots", required=True, help="folder of <variant>.json confusion rows (a DVC plot)")
    args = parser.parse_args(argv)
    with stage_errors("evaluate"):
        params = load_params(args.params)
        test, names, truth = read_split(args.data, "test")
        encoding = TabularEncoding.from_json(read_json(Path(args.boosters, "tabular.json")))
        tabular = encoding.transform(test)
        summary, per_class = {}, {}
        with atomic_dir(args.plots) as plots:
            for variant in params.embed.variants:
                booster = xgb.Booster(model_file=str(Path(args.boosters, f"{variant}.ubj")))
                matrix = design_matrix(load_matrix(Path(args.embeddings, variant, "test")), tabular, encoding)
                predicted = predict_proba(booster, matrix).argmax(axis=1)
                summary[variant] = summary_metrics(truth, predicted)
                per_class[variant] = per_class_metrics(truth, predicted, names)
                write_json(Path(plots, f"{variant}.json"), confusion_rows(truth, predicted, names))
                log.info("%s: accuracy %.4f, macro-F1 %.4f", variant, summary[variant]["accuracy"], summary[variant]["macro_f1"])
            write_json(args.report, summary)
            write_json(args.per_class, per_class)


if __name__ == "__main__":
    main()
