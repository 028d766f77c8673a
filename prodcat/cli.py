"""What every stage CLI shares: a params flag and errors shown as one readable message."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from prodcat.params import ParamsError

# Errors a user can act on: shown as a message, not a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ParamsError, ValueError, FileNotFoundError)


def stage_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return parser


@contextmanager
def stage_errors(stage: str) -> Iterator[None]:
    """Turn a user-facing error into `<stage>: error: ...` on stderr and exit status 1."""
    logging.basicConfig(level=logging.INFO, format=f"{stage}: %(message)s")
    try:
        yield
    except USER_ERRORS as error:
        print(f"{stage}: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
