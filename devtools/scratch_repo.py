"""Throwaway copies of the pipeline: what tests and benchmarks run `dvc repro` in, away from the real workspace."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from prodcat.core.io import write_json
from prodcat.core.paths import MODEL_FOLDERS, load_paths
from prodcat.data.profiles import update_params_file
from prodcat.encoders.load import ADAPT_INFO

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_FILES = ["dvc.yaml", "params.yaml", "paths.yaml", "stages", "prodcat", "profiles", ".dvcignore", "data/corrections.csv"]


def copy_pipeline(repo: Path) -> Path:
    """Copy the pipeline's code and params into `repo`, replacing any older copy there (outputs are kept)."""
    repo.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_FILES:
        source = ROOT / name
        if (repo / name).is_dir():
            shutil.rmtree(repo / name)
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    return repo


def commit_all(repo: Path, message: str) -> None:
    """`git init` and `dvc init` where needed, then commit everything: DVCLive and `dvc exp` want a baseline commit."""
    dvc = [sys.executable, "-m", "dvc"]
    commands = (
        [] if (repo / ".git").exists() else [["git", "init", "-q"], [*dvc, "init", "-q"], [*dvc, "config", "core.analytics", "false"]]
    )
    for command in [*commands, ["git", "add", "-A"], ["git", "commit", "-q", "--allow-empty", "-m", message]]:
        subprocess.run(command, cwd=repo, check=True, capture_output=True)


def set_params(params_file: Path, catalog_path: Path | str | None = None, **sections: dict | list) -> Path:
    """Point `catalog.path` at `catalog_path` and override keys of `sections` (a list, such as `variants`, replaces the value),
    through the project's own updater (comments kept, validated)."""

    def change(params: dict) -> None:
        if catalog_path is not None:
            params["catalog"]["path"] = str(catalog_path)
        for section, values in sections.items():
            if isinstance(values, dict):
                params.setdefault(section, {}).update(values)
            else:
                params[section] = values

    update_params_file(params_file, change)
    return params_file


def write_params(folder: Path, catalog_path: Path | str, **sections: dict) -> Path:
    """The project's params.yaml copied into `folder`, with `catalog.path` replaced and any section keys overridden."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "params.yaml", folder / "params.yaml")
    return set_params(folder / "params.yaml", catalog_path, **sections)


def write_paths(folder: Path, root: Path | None = None, **moved: Path | str) -> Path:
    """`folder`/paths.yaml: the project's artifact paths below `root` (default `folder`; the layout kept), the keys of
    `moved` elsewhere (the model folders follow a moved `models`).

    What a test hands a stage as `--paths`, so that it reads and writes in its own folder.
    """
    paths = {key: Path(root or folder) / path for key, path in load_paths(ROOT / "paths.yaml").model_dump().items()}
    paths |= {key: Path(path) for key, path in moved.items()}
    paths |= {key: paths["models"] / key for key in MODEL_FOLDERS if key not in moved}
    folder.mkdir(parents=True, exist_ok=True)
    as_text = {key: path.as_posix() for key, path in paths.items()}
    (folder / "paths.yaml").write_text(yaml.safe_dump({"paths": as_text}, sort_keys=False), encoding="utf-8")
    load_paths(folder / "paths.yaml")  # a moved key is checked as paths.yaml is
    return folder / "paths.yaml"


def finetune_paths(out: Path, processed: Path) -> Path:
    """`out`/paths.yaml for the finetune stage alone, outputs in `out`, with adapt.method none's marker: it starts from encoder.base."""
    write_json(out / "adapted" / ADAPT_INFO, {"method": "none"})
    return write_paths(out, processed=processed, models=out, finetune_checkpoints=out / "checkpoints",
                       finetune_report=out / "finetune.json", finetune_live=out / "live")  # fmt: skip


def small_run(tiny_bert: Path) -> dict[str, dict]:
    """Params sections for a fast pipeline run: the tiny encoder, two short epochs, few boosting rounds."""
    return {
        "encoder": {"base": str(tiny_bert), "max_seq_length": 64},
        "catalog": {"min_class_count": 8},
        "finetune": {"epochs": 2, "batch_size": 16, "learning_rate": 1e-3, "head_learning_rate": 1e-2},
        "train_xgb": {"num_boost_round": 20},
    }


def working_copy(folder: Path, catalog_path: Path, tiny_bert: Path, **sections: dict) -> Path:
    """A clone-like copy of the project (pipeline, flows, prefect.yaml, the committed .dvc/config) on a small catalog and tiny encoder."""
    copy_pipeline(folder)
    shutil.copytree(ROOT / "flows", folder / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "prefect.yaml", folder / "prefect.yaml")
    write_params(folder, catalog_path, **{**small_run(tiny_bert), **sections})
    dvc = [sys.executable, "-m", "dvc"]
    for command in (["git", "init", "-q"], [*dvc, "init", "-q"]):
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
    shutil.copy2(ROOT / ".dvc" / "config", folder / ".dvc" / "config")  # the default DVC remote, as committed
    commit_all(folder, "pipeline code")
    return folder
