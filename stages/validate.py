"""Stage validate: run the data-quality suite over the raw catalog; fail before any model time is spent."""

from __future__ import annotations

import logging

import pandas as pd

from prodcat.catalog import read_catalog
from prodcat.cli import stage_errors, stage_parser
from prodcat.io import write_json
from prodcat.params import load_params
from prodcat.quality import DataQualityError, build_suite, raise_for_failures, run_suite

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--summary", required=True, help="data-quality summary (a DVC metric)")
    args = parser.parse_args(argv)
    with stage_errors("validate"):
        params = load_params(args.params)
        catalog_path = params.data.catalog
        try:
            catalog = read_catalog(catalog_path)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise DataQualityError(f"cannot read {catalog_path} as a UTF-8 CSV: {error}") from None
        report = run_suite(catalog, build_suite(params.dataset, params.validation))
        raise_for_failures(report, catalog_path)
        write_json(args.summary, report.summary)
        log.info("%s passed %d data-quality expectations (%d rows)", catalog_path, report.evaluated, len(catalog))


if __name__ == "__main__":
    main()
