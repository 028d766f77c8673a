"""`prodcat docs`: MkDocs on the repository's mkdocs.yml; outside a clone it says so in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prodcat.cli import app


def test_outside_a_clone_docs_says_where_to_run_it(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["docs"], prog_name="prodcat")
    assert (result.exit_code, result.stderr) == (
        1,
        "prodcat docs: error: no mkdocs.yml here: run this in a clone of the repository, at its root\n",
    )


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="needs MkDocs (the dev extra)")
def test_docs_build_writes_the_site_strictly(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# prodcat\n\nSee [the guide](guide.md).\n")
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: prodcat\n")
    result = runner.invoke(app, ["docs", "--build"], prog_name="prodcat")
    assert result.exit_code == 0, result.output
    assert "guide/" in (tmp_path / "site" / "index.html").read_text()

    (tmp_path / "docs" / "guide.md").unlink()  # a broken link fails the strict build, with MkDocs' exit status
    assert runner.invoke(app, ["docs", "--build"], prog_name="prodcat").exit_code == 1
