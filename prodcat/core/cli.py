"""What every CLI shares: the params and paths flags of a stage, and a user's mistake shown as one readable line.

Only `InputError` (prodcat/core/errors.py) is a user's mistake. Any other exception is left alone: it
surfaces with its traceback, and the flows (flows/dvc_runner.py) retry it as a possible transient.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from prodcat.core.errors import InputError


def stage_parser(description: str | None) -> argparse.ArgumentParser:
    """A DVC stage's flags: which params and which artifact paths (prodcat/core/paths.py) it runs with, nothing else."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--paths", default="paths.yaml", help="artifact paths file (default: paths.yaml)")
    return parser


@contextmanager
def cli_errors(prog: str) -> Iterator[None]:
    """Turn an InputError into `<prog>: error: ...` on stderr and exit status 1; log lines are prefixed `<prog>: `."""
    logging.basicConfig(level=logging.INFO, format=f"{prog}: %(message)s")
    try:
        yield
    except InputError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


# The stage CLIs' name for it: `with stage_errors("embed"):`.
stage_errors = cli_errors
