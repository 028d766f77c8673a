"""Stage validate: run the data-quality suite over the raw catalog; fail before any model time is spent."""

from __future__ import annotations

import logging
from pathlib import Path

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.data.quality import build_suite, raise_for_failures, read_checked, run_suite, with_trainable_classes

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--report", required=True, help="data-quality summary (a DVC metric), written only on success")
    parser.add_argument("--data-docs", type=Path, help="folder for the Great Expectations Data Docs, written on every run")
    args = parser.parse_args(argv)
    with stage_errors("validate"):
        params = load_params(args.params)
        catalog_path = params.catalog.path
        catalog = read_checked(catalog_path)
        used = {*params.catalog.required_columns, params.catalog.group_column}
        unused = [column for column in catalog.columns if column not in used]
        if unused:
            log.info("%d column(s) not used by the pipeline (kept, not checked): %s", len(unused), unused)
        frame = with_trainable_classes(catalog, params.catalog)
        suite = build_suite(params.catalog, params.quality, params.catalog.min_class_count)
        if args.data_docs:
            with atomic_dir(args.data_docs) as folder:  # the report of this run only, never a mix of runs
                report = run_suite(frame, suite, data_docs=folder)
        else:
            report = run_suite(frame, suite)
        for warning in report.warnings:
            log.warning("warning: %s", warning)
        index = args.data_docs / "index.html" if args.data_docs else None
        raise_for_failures(report, catalog_path, index)
        write_json(args.report, report.summary)
        log.info(
            "%s passed %d of %d data-quality expectations (%d rows, %d warning(s))%s",
            catalog_path,
            report.summary["passed"],
            len(report.outcomes),
            len(catalog),
            len(report.warnings),
            f"; report: {index}" if index else "",
        )


if __name__ == "__main__":
    main()
