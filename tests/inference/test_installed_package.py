"""The library imports anywhere: a service or batch job installed from a wheel, next to a bundle, with no repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.scratch_repo import ROOT

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
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only prodcat installed from its wheel (no dependencies: those come from this venv)."""
    source, wheels = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in [
        "pyproject.toml",
        "README.md",
        "prodcat",
        "stages",
        "flows",
        "benchmarks",
        "devtools",
    ]:  # built outside the checkout: no build/ left in it
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if (ROOT / name).is_dir() else {}))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True
    )
    target = tmp_path_factory.mktemp("site")
    wheel = next(wheels.glob("prodcat-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


def run_isolated(installed: Path, workdir: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in `workdir` with the installed package first on the path, never the repository's checkout."""
    home = workdir.parent / "home"
    home.mkdir(exist_ok=True)
    env = {"PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run([sys.executable, "-c", script, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


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
