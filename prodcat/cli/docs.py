"""`prodcat docs`: the documentation site (MkDocs, from docs/ and mkdocs.yml in the repository) served or built locally."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError

CONFIG = Path("mkdocs.yml")


def mkdocs_command(build: bool, address: str) -> list[str]:
    """The MkDocs command line: a strict build into site/, or a live-reloading server."""
    if build:
        return [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG)]
    return [sys.executable, "-m", "mkdocs", "serve", "--config-file", str(CONFIG), "--dev-addr", address]


def docs(
    build: Annotated[
        bool, typer.Option("--build", help="build the site into site/ (strict: a broken link fails) instead of serving it")
    ] = False,
    address: Annotated[str, typer.Option("--addr", help="host:port of the local server")] = "127.0.0.1:8000",
) -> None:
    """Serve the documentation site at http://127.0.0.1:8000, reloading on edits; run from the repository root."""
    with cli_errors("prodcat docs"):
        if not CONFIG.is_file():
            raise InputError(f"no {CONFIG} here: run this in a clone of the repository, at its root")
        if importlib.util.find_spec("mkdocs") is None:
            raise InputError("MkDocs is not installed: pip install -e '.[dev]' (or `make install`)")
    try:
        status = subprocess.run(mkdocs_command(build, address), check=False).returncode
    except KeyboardInterrupt:  # Ctrl-C is how a reader stops the server
        status = 0
    raise typer.Exit(status)
