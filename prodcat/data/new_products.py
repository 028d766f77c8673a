"""New products a person labelled from a batch's review queue, appended to the catalog for the next data version.

The reviewer writes each decision (id, label) into the corrections file, as for the audit's rows;
this appends those products' rows from the scored batch CSV to the catalog, category left blank: the
label comes from the corrections file, so every human decision sits in one file with its history.

    python -m prodcat.data.new_products --input new.csv     # appends to catalog.path (params.yaml)
"""

from __future__ import annotations

import argparse

import pandas as pd

from prodcat.core.cli import cli_errors
from prodcat.core.io import atomic_file
from prodcat.core.params import load_params
from prodcat.data.catalog import read_catalog
from prodcat.data.corrections import read_corrections


def reviewed_new_rows(catalog: pd.DataFrame, batch: pd.DataFrame, corrections: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """The rows of a scored batch that a person labelled in `corrections` and the catalog does not hold yet, in the catalog's columns.

    Their label comes from the corrections file, whatever category the batch had.
    """
    new = batch[batch[id_column].isin(set(corrections["id"])) & ~batch[id_column].isin(set(catalog[id_column]))]
    return new.reindex(columns=catalog.columns)  # a column the batch lacks (its category, usually) is blank


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Append the new products labelled in the corrections file to the catalog.")
    parser.add_argument("--input", required=True, help="the batch CSV that was scored (`python -m stages.predict --input`)")
    parser.add_argument("--params", default="params.yaml", help="params file: the catalog, its id column, the corrections file")
    args = parser.parse_args(argv)
    with cli_errors("new_products"):
        params = load_params(args.params)
        catalog = read_catalog(params.catalog.path)
        rows = reviewed_new_rows(
            catalog, read_catalog(args.input), read_corrections(params.preprocess.corrections), params.catalog.id_column
        )
        with atomic_file(params.catalog.path) as scratch:
            pd.concat([catalog, rows], ignore_index=True).to_csv(scratch, index=False, lineterminator="\n")
        print(f"new_products: {len(rows)} labelled new products appended to {params.catalog.path}")


if __name__ == "__main__":
    main()
