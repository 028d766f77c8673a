"""The `prodcat` command: everything a user runs by hand, one subcommand each.

The DVC stages are not here: `dvc repro` runs them (`python -m stages.<stage>`, listed in dvc.yaml).
Each subcommand is a thin layer over a library function, in a module per group: predict.py (batch
prediction and its report page), serve.py (the online service), catalog.py (the catalog: profiles, the demo catalog), review.py
(a person's decisions: corrections, new products), docs.py (the documentation site).
"""

from __future__ import annotations

import typer

from prodcat.cli import catalog, docs, predict, review, serve

EXIT_CODES = """\b
Exit codes:
  0  success
  1  a mistake in the inputs, one line on stderr: `prodcat <command>: error: ...`
  2  a command line that does not parse (an unknown option, a missing argument)
Any other failure is a bug or a crash and keeps its traceback.
"""

app = typer.Typer(
    name="prodcat",
    help="Classify products into categories with the model bundle that `dvc repro` trains; label, grow and document the catalog.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain click help and usage errors: stable text, one error line
    pretty_exceptions_enable=False,  # a crash shows Python's own traceback
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("predict")(predict.predict)
app.command("batch-page")(predict.batch_page)
app.command("serve")(serve.serve)
app.command("profile")(catalog.profile)
app.command("demo-catalog")(catalog.demo_catalog)
app.command("review")(review.review)
app.command("new-products")(review.new_products)
app.command("docs")(docs.docs)
