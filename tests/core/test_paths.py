"""paths.yaml: every artifact path once, validated at load; dvc.yaml resolves to the same paths the stages read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devtools.scratch_repo import ROOT, write_paths
from prodcat.core.paths import MODEL_FOLDERS, PathsError, load_paths, parse_paths
from prodcat.core.pipeline import stage_specs


def project_paths() -> dict:
    return yaml.safe_load((ROOT / "paths.yaml").read_text())


def test_the_project_paths_load_and_keep_the_models_layout() -> None:
    paths = load_paths(ROOT / "paths.yaml")
    assert paths.processed == Path("data/processed") and paths.bundle == Path("models/bundle")
    assert {key: getattr(paths, key) for key in MODEL_FOLDERS} == {key: Path("models") / key for key in MODEL_FOLDERS}


def test_dvc_yaml_fills_in_the_declared_paths() -> None:
    """What DVC tracks is what the stages write: the resolved outs are paths.yaml's values."""
    paths = load_paths(ROOT / "paths.yaml")
    specs = stage_specs(ROOT / "dvc.yaml")
    outs = [entry if isinstance(entry, str) else next(iter(entry)) for entry in specs["finetune"]["outs"]]
    assert outs == [paths.finetuned.as_posix(), paths.finetune_checkpoints.as_posix()]
    assert f"{paths.processed.as_posix()}/train.parquet" in specs["finetune"]["deps"]
    assert specs["validate"]["deps"][0] == yaml.safe_load((ROOT / "params.yaml").read_text())["catalog"]["path"]
    assert all("${" not in str(spec) for spec in specs.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda paths: paths.pop("embeddings"), "paths.embeddings: Field required"),
        (lambda paths: paths.update(embedings="data/e"), "paths.embedings: Extra inputs are not permitted"),
        (lambda paths: paths.update(xgb="elsewhere/xgb"), "xgb must be models/xgb"),
        (lambda paths: paths.update(bundle=["a"]), "paths.bundle: Input is not a valid path"),
    ],
)
def test_a_bad_paths_file_names_the_key(change, message: str) -> None:
    raw = project_paths()
    change(raw["paths"])
    with pytest.raises(PathsError, match=message):
        parse_paths(raw)


def test_a_missing_or_shapeless_file_is_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(PathsError, match="paths file not found"):
        load_paths(tmp_path / "nowhere.yaml")
    (tmp_path / "paths.yaml").write_text("- data/processed\n")
    with pytest.raises(PathsError, match="must hold a `paths:` mapping"):
        load_paths(tmp_path / "paths.yaml")


def test_a_tests_paths_file_moves_the_layout_and_the_model_folders_follow_models(tmp_path: Path) -> None:
    paths = load_paths(write_paths(tmp_path / "run", processed=tmp_path / "split", models=tmp_path / "m"))
    assert paths.processed == tmp_path / "split" and paths.data_docs == tmp_path / "run/reports/data_docs"
    assert paths.xgb == tmp_path / "m/xgb" and paths.bundle == tmp_path / "run/models/bundle"
