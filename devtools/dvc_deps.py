"""Are `dvc.yaml`'s deps true by construction? Each stage must list every repo-local file its command imports.

A stage's entry modules are the `python -m <module>` of its `cmd`. From each, the import closure
inside the repository is walked with `ast` (`import a.b`, `from a.b import c`, relative imports,
the packages' `__init__.py` on the way), plus the data folders a module reads beside itself (a
folder next to the module whose name appears in it as a string, e.g. `Path(__file__).with_name("data_docs")`).
A listed folder covers every file under it.

    python -m devtools.dvc_deps [REPO]           # prints what each stage misses or names wrongly; exit 1 if anything
    python -m devtools.dvc_deps --write [REPO]   # rewrites each stage's code deps in dvc.yaml to its closure

It also checks each stage's artifact paths: the `paths.<key>` its code reads (prodcat/core/paths.py)
are the `${paths.<key>}` its entry lists in deps, outs, metrics and plots, and no entry writes an
artifact path literally (paths.yaml is the one place for them).

Used by tests/pipeline/test_dvc_deps.py; run it after adding a stage, an import or an artifact.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

from prodcat.core.paths import MODEL_FOLDERS

ENTRY = re.compile(r"\bpython3?\s+-m\s+([\w.]+)")
PATH_KEY = re.compile(r"\$\{paths\.(\w+)\}")
ARTIFACT_SECTIONS = ("deps", "outs", "metrics", "plots")


def module_file(repo: Path, name: str) -> Path | None:
    """The repo-local file of module `name` (a .py file or a package's __init__.py), None when it is not in the repo."""
    parts = name.split(".")
    for candidate in (repo.joinpath(*parts).with_suffix(".py"), repo.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _package_parts(repo: Path, path: Path) -> list[str]:
    """The dotted package of a module file, as parts ("prodcat/data/quality/suite.py" -> ["prodcat", "quality"])."""
    parts = list(path.relative_to(repo).with_suffix("").parts)
    return parts if path.name == "__init__.py" and parts.pop() == "__init__" else parts[:-1]


def imported_modules(repo: Path, path: Path) -> set[str]:
    """Dotted names of everything `path` imports: modules, and `from m import x` also as `m.x` (x may be a submodule)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_parts(repo, path)
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return {name for name in names if name}


def _with_parents(name: str) -> list[str]:
    """Importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py` first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def data_folders(path: Path) -> set[Path]:
    """Folders beside `path` (not packages) that it names in a string: package data the module reads."""
    strings = {
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    return {
        folder
        for folder in path.parent.iterdir()
        if folder.is_dir() and folder.name in strings and not (folder / "__init__.py").exists() and folder.name != "__pycache__"
    }


def import_closure(repo: Path, module: str) -> set[Path]:
    """Every repo-local file `python -m <module>` loads or reads beside itself: modules, package inits with code, data folders.

    `__init__.py` files that hold only a docstring are left out: editing one cannot change an output.
    """
    repo = repo.resolve()
    seen: set[Path] = set()
    todo = [file for name in _with_parents(module) if (file := module_file(repo, name))]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(repo, path):
            todo += [file for parent in _with_parents(name) if (file := module_file(repo, parent))]
    needed = {path for path in seen if not (path.name == "__init__.py" and _only_a_docstring(path))}
    return needed | {folder for path in seen for folder in data_folders(path)}


def stage_modules(cmd: str | list[str]) -> list[str]:
    """The `python -m` modules of a stage command."""
    return ENTRY.findall(" ".join(cmd) if isinstance(cmd, list) else cmd)


def missing_deps(repo: Path, dvc_yaml: str = "dvc.yaml") -> dict[str, list[str]]:
    """Per stage of dvc.yaml, the repo-local files and folders its command needs that its deps do not list (empty when none)."""
    repo = repo.resolve()
    stages = yaml.safe_load((repo / dvc_yaml).read_text(encoding="utf-8"))["stages"]
    missing = {}
    for name, spec in stages.items():
        deps = [repo / (dep if isinstance(dep, str) else next(iter(dep))) for dep in spec.get("deps", [])]
        needed = {path for module in stage_modules(spec.get("cmd", "")) for path in import_closure(repo, module)}
        missing[name] = sorted(
            path.relative_to(repo).as_posix() for path in needed if not any(path == dep or dep in path.parents for dep in deps)
        )
    return missing


def read_path_keys(repo: Path, module: str) -> set[str]:
    """The paths.yaml keys a stage module reads: its `paths.<key>` attributes."""
    path = module_file(repo, module)
    if path is None:
        return set()
    return {
        node.attr
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "paths"
    }


def path_mismatches(repo: Path, dvc_yaml: str = "dvc.yaml") -> dict[str, list[str]]:
    """Per stage of dvc.yaml, where its entry and its code disagree on artifact paths (empty when they agree).

    Every `paths.<key>` the code reads is listed; every output the entry lists is one the code names; `paths.models`
    (the root scoring reads the MODEL_FOLDERS from) needs one of those folders among the deps. A dep the code does
    not read may stay (validate's report orders preprocess after it).
    """
    repo = repo.resolve()
    stages = yaml.safe_load((repo / dvc_yaml).read_text(encoding="utf-8"))["stages"]
    code_packages = {module.split(".")[0] for spec in stages.values() for module in stage_modules(spec.get("cmd", ""))} | {"prodcat"}
    problems = {}
    for name, spec in stages.items():
        entries = {
            section: [entry if isinstance(entry, str) else next(iter(entry)) for entry in spec.get(section, [])]
            for section in ARTIFACT_SECTIONS
        }
        keys = {section: {key for entry in listed for key in PATH_KEY.findall(entry)} for section, listed in entries.items()}
        outputs = keys["outs"] | keys["metrics"] | keys["plots"]
        read = {key for module in stage_modules(spec.get("cmd", "")) for key in read_path_keys(repo, module)}
        literal = [
            entry
            for listed in entries.values()
            for entry in listed
            if not entry.startswith("${") and entry.split("/")[0] not in code_packages
        ]
        problems[name] = [
            *(f"reads paths.{key}, which its entry does not list" for key in sorted(read - {"models"} - keys["deps"] - outputs)),
            *(
                ["reads paths.models, but its deps list none of " + ", ".join(MODEL_FOLDERS)]
                if "models" in read and not keys["deps"] & set(MODEL_FOLDERS)
                else []
            ),
            *(f"lists ${{paths.{key}}} as an output, which its code does not name" for key in sorted(outputs - read)),
            *(f"names {entry} literally: write it as ${{paths.<key>}} (paths.yaml)" for entry in literal),
        ]
    return problems


def code_deps(repo: Path, closure: set[Path]) -> list[str]:
    """A closure as dvc.yaml deps: a package folder when the stage loads every module in it, else file by file."""
    files = {path.relative_to(repo).as_posix() for path in closure}
    folders = sorted(
        {
            folder.as_posix()
            for path in closure
            for folder in [path.relative_to(repo).parent]
            if (repo / folder / "__init__.py").exists()
            and len(folder.parts) > 1
            and all(file.relative_to(repo).as_posix() in files for file in (repo / folder).rglob("*.py") if not _only_a_docstring(file))
        }
    )
    folders = [folder for folder in folders if not any(folder.startswith(f"{other}/") for other in folders)]
    return folders + sorted(file for file in files if not any(file.startswith(f"{folder}/") for folder in folders))


def write_code_deps(repo: Path, dvc_yaml: str = "dvc.yaml") -> None:
    """Replace each stage's code deps (files under the packages its command imports) with its import closure, keeping
    the other deps and every comment of a dep that stays."""
    repo = repo.resolve()
    path = repo / dvc_yaml
    stages = yaml.safe_load(path.read_text(encoding="utf-8"))["stages"]
    packages = {module.split(".")[0] for spec in stages.values() for module in stage_modules(spec.get("cmd", ""))}
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    code_line = re.compile(rf"^(\s+)- ({'|'.join(sorted(packages | {'prodcat'}))})/(\S*)(\s+#.*)?$")
    out, stage, comments = [], None, {}
    for line in lines:
        if match := re.match(r"^  (\w+):\s*$", line):
            stage = match[1]
        if stage in stages and (match := code_line.match(line.rstrip("\n"))):
            comments[(stage, f"{match[2]}/{match[3]}")] = match[4] or ""
            if not any(done == stage for done in out if isinstance(done, str) and done in stages):
                indent = match[1]
                closure = {p for module in stage_modules(stages[stage]["cmd"]) for p in import_closure(repo, module)}
                out.append(stage)  # marker: this stage's code deps go here
                out.append((stage, indent, code_deps(repo, closure)))
            continue
        out.append(line)
    text = []
    for item in out:
        if isinstance(item, tuple):
            stage, indent, deps = item
            text += [f"{indent}- {dep}{comments.get((stage, dep), '')}\n" for dep in deps]
        elif item not in stages:
            text.append(item)
    path.write_text("".join(text), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    args = list(argv if argv is not None else sys.argv[1:])
    write = "--write" in args
    args = [arg for arg in args if arg != "--write"]
    repo = Path(args[0] if args else ".")
    if write:
        write_code_deps(repo)
    missing, mismatches = missing_deps(repo), path_mismatches(repo)
    for stage, files in missing.items():
        if files:
            print(f"{stage}: missing deps {files}")
    for stage, problems in mismatches.items():
        for problem in problems:
            print(f"{stage}: {problem}")
    print(
        f"{len(missing)} stages checked, {sum(bool(files) for files in missing.values())} with missing deps, "
        f"{sum(bool(problems) for problems in mismatches.values())} with artifact paths that disagree"
    )
    raise SystemExit(1 if any(missing.values()) or any(mismatches.values()) else 0)


if __name__ == "__main__":
    main()
