"""`prodcat review` and `prodcat new-products`: a person's decisions into the corrections file, and new products into the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError
from prodcat.core.params import load_params
from prodcat.data.corrections import add_corrections
from prodcat.data.new_products import append_new_products
from prodcat.data.review import DECISION, decided_corrections

PARAMS_HELP = "params file: the corrections file (preprocess.corrections), the catalog and its id column"


def review(
    queue: Annotated[Path, typer.Argument(metavar="QUEUE", help=f"a review queue CSV with a `{DECISION}` column filled in")],
    params: Annotated[Path, typer.Option(help=PARAMS_HELP)] = Path("params.yaml"),
) -> None:
    """Add a reviewed queue's decisions to the corrections file, which the next `dvc repro` applies.

    The queue is the audit's (reports/audit/label_issues.csv) or a batch's (`prodcat predict
    --review-queue`), with a `decision` column added: per row `accept` (the suggested label),
    `keep` (the given label is right), `exclude` (drop the row) or the right label as labels.json
    spells it; a blank decision is left for later. The file's lines are kept; an id it already
    corrects to another label stops the run with nothing written.
    """
    with cli_errors("prodcat review"):
        corrections = load_params(params).preprocess.corrections
        if not queue.is_file():
            raise InputError(f"no reviewed queue at {queue}")
        try:
            reviewed = pd.read_csv(queue, dtype=str, keep_default_na=False, encoding="utf-8")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise InputError(f"{queue} is not a UTF-8 CSV table: {error}") from None
        decided, undecided = decided_corrections(reviewed, str(queue))
        added, present = add_corrections(corrections, decided, str(queue))
    print(f"prodcat review: {added} corrections added to {corrections} ({present} already there, {undecided} rows not decided yet)")


def new_products(
    source: Annotated[Path, typer.Option("--input", help="the batch CSV that was scored (`prodcat predict --input`)")],
    params: Annotated[Path, typer.Option(help=PARAMS_HELP)] = Path("params.yaml"),
) -> None:
    """Append the batch's products that the corrections file labels to the catalog (once), their category blank.

    Their label comes from the corrections file, so every human decision is in one file. Then `dvc repro`.
    """
    with cli_errors("prodcat new-products"):
        appended, catalog = append_new_products(params, source)
    print(f"prodcat new-products: {appended} labelled new products appended to {catalog}")
