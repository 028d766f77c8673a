"""Params overrides of a flow run (`{"finetune.epochs": 3}`), written to params.yaml as `dvc exp run -S` does."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodcat.data.profiles import update_params_file


def apply_overrides(workspace: Path, overrides: Mapping[str, Any]) -> None:
    """Set dotted keys in params.yaml as `dvc exp run -S key=value` does; comments kept, the result validated first."""

    def change(document: dict) -> None:
        for dotted, value in overrides.items():
            *sections, key = dotted.split(".")
            node = document
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = value

    update_params_file(workspace / "params.yaml", change)
