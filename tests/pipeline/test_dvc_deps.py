"""dvc.yaml's deps are true by construction: every repo-local file a stage's command imports is listed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from devtools.dvc_deps import import_closure, missing_deps
from devtools.scratch_repo import ROOT
from prodcat.core.pipeline import stage_names


def test_every_stage_lists_its_import_closure() -> None:
    assert missing_deps(ROOT) == {stage: [] for stage in stage_names()}


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
