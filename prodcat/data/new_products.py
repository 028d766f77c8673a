"""New products a person labelled from a batch's review queue, appended to the catalog for the next data version.

The reviewer writes each decision (id, label) into the corrections file, as for the audit's rows;
this appends those products' rows from the scored batch CSV to the catalog, category left blank: the
label comes from the corrections file, so every human decision sits in one file with its history.

    prodcat new-products --input new.csv     # appends to catalog.path (params.yaml)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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


def append_new_products(params_file: str | Path, batch_path: str | Path) -> tuple[int, str]:
    """Append to the catalog (params' `catalog.path`) the rows of the scored batch that the corrections file labels.

    Returns how many rows were appended and the catalog's path; a second run appends nothing more.
    """
    params = load_params(params_file)
    catalog = read_catalog(params.catalog.path)
    rows = reviewed_new_rows(catalog, read_catalog(batch_path), read_corrections(params.preprocess.corrections), params.catalog.id_column)
    with atomic_file(params.catalog.path) as scratch:
        pd.concat([catalog, rows], ignore_index=True).to_csv(scratch, index=False, lineterminator="\n")
    return len(rows), params.catalog.path
