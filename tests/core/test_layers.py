"""The house drawn from the imports: each subpackage of prodcat imports only the layers below it, and no repository code."""

from __future__ import annotations

import ast
from pathlib import Path

from devtools.scratch_repo import ROOT

# Bottom first, as docs/ARCHITECTURE.md ("Layers") draws them: a subpackage imports subpackages of lower layers only.
LAYERS = [["core"], ["data", "encoders", "reports"], ["features", "cluster"], ["heads"], ["training"], ["inference"], ["serve"], ["cli"]]
REPOSITORY_CODE = {"stages", "flows", "benchmarks", "devtools", "tests"}


def imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def import_edges(package: Path) -> set[tuple[str, str, str]]:
    """(importing subpackage, imported top name, file) for every import of `package`'s subpackages that leaves the subpackage."""
    edges = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).parts
        if len(parts) == 1:
            continue  # prodcat/__init__.py, __main__.py: the entry points above every layer
        for module in imported_modules(path):
            top = module.split(".")
            target = top[1] if top[0] == "prodcat" and len(top) > 1 else top[0]
            if (top[0] == "prodcat" and target != parts[0]) or top[0] in REPOSITORY_CODE:
                edges.add((parts[0], target, str(path.relative_to(package))))
    return edges


def upward_imports(edges: set[tuple[str, str, str]]) -> list[str]:
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    return sorted(
        f"{file} imports {target}"
        for source, target, file in edges
        if target in REPOSITORY_CODE or target not in rank or source not in rank or rank[target] >= rank[source]
    )


def test_every_subpackage_is_in_a_layer() -> None:
    subpackages = {path.parent.name for path in (ROOT / "prodcat").glob("*/__init__.py")}
    assert subpackages == {name for names in LAYERS for name in names}


def test_no_import_runs_up_a_layer_sideways_or_into_repository_code() -> None:
    assert upward_imports(import_edges(ROOT / "prodcat")) == []


def test_the_check_sees_an_import_back_up(tmp_path: Path) -> None:
    for name, body in [
        ("core", "from prodcat.heads.base import Head\n"),
        ("data", "from prodcat.reports import x\n"),
        ("heads", "import devtools\n"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "module.py").write_text(body)
    assert upward_imports(import_edges(tmp_path)) == [
        "core/module.py imports heads",
        "data/module.py imports reports",
        "heads/module.py imports devtools",
    ]
