"""params.yaml is validated at load with messages that name the offending key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from devtools.scratch_repo import ROOT
from prodcat.core.params import SEEDED, DatasetParams, ParamsError, load_params, parse_params
from prodcat.core.pipeline import stage_specs


def project_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_project_params_are_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.variants == ["stock", "finetuned", "softmax", "sparse", "hybrid", "fusion"]
    assert params.catalog.id_column in params.catalog.required_columns
    assert params.catalog.dataset.model_dump() == {key: getattr(params.catalog, key) for key in DatasetParams.model_fields}


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("finetune", "objective", "magic", "finetune.objective"),
        ("finetune", "epochs", 0, "finetune.epochs"),
        ("finetune", "processes", 0, "finetune.processes"),
        ("preprocess", "test_size", 1.5, "preprocess.test_size"),
        ("train_sparse", "char_ngrams", [5, 2], "train_sparse.char_ngrams"),
        ("train_sparse", "classifier", "svm", "train_sparse.classifier"),
        ("catalog", "rare_classes", "keep", "catalog.rare_classes"),
        ("base", "seed", "x", "base.seed: Input should be a valid integer"),
        ("train_xgb", "max_dpeth", 3, "train_xgb.max_dpeth: Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_named(section: str, key: str, value: object, message: str) -> None:
    raw = project_params()
    raw[section][key] = value
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        parse_params(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": ["stock", "stock"]}, "variants must be unique"),
        ({"variants": ["stock", "tfidf"]}, "variants.1: Input should be 'stock', 'adapted', 'finetuned'"),
        (
            {"variants": ["softmax"], "finetune": {"objective": "batch_all_triplet"}},
            "variant softmax needs finetune.objective softmax_head",
        ),
        (
            {"variants": ["stock"], "finetune": {"objective": "batch_all_triplet", "processes": 2}},
            "finetune: Value error, processes > 1 needs objective softmax_head",
        ),
        (
            {"variants": ["sparse", "fusion"], "champion": {"fusion_members": ["sparse", "hybrid"]}},
            r"champion.fusion_members \['hybrid'\] are not in variants",
        ),
        ({"champion": {"fusion_members": ["sparse", "fusion"]}}, "champion.fusion_members cannot include fusion itself"),
    ],
)
def test_variant_rules_are_named(change: dict, message: str) -> None:
    raw = project_params()
    for key, value in change.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_missing_section_is_named() -> None:
    raw = project_params()
    del raw["encoder"]
    with pytest.raises(ParamsError, match="encoder: Field required"):
        parse_params(raw)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)


# Keys of the layout before one section per stage (dropped in 0.2.0, see CHANGELOG.md): each fails as any unknown key does.
OLD_KEYS = [
    ("data", "catalog", "c.csv", "data: Extra inputs are not permitted"),
    ("dataset", "text_columns", ["Title"], "dataset: Extra inputs are not permitted"),
    ("validation", "min_rows", 10, "validation: Extra inputs are not permitted"),
    ("split", "group_column", "Cluster ID", "split: Extra inputs are not permitted"),
    ("sparse", "C", 1.0, "sparse: Extra inputs are not permitted"),
    ("fusion", "members", ["softmax", "sparse"], "fusion: Extra inputs are not permitted"),
    ("monitor", "bins", 5, "monitor: Extra inputs are not permitted"),
    ("preprocess", "min_class_count", 5, "preprocess.min_class_count: Extra inputs are not permitted"),
    ("preprocess", "rare_classes", "drop", "preprocess.rare_classes: Extra inputs are not permitted"),
    ("preprocess", "max_text_chars", 500, "preprocess.max_text_chars: Extra inputs are not permitted"),
    ("embed", "batch_size", 8, "embed: Extra inputs are not permitted"),
    ("embed", "precision", "fp32", "embed: Extra inputs are not permitted"),
    ("embed", "int8_max_accuracy_drop", 0.01, "embed: Extra inputs are not permitted"),
    ("embed", "backend", "onnx_int8", "embed: Extra inputs are not permitted"),
    ("preprocess", "seed", 1, "preprocess.seed: not a params key, every seed is base.seed"),
    ("adapt", "seed", 1, "adapt.seed: not a params key, every seed is base.seed"),
    ("finetune", "seed", 1, "finetune.seed: not a params key, every seed is base.seed"),
    ("train_xgb", "seed", 1, "train_xgb.seed: not a params key, every seed is base.seed"),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), OLD_KEYS)
def test_an_old_key_fails_naming_it(section: str, key: str, value: object, message: str) -> None:
    raw = project_params()
    raw.setdefault(section, {})[key] = value
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_params(raw)


def test_every_seed_is_base_seed() -> None:
    raw = project_params()
    raw["base"] = {"seed": 7}
    params = parse_params(raw)
    assert [getattr(params, section).seed for section in SEEDED] == [7, 7, 7, 7]
    assert [getattr(load_params(ROOT / "params.yaml"), section).seed for section in SEEDED] == [42, 42, 42, 42]
    assert parse_params(params.model_dump(mode="json")) == params  # a dump leaves the derived seeds out: it loads again


def test_a_file_in_the_old_layout_fails_naming_each_old_section(tmp_path: Path) -> None:
    old = tmp_path / "params.yaml"
    old.write_text(
        "variants: [stock]\n"
        "data: {catalog: c.csv}\n"
        "dataset: {id_column: id, category_column: cat, text_columns: [t]}\n"
        "monitor: {}\n"
        "encoder: {base: b}\n"
    )
    with pytest.raises(ParamsError) as caught:
        load_params(old)
    assert str(caught.value) == (
        "invalid params: catalog: Field required; data: Extra inputs are not permitted; "
        "dataset: Extra inputs are not permitted; monitor: Extra inputs are not permitted"
    )


SHARED = {"variants", "base", "catalog", "quality", "encoder", "inference"}
# The one exception: the refit stage fits again what train_sparse and train_xgb fitted, with their settings.
REFITS = {"refit": {"train_sparse", "train_xgb"}}


def test_a_stage_lists_keys_of_its_own_section_and_the_shared_ones_only() -> None:
    """Each dvc.yaml `params:` entry exists in params.yaml and is the stage's own section or a shared one."""
    raw = project_params()
    for stage, spec in stage_specs(ROOT / "dvc.yaml").items():
        for key in spec.get("params", []):
            assert key.split(".")[0] in SHARED | {stage} | REFITS.get(stage, set()), f"{stage} lists {key}"
            node = raw
            for part in key.split("."):
                assert part in node, f"{stage} lists {key}, which params.yaml lacks"
                node = node[part]
