"""`prodcat profile` and `prodcat demo-catalog`: what they write, and a mistake that writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from devtools.scratch_repo import ROOT
from prodcat.cli import app
from prodcat.data.synth import generate_catalog


def test_profile_rewrites_the_catalog_schema_of_params_yaml(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # the shipped profiles are read from profiles/ in the working copy
    params = Path(shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml"))
    (tmp_path / "prices.csv").write_text("Product ID,Product Title,Category Label\n")
    result = runner.invoke(app, ["profile", "pricerunner", "--catalog", "prices.csv", "--params", str(params)], prog_name="prodcat")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"prodcat profile: {params}: applied profile pricerunner, catalog prices.csv\n"
    catalog = yaml.safe_load(params.read_text())["catalog"]
    assert (catalog["path"], catalog["id_column"], catalog["text_columns"], catalog["group_column"]) == (
        "prices.csv",
        "Product ID",
        ["Product Title"],
        "Cluster ID",
    )
    assert "# The embedded default: a synthetic catalog" in params.read_text()  # comments kept


def test_an_unknown_profile_is_one_line_and_params_stay(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    params = Path(shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml"))
    result = runner.invoke(app, ["profile", "ebay", "--params", str(params)], prog_name="prodcat")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "prodcat profile: error: no profile 'ebay' (shipped: amazon2020, flipkart, instacart, pricerunner; or give a .yaml path)\n"
    )
    assert params.read_bytes() == (ROOT / "params.yaml").read_bytes()


def test_demo_catalog_writes_the_generated_catalog(runner: CliRunner, tmp_path: Path) -> None:
    output = tmp_path / "data" / "catalog.csv"
    result = runner.invoke(app, ["demo-catalog", "--rows", "50", "--seed", "3", "--output", str(output)], prog_name="prodcat")
    assert result.exit_code == 0 and result.stdout == f"prodcat demo-catalog: 50 products -> {output}\n"
    pd.testing.assert_frame_equal(pd.read_csv(output, dtype=str, keep_default_na=False), generate_catalog(50, 3))

    result = runner.invoke(app, ["demo-catalog", "--rows", "0", "--output", str(tmp_path / "none.csv")], prog_name="prodcat")
    assert (result.exit_code, result.stderr) == (1, "prodcat demo-catalog: error: n_rows must be positive, got 0\n")
    assert not (tmp_path / "none.csv").exists()
