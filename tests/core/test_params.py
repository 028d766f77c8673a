"""params.yaml is validated at load with messages that name the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devtools.scratch_repo import ROOT
from prodcat.core.params import ParamsError, load_params, parse_params



def project_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_project_params_are_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.variants == ["stock", "finetuned", "softmax", "sparse", "hybrid", "fusion"]
    assert params.dataset.id_column in params.dataset.required_columns


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("finetune", "objective", "magic", "finetune.objective"),
        ("finetune", "epochs", 0, "finetune.epochs"),
        ("finetune", "processes", 0, "finetune.processes"),
        ("split", "test_size", 1.5, "split.test_size"),
        ("sparse", "char_ngrams", [5, 2], "sparse.char_ngrams"),
        ("sparse", "classifier", "svm", "sparse.classifier"),
        ("preprocess", "rare_classes", "keep", "preprocess.rare_classes"),
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
        ({"variants": ["softmax"], "finetune": {"objective": "batch_all_triplet"}}, "variant softmax needs finetune.objective softmax_head"),
        ({"variants": ["stock"], "finetune": {"objective": "batch_all_triplet", "processes": 2}}, "finetune: Value error, processes > 1 needs objective softmax_head"),
        ({"variants": ["sparse", "fusion"], "fusion": {"members": ["sparse", "hybrid"]}}, r"fusion.members \['hybrid'\] are not in variants"),
        ({"fusion": {"members": ["sparse", "fusion"]}}, "fusion.members cannot include fusion itself"),
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
