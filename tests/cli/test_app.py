"""The root command: every subcommand listed with its help, the exit codes documented, a usage error is exit 2."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from devtools.scratch_repo import ROOT
from prodcat.cli import app

COMMANDS = ["predict", "batch-page", "serve", "profile", "demo-catalog", "review", "new-products", "docs"]


def test_help_lists_every_subcommand_and_the_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"], prog_name="prodcat")
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1].split("Exit codes:")[0]
    assert [line.split()[0] for line in listed.strip().splitlines()] == COMMANDS
    assert "1  a mistake in the inputs, one line on stderr: `prodcat <command>: error: ...`" in result.output
    assert "2  a command line that does not parse" in result.output
    assert runner.invoke(app, [], prog_name="prodcat").output.startswith("Usage: prodcat [OPTIONS] COMMAND")  # no command: the help


def test_each_subcommand_has_its_help(runner: CliRunner) -> None:
    for command in COMMANDS:
        result = runner.invoke(app, [command, "--help"], prog_name="prodcat")
        assert result.exit_code == 0, command
        assert result.output.startswith(f"Usage: prodcat {command} ") and "Options:" in result.output


def test_a_command_line_that_does_not_parse_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["predict", "--output", "out.parquet"], prog_name="prodcat")
    assert result.exit_code == 2 and "Missing option '--input'" in result.stderr
    assert runner.invoke(app, ["predcit"], prog_name="prodcat").exit_code == 2


def test_python_m_prodcat_is_the_command() -> None:
    result = subprocess.run([sys.executable, "-m", "prodcat", "--help"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.startswith("Usage: prodcat [OPTIONS] COMMAND") and "demo-catalog" in result.stdout
