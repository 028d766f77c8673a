"""`prodcat profile` and `prodcat demo-catalog`: point the pipeline at a catalog, or write the demo one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodcat.core.cli import cli_errors
from prodcat.data.profiles import apply_profile, profile_path
from prodcat.data.synth import write_catalog


def profile(
    name: Annotated[
        str, typer.Argument(metavar="PROFILE", help="a shipped profile (a file name in profiles/, e.g. pricerunner) or a .yaml path")
    ],
    catalog: Annotated[str | None, typer.Option(help="also point catalog.path at this CSV (relative to the params file's folder)")] = None,
    params: Annotated[Path, typer.Option(help="the params file to rewrite")] = Path("params.yaml"),
) -> None:
    """Apply a catalog's profile (its column schema) to params.yaml, keeping its comments and every other value.

    Nothing is written unless the result validates. Then `dvc repro` trains on that catalog.
    """
    with cli_errors("prodcat profile"):
        apply_profile(params, profile_path(name), catalog)
    print(f"prodcat profile: {params}: applied profile {name}" + (f", catalog {catalog}" if catalog else ""))


def demo_catalog(
    output: Annotated[Path, typer.Option(help="the CSV to write")] = Path("data/default/catalog.csv"),
    rows: Annotated[int, typer.Option(help="products")] = 2400,
    seed: Annotated[int, typer.Option(help="the generator's seed: same rows and seed, same bytes")] = 7,
) -> None:
    """Write the synthetic demo catalog (Amazon Product Dataset 2020 columns); the defaults give data/default/catalog.csv."""
    with cli_errors("prodcat demo-catalog"):
        write_catalog(output, rows, seed)
    print(f"prodcat demo-catalog: {rows} products -> {output}")
