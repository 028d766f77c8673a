"""Stage validate: run the data-quality suite over the raw catalog; fail before any model time is spent."""

from __future__ import annotations

import logging

from prodcat.core.cli import stage_errors, stage_parser
from prodcat.core.io import atomic_dir, write_json
from prodcat.core.params import load_params
from prodcat.core.paths import load_paths
from prodcat.data.quality import build_suite, raise_for_failures, read_checked, run_suite, with_trainable_classes

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__).parse_args(argv)
    with stage_errors("validate"):
        params, paths = load_params(args.params), load_paths(args.paths)
        catalog_path = params.catalog.path
        catalog = read_checked(catalog_path)
        used = {*params.catalog.required_columns, params.catalog.group_column}
        unused = [column for column in catalog.columns if column not in used]
        if unused:
            log.info("%d column(s) not used by the pipeline (kept, not checked): %s", len(unused), unused)
        frame = with_trainable_classes(catalog, params.catalog)
        suite = build_suite(params.catalog, params.quality, params.catalog.min_class_count)
        with atomic_dir(paths.data_docs) as folder:  # the report of this run only, never a mix of runs
            report = run_suite(frame, suite, data_docs=folder)
        for warning in report.warnings:
            log.warning("warning: %s", warning)
        index = paths.data_docs / "index.html"
        raise_for_failures(report, catalog_path, index)
        write_json(paths.data_quality, report.summary)
        log.info(
            "%s passed %d of %d data-quality expectations (%d rows, %d warning(s))%s",
            catalog_path,
            report.summary["passed"],
            len(report.outcomes),
            len(catalog),
            len(report.warnings),
            f"; report: {index}",
        )


if __name__ == "__main__":
    main()
