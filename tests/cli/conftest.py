"""The commands' tests run the `prodcat` app in-process (typer's runner), on the inference tests' small sparse bundle."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.inference.conftest import trained  # noqa: F401  (the small sparse bundle, one fit per session)


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()
