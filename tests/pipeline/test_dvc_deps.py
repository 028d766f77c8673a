"""dvc.yaml's deps are true by construction: every repo-local file a stage's command imports is listed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from devtools.dvc_deps import import_closure, missing_deps, path_mismatches
from devtools.scratch_repo import ROOT
from prodcat.core.pipeline import stage_names


def test_every_stage_lists_its_import_closure() -> None:
    assert missing_deps(ROOT) == {stage: [] for stage in stage_names()}


def test_every_stage_lists_the_artifact_paths_its_code_reads() -> None:
    assert path_mismatches(ROOT) == {stage: [] for stage in stage_names()}


@pytest.mark.parametrize(
    ("stage", "section", "entry", "problem"),
    [
        ("audit", "deps", "${paths.sparse_scores}", "reads paths.sparse_scores, which its entry does not list"),
        ("champion", "deps", "${paths.xgb}", None),  # two other model folders still stand for paths.models
        ("train_sparse", "outs", "${paths.sparse_scores}", "reads paths.sparse_scores, which its entry does not list"),
    ],
)
def test_a_path_the_code_reads_but_the_entry_drops_is_caught(tmp_path: Path, stage: str, section: str, entry: str, problem) -> None:
    for name in ["dvc.yaml", "stages", "prodcat"]:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, tmp_path / name)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    listed = pipeline["stages"][stage][section]
    listed.remove(next(item for item in listed if (item if isinstance(item, str) else next(iter(item))).startswith(entry)))
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    assert path_mismatches(tmp_path)[stage] == ([problem] if problem else [])


def test_an_output_the_code_never_names_or_a_literal_path_is_caught(tmp_path: Path) -> None:
    for name in ["dvc.yaml", "stages", "prodcat"]:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, tmp_path / name)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"]["train_sparse"]["outs"].append("${paths.audit}")
    pipeline["stages"]["champion"]["deps"].append("models/sparse")
    pipeline["stages"]["refit"]["deps"] = [dep for dep in pipeline["stages"]["refit"]["deps"] if not dep.startswith("${paths.xgb}")]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    found = path_mismatches(tmp_path)
    assert found["train_sparse"] == ["lists ${paths.audit} as an output, which its code does not name"]
    assert found["champion"] == ["names models/sparse literally: write it as ${paths.<key>} (paths.yaml)"]
    assert found["refit"] == [
        "reads paths.xgb, which its entry does not list",
        "reads paths.models, but its deps list none of adapted, finetuned, onnx_int8, sparse, xgb, refit",
    ]


def test_package_data_a_module_reads_is_part_of_its_closure() -> None:
    closure = {path.relative_to(ROOT).as_posix() for path in import_closure(ROOT, "stages.validate")}
    assert {"prodcat/data/data_docs", "prodcat/data/datadocs.py", "prodcat/data/quality/suite.py", "prodcat/core/errors.py"} <= closure
    assert "stages/__init__.py" not in closure  # a docstring-only package init cannot change an output


@pytest.mark.parametrize("stage", ["adapt", "finetune", "embed", "train_sparse", "train_xgb", "champion", "refit", "evaluate"])
def test_stages_that_read_splits_do_not_depend_on_catalog_parsing(stage: str) -> None:
    """Editing the price parser reruns validate and preprocess, not fine-tuning: reading a split is `splits.py` alone."""
    closure = {path.relative_to(ROOT).as_posix() for path in import_closure(ROOT, f"stages.{stage}")}
    assert "prodcat/data/splits.py" in closure
    assert "prodcat/data/catalog.py" not in closure


def test_finetune_does_not_depend_on_the_head_interface() -> None:
    """The softmax head's weight format is its own module: editing how heads score reruns no fine-tuning."""
    closure = {path.relative_to(ROOT).as_posix() for path in import_closure(ROOT, "stages.finetune")}
    assert "prodcat/heads/softmax_weights.py" in closure
    assert not {"prodcat/heads/base.py", "prodcat/heads/softmax.py", "prodcat/heads/scoring.py"} & closure


@pytest.mark.parametrize(
    ("stage", "dep"),
    [("train_xgb", "prodcat/data/splits.py"), ("validate", "prodcat/data/data_docs"), ("finetune", "prodcat/encoders/load.py")],
)
def test_removing_a_listed_import_is_caught(tmp_path: Path, stage: str, dep: str) -> None:
    for name in ["dvc.yaml", "stages", "prodcat"]:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, tmp_path / name)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"][stage]["deps"].remove(dep)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    assert missing_deps(tmp_path)[stage] == [dep]


def test_relative_imports_and_package_inits_are_followed(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text('"""Docstring only."""\n')
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("from .leaf import VALUE\n")
    (tmp_path / "pkg" / "sub" / "leaf.py").write_text("from ..base import BASE\nVALUE = BASE\n")
    (tmp_path / "pkg" / "base.py").write_text("import json\nBASE = 1\n")
    (tmp_path / "pkg" / "main.py").write_text("from pkg import sub\n")
    found = {path.relative_to(tmp_path).as_posix() for path in import_closure(tmp_path, "pkg.main")}
    assert found == {"pkg/main.py", "pkg/sub/__init__.py", "pkg/sub/leaf.py", "pkg/base.py"}


def test_orchestration_timeouts_cover_the_stages_of_dvc_yaml_and_nothing_else() -> None:
    from prodcat.core.params import DEFAULT_TIMEOUT_SECONDS, OrchestrationParams, ParamsError, load_params
    from prodcat.core.pipeline import task_names

    tasks = task_names(ROOT / "dvc.yaml")
    assert tasks == (*stage_names(), "predict")
    timeouts = load_params(ROOT / "params.yaml").orchestration.timeouts(tasks)
    assert list(timeouts) == list(tasks)
    assert timeouts["finetune"] == 14400
    assert OrchestrationParams().timeouts(tasks) == {task: DEFAULT_TIMEOUT_SECONDS for task in tasks}
    with pytest.raises(ParamsError, match=r"orchestration.timeout_seconds: unknown stage\(s\) \['trian_xgb'\]"):
        OrchestrationParams(timeout_seconds={"trian_xgb": 10}).timeouts(tasks)
    with pytest.raises(ValueError, match=re.escape("timeout_seconds.embed")):
        OrchestrationParams(timeout_seconds={"embed": 0})
    assert issubclass(ParamsError, ValueError)
