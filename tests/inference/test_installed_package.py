"""The library imports anywhere: a service or batch job installed from a wheel, next to a bundle, with no repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devtools.scratch_repo import ROOT
from tests.cli.test_app import COMMANDS

SCORE_ONE_ROW = """
import json, sys
import pandas as pd
import prodcat
from prodcat import serve
from prodcat.inference import batch, drift, predictor
from prodcat.inference.bundle import load_bundle

bundle = load_bundle("bundle")
row = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
scored = bundle.score(row.head(5)).to_frame()
app = serve.create_app(bundle)
print(json.dumps({"package": prodcat.__file__, "id": scored["id"].tolist(), "label": scored["predicted"].tolist()}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of what it packages (outside the checkout: no build/ left in it)."""
    source, wheels = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    shutil.copy2(ROOT / "pyproject.toml", source)
    shutil.copy2(ROOT / "README.md", source)
    shutil.copytree(ROOT / "prodcat", source / "prodcat", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True
    )
    return next(wheels.glob("prodcat-*.whl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A folder holding only prodcat installed from its wheel (no dependencies: those come from this venv), its script in bin/."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


def run_isolated(installed: Path, workdir: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in `workdir` with the installed package first on the path, never the repository's checkout."""
    return run_installed(installed, workdir, [sys.executable, "-c", script, *args])


def run_installed(installed: Path, workdir: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    """`command` in `workdir` with the installed package first on the path and its scripts first on PATH."""
    home = workdir.parent / "home"
    home.mkdir(exist_ok=True)
    env = {"PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1", "PATH": f"{installed / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


def test_the_wheel_ships_prodcat_alone_with_its_command(wheel: Path, installed: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(name for name in names if name.endswith(".dist-info/entry_points.txt"))).decode()
    assert {name.split("/")[0] for name in names} == {"prodcat", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "[console_scripts]\nprodcat = prodcat.cli:app" in entry_points
    (tmp_path / "work").mkdir()
    result = run_installed(installed, tmp_path / "work", ["prodcat", "--help"])
    assert result.returncode == 0, result.stderr[-3000:]
    listed = result.stdout.split("Commands:")[1].split("Exit codes:")[0]
    assert [line.split()[0] for line in listed.strip().splitlines()] == COMMANDS
    assert sorted(path.name for path in (tmp_path / "work").iterdir()) == []  # nothing written where it ran


def test_the_wheel_imports_every_subpackage_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    script = (
        "import importlib, pkgutil, prodcat\n"
        "names = [m.name for m in pkgutil.walk_packages(prodcat.__path__, 'prodcat.')]\n"
        "[importlib.import_module(n) for n in names]\n"
        "print(prodcat.__file__); print(len(names))\n"
    )
    result = run_isolated(installed, tmp_path / "work", script)
    assert result.returncode == 0, result.stderr[-3000:]
    package, count = result.stdout.split()
    assert Path(package).is_relative_to(installed)
    assert int(count) >= 40  # every module of every subpackage, not just the top
    assert (installed / "prodcat" / "data" / "data_docs").is_dir()  # package data travels with the wheel


@pytest.mark.slow
def test_a_bundle_scores_rows_with_only_the_installed_package_beside_it(
    installed: Path, trained_project: Path, small_catalog: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    shutil.copytree(trained_project / "models" / "bundle", work / "bundle")
    result = run_isolated(installed, work, SCORE_ONE_ROW, str(small_catalog))
    assert result.returncode == 0, result.stderr[-3000:]
    scored = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(scored["package"]).is_relative_to(installed)
    expected = subprocess.run(
        [sys.executable, "-c", SCORE_ONE_ROW.replace('"bundle"', repr(str(work / "bundle"))), str(small_catalog)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert scored["label"] == json.loads(expected.stdout.strip().splitlines()[-1])["label"]
    assert len(scored["label"]) == 5
    assert sorted(path.name for path in work.iterdir()) == ["bundle"]  # nothing but the bundle was needed (or written)
