"""A user's mistake is one line and exit status 1 in every CLI; anything else keeps its traceback (and is retried by the flows)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.scratch_repo import ROOT
from prodcat.cli import app
from prodcat.core.cli import stage_errors
from prodcat.core.errors import InputError
from prodcat.core.params import ParamsError
from prodcat.data.quality import DataQualityError
from prodcat.reports import data_docs_screenshot


def one_line_error(capsys, main, argv: list[str], prog: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{prog}: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def command_error(argv: list[str]) -> str:
    """`prodcat ARGV` as a user runs it: exit status 1 and one line `prodcat <command>: error: ...` on stderr."""
    result = CliRunner().invoke(app, argv, prog_name="prodcat")
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert err.startswith(f"prodcat {argv[0]}: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_input_errors_are_one_family() -> None:
    assert issubclass(ParamsError, InputError) and issubclass(DataQualityError, InputError)


def test_only_input_errors_become_a_one_line_message(capsys) -> None:
    with pytest.raises(SystemExit), stage_errors("embed"):
        raise InputError("bad catalog")
    assert capsys.readouterr().err == "embed: error: bad catalog\n"
    for bug in (ValueError("a library bug"), FileNotFoundError("a vanished file"), KeyError("x")):
        with pytest.raises(type(bug)), stage_errors("embed"):  # not swallowed: it surfaces with its traceback, and the flows retry it
            raise bug


@pytest.fixture()
def params_file(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path / "params.yaml"


def test_profile_unknown_profile(params_file: Path) -> None:
    err = command_error(["profile", "nonexistent", "--params", str(params_file)])
    assert "no profile 'nonexistent'" in err and "amazon2020, flipkart, instacart, pricerunner" in err


def test_profile_missing_catalog_leaves_params_untouched(params_file: Path) -> None:
    before = params_file.read_text()
    err = command_error(["profile", "pricerunner", "--catalog", "/no/such.csv", "--params", str(params_file)])
    assert "catalog not found: /no/such.csv" in err
    assert params_file.read_text() == before


def test_profile_missing_params_file(tmp_path: Path) -> None:
    assert str(tmp_path / "nope.yaml") in command_error(["profile", "pricerunner", "--params", str(tmp_path / "nope.yaml")])


def test_demo_catalog_and_data_docs_screenshot_mistakes(capsys, tmp_path: Path) -> None:
    assert "n_rows must be positive" in command_error(["demo-catalog", "--rows", "0", "--output", str(tmp_path / "c.csv")])
    assert not (tmp_path / "c.csv").exists()
    no_page = one_line_error(capsys, data_docs_screenshot.main, [str(tmp_path / "none")], "data_docs_screenshot")
    assert "no validation page" in no_page
