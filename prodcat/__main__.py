"""`python -m prodcat ...`: the `prodcat` command where its script is not on PATH (tests, a scratch copy of the code)."""

from prodcat.cli import app

app(prog_name="prodcat")
