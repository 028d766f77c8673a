"""Dataset profiles: a catalog's schema mapping as a small YAML file, applied to params.yaml.

    prodcat profile pricerunner --catalog ../shared/data/pricerunner_aggregate.csv
    dvc repro            # or: dvc exp run

A profile holds a catalog's column schema (`catalog.id_column`, `catalog.text_columns`, ...: replaced
whole) and any other keys (`catalog.group_column`); applying it rewrites only those keys, keeping the
comments and every other value of params.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from prodcat.core.errors import InputError
from prodcat.core.params import DatasetParams, parse_params

PROFILES = Path("profiles")  # in the working copy, beside params.yaml


def profile_path(name: str) -> Path:
    """A shipped profile by name, or any YAML file by path."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROFILES / f"{name}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise InputError(f"no profile {name!r} (shipped: {shipped}; or give a .yaml path)")
    return path


def merge(params: dict, overrides: dict) -> dict:
    """Deep-merge `overrides` into `params` in place: mappings merge key by key, other values replace."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            merge(params[key], value)
        else:
            params[key] = value
    return params


def _round_trip() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.representer.add_representer(type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def update_params_file(params_file: Path, change: Callable[[dict], None]) -> None:
    """Apply `change` to params.yaml in place, keeping comments; nothing is written unless the result validates."""
    yaml = _round_trip()
    if not params_file.is_file():
        raise InputError(f"params file not found: {params_file}")
    params = yaml.load(params_file.read_text(encoding="utf-8"))
    change(params)
    parse_params(params)
    with params_file.open("w", encoding="utf-8") as handle:
        yaml.dump(params, handle)


def apply_profile(params_file: Path, profile: Path, catalog: str | None) -> None:
    """Rewrite params.yaml with the profile (and catalog path); refuse if the result does not validate.

    A relative `catalog` is read from the params file's folder, as DVC does.
    """
    if catalog and not (params_file.parent / catalog).is_file():
        raise InputError(f"catalog not found: {catalog} (from {params_file.parent.resolve()})")
    try:
        overrides = _round_trip().load(profile.read_text(encoding="utf-8"))
    except YAMLError as error:
        raise InputError(f"{profile} is not valid YAML: {error}") from None
    if not isinstance(overrides, dict):
        raise InputError(f"{profile} must be a mapping of params sections (catalog, ...)")

    def change(params: dict) -> None:
        columns, profile_keys = set(DatasetParams.model_fields), set(overrides.get("catalog") or {})
        if columns & profile_keys:  # a schema is replaced whole, never mixed with the old one: unset keys take their defaults
            for key in sorted(columns - profile_keys):  # in place, comments kept; written out as dvc.yaml lists them by name
                if not (field := DatasetParams.model_fields[key]).is_required():
                    params["catalog"][key] = field.get_default(call_default_factory=True)
                else:
                    params["catalog"].pop(key, None)
        merge(params, overrides)
        if catalog:
            params["catalog"]["path"] = catalog

    update_params_file(params_file, change)
