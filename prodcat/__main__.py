"""`python -m prodcat ...`: the `prodcat` command where its script is not on PATH (tests, a scratch copy of the code)."""

from prodcat.cli import app

if __name__ == "__main__":
    app(prog_name="prodcat")
