"""Stage preprocess: raw catalog -> labelled train/test Parquet files and the label map."""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.catalog import check_trainable, label_names, make_examples, read_catalog, split_examples
from prodcat.cli import stage_errors, stage_parser
from prodcat.io import atomic_dir, write_json
from prodcat.params import load_params

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--output", required=True, help="folder for train.parquet, test.parquet, labels.json")
    parser.add_argument("--report", required=True, help="row counts (a DVC metric)")
    args = parser.parse_args(argv)
    with stage_errors("preprocess"):
        params = load_params(args.params)
        raw = read_catalog(params.data.catalog)
        examples = make_examples(raw, params.dataset, params.preprocess, params.split.group_column)
        check_trainable(examples.frame["label"], params.preprocess.min_class_count)
        train, test = split_examples(examples.frame, params.split)
        with atomic_dir(args.output) as folder:
            train.to_parquet(Path(folder, "train.parquet"), index=False)
            test.to_parquet(Path(folder, "test.parquet"), index=False)
            write_json(Path(folder, "labels.json"), label_names(examples.frame["label"]))
        write_json(args.report, {**examples.report, "train_rows": len(train), "test_rows": len(test)})
        log.info("%d train / %d test rows, %d classes", len(train), len(test), examples.frame["label"].nunique())


if __name__ == "__main__":
    main()
