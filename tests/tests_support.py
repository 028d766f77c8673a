"""Helpers for tests that call a stage's main() directly."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_params(folder: Path, catalog: Path, **sections: dict) -> Path:
    """The project's params.yaml with `data.catalog` replaced and any section keys overridden."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["catalog"] = str(catalog)
    for section, values in sections.items():
        params[section].update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def small_run(tiny_bert: Path) -> dict[str, dict]:
    """Params sections for a fast pipeline run: the tiny encoder, two short epochs, few boosting rounds."""
    return {
        "encoder": {"base": str(tiny_bert), "max_seq_length": 64},
        "preprocess": {"min_class_count": 8},
        "finetune": {"epochs": 2, "batch_size": 16, "learning_rate": 1e-3, "head_learning_rate": 1e-2},
        "train_xgb": {"num_boost_round": 20},
    }
