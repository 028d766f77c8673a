"""Stage preprocess: raw catalog + reviewed corrections -> labelled train/validation/test Parquet files, the label map, and the unlabelled texts."""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.catalog import Corrections, check_trainable, make_examples, read_catalog
from prodcat.data.corrections import corrected_splits, read_corrections
from prodcat.data.splits import UNLABELLED, adaptation_rows, label_names, split_examples

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("preprocess"):
        params, paths = load_params(args.params), load_paths(args.paths)
        raw = read_catalog(params.catalog.path)
        corrections = Corrections(read_corrections(params.preprocess.corrections), params.preprocess.corrections)
        examples = make_examples(raw, params.catalog, corrections)
        check_trainable(examples.frame["label"], params.catalog.min_class_count)
        # The split is drawn from the catalog as labelled, so a correction moves no other row between splits.
        as_labelled = make_examples(raw, params.catalog).frame
        splits = corrected_splits(split_examples(as_labelled, params.preprocess), examples.frame)
        unlabelled = adaptation_rows(examples.unlabelled, [splits["validation"], splits["test"]])
        with atomic_dir(paths.processed) as folder:
            for name, frame in {**splits, UNLABELLED: unlabelled}.items():
                frame.to_parquet(Path(folder, f"{name}.parquet"), index=False)
            write_json(Path(folder, "labels.json"), label_names(examples.frame["label"]))
        rows = {f"{name}_rows": len(frame) for name, frame in {**splits, UNLABELLED: unlabelled}.items()}
        write_json(paths.preprocess_report, {**examples.report, **rows})
        log.info("%s rows, %d classes", " / ".join(f"{len(f)} {n}" for n, f in splits.items()), examples.frame["label"].nunique())


if __name__ == "__main__":
    main()
