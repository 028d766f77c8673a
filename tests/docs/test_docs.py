"""The README stays a one-minute read, every docs page is reachable, and the generated reference pages say what the code says."""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from types import ModuleType
from typing import Annotated

import pytest
import typer
import yaml

from prodcat.core.params import SEEDED, Params

ROOT = Path(__file__).resolve().parents[2]


def reference_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference_hook", ROOT / "docs/hooks/reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nav_pages(entries: list) -> set[str]:
    pages: set[str] = set()
    for entry in entries:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages |= nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_the_readme_is_at_most_200_lines_and_draws_every_stage_of_dvc_yaml() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    block = readme.split("```")[1].splitlines()
    drawing = "\n".join(line for line in block if "─►" in line)
    legend = [line.split()[0] for line in block if line and "─►" not in line]
    stages = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    assert [stage for stage in stages if not re.search(rf"(?<!\w){stage}(?!\w)", drawing)] == []
    assert legend == stages  # one line per stage, in dvc.yaml's order


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    in_nav = nav_pages(config["nav"])
    generated = {reference_hook().PARAMS_PAGE, reference_hook().CLI_PAGE}
    written = {str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md")}
    assert sorted(written - in_nav) == []
    assert sorted(in_nav - written - generated) == []
    assert config["theme"]["font"] is False  # no web fonts: the site reads offline


def test_the_params_reference_has_every_key_its_default_bounds_and_source_comment() -> None:
    page = reference_hook().params_markdown(Params, SEEDED)
    keys = {f"{name}.{key}" for name, field in Params.model_fields.items() for key in getattr(field.annotation, "model_fields", {})}
    settable = {key for key in keys if not (key.endswith(".seed") and key.split(".")[0] in SEEDED)}
    assert sorted(key for key in settable if f"| `{key}` |" not in page) == []
    assert "| `preprocess.seed` |" not in page  # filled in from base.seed: not a key to set
    row = next(line for line in page.splitlines() if line.startswith("| `preprocess.validation_size` |"))
    # The bounds read "> 0, < 0.5" on the page: the angle brackets are escaped so that Markdown never takes them for a tag.
    assert row == "| `preprocess.validation_size` | `float` | `0.1` | &gt; 0, &lt; 0.5 | share of train held out to choose the champion |"
    row = next(line for line in page.splitlines() if line.startswith("| `catalog.category_level` |"))
    assert row == (  # a pipe inside a code span stays as it is; Python-Markdown splits cells outside code only
        "| `catalog.category_level` | `int | leaf` | `0` |  | the deepest level a label reaches; leaf: each row's last |"
    )


def small_app() -> typer.Typer:
    app = typer.Typer(help="A tool. Exit codes: 0 done, 1 a user error.")

    @app.command()
    def predict(
        input: Annotated[Path, typer.Option("--input", help="the CSV to score")],
        chunk_rows: Annotated[int, typer.Option(help="rows per chunk")] = 20000,
        restart: Annotated[bool, typer.Option(help="start over, dropping <output>.progress/")] = False,
    ) -> None:
        """Score a CSV in chunks; the report goes to <output>.report.json, or `<report>` when given."""

    @app.command("demo-catalog")
    def demo_catalog(rows: Annotated[int, typer.Argument(help="how many rows")] = 2400) -> None:
        """Write the synthetic catalog."""

    return app


def test_the_cli_reference_lists_each_command_with_its_help_usage_and_option_defaults() -> None:
    hook = reference_hook()
    page = hook.cli_markdown(typer.main.get_command(small_app()), prog="tool")
    assert "A tool. Exit codes: 0 done, 1 a user error." in page
    # Angle brackets outside code spans are text, not HTML tags that would swallow the rest of the page.
    expected = "Score a CSV in chunks; the report goes to &lt;output&gt;.report.json, or `<report>` when given."
    assert f"## `tool predict`\n\n{expected}\n\n```\ntool predict [OPTIONS]\n```" in page
    assert "| `--input` | path | required | the CSV to score |" in page
    assert "| `--chunk-rows` | int | `20000` | rows per chunk |" in page
    assert "| `--restart` / `--no-restart` | bool | `--no-restart` | start over, dropping &lt;output&gt;.progress/ |" in page
    assert "## `tool demo-catalog`\n\nWrite the synthetic catalog." in page
    assert "| `ROWS` | int | `2400` | how many rows |" in page
    assert "--help" not in page


def test_a_cli_that_does_not_import_fails_the_strict_build_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = reference_hook()
    monkeypatch.setattr(hook, "CLI_APP", "prodcat.no_such_module:app")
    with caplog.at_level(logging.ERROR):
        page = hook.cli_page()
    assert "did not import" in page
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == [
        "the CLI reference could not import prodcat.no_such_module:app: ModuleNotFoundError: No module named 'prodcat.no_such_module'"
    ]
