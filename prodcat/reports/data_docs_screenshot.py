"""A PNG of a Data Docs site's newest validation page, as it renders offline (headless Chromium, prodcat.reports.browser).

    python -m prodcat.reports.data_docs_screenshot reports/data_docs --output reports/data_docs.png

The site itself is the validate stage's (prodcat/data/datadocs.py builds it); this only looks at it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError
from prodcat.reports.browser import screenshot


def validation_pages(site: Path) -> list[Path]:
    """The validation result pages of a site, newest run last (run folders are timestamps)."""
    return sorted(Path(site, "validations").rglob("*.html"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Screenshot the newest validation page of a Data Docs site.")
    parser.add_argument("site", type=Path, nargs="?", default=Path("reports/data_docs"))
    parser.add_argument("--output", type=Path, default=Path("reports/data_docs.png"))
    args = parser.parse_args(argv)
    with cli_errors("data_docs_screenshot"):
        pages = validation_pages(args.site)
        if not pages:
            raise InputError(f"no validation page under {args.site}; run `dvc repro validate` first")
        print(screenshot(pages[-1], args.output))


if __name__ == "__main__":
    main()
