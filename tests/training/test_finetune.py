"""Fine-tuning: both objectives learn, only the last checkpoint kept, resumption only for the same run, train split only."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from transformers import set_seed

from devtools.scratch_repo import ROOT, finetune_paths, write_params, write_paths
from prodcat.core.params import EncoderParams, FinetuneParams
from prodcat.core.pipeline import stage_specs
from prodcat.encoders.flops import token_lengths
from prodcat.encoders.load import load_encoder
from prodcat.training.finetune import finetune_encoder, truncated_texts
from prodcat.training.losses import build_loss
from prodcat.training.resume import RUN_FINGERPRINT, resumable_checkpoint, run_fingerprint
from prodcat.training.trainer import LabelledTexts
from stages import finetune as finetune_stage
from stages import preprocess as preprocess_stage

TEXTS = [
    f"{color} {kind} number {i}"
    for i in range(12)
    for color, kind in [("red", "lego bricks"), ("steel", "water bottle"), ("soft", "baby blanket")]
]
LABELS = [0, 1, 2] * 12


def class_separation(model, texts: list[str], labels: list[int]) -> float:
    """Mean cosine to own-class centroid minus mean cosine to other centroids."""
    embeddings = model.encode(texts, normalize_embeddings=True)
    labels = np.array(labels)
    centroids = np.stack([embeddings[labels == k].mean(0) for k in range(3)])
    similarity = embeddings @ centroids.T
    own = similarity[np.arange(len(labels)), labels]
    return float(own.mean() - (similarity.sum(1) - own).mean() / 2)


@pytest.mark.parametrize("objective", ["softmax_head", "batch_all_triplet"])
def test_objective_separates_classes_and_keeps_only_the_last_checkpoint(objective: str, tiny_bert: Path, tmp_path: Path) -> None:
    set_seed(0)
    model = load_encoder(str(tiny_bert), max_seq_length=16)
    before = class_separation(model, TEXTS, LABELS)
    # In TEXTS the token length tells the class: length buckets would make every batch single-class.
    params = FinetuneParams(
        objective=objective, epochs=3, batch_size=6, learning_rate=5e-3, head_learning_rate=5e-2, precision="fp32", length_buckets=False
    )
    loss = build_loss(model, params, num_labels=3)
    summary = finetune_encoder(model, loss, LabelledTexts(TEXTS, LABELS), None, params, "fp32", tmp_path / "ckpt", fingerprint="f")
    assert class_separation(model, TEXTS, LABELS) > before + 0.05
    assert sorted(path.name for path in (tmp_path / "ckpt").glob("checkpoint-*")) == ["checkpoint-18"]  # epochs 1-2 rotated out
    assert summary.steps == 18 and summary.epochs == 3


def test_checkpoints_of_another_run_are_not_resumed(tmp_path: Path) -> None:
    checkpoints = tmp_path / "ckpt"
    assert resumable_checkpoint(checkpoints, "run-a") is None
    (checkpoints / "checkpoint-5").mkdir()
    assert resumable_checkpoint(checkpoints, "run-a") == str(checkpoints / "checkpoint-5")
    assert resumable_checkpoint(checkpoints, "run-b") is None
    assert not (checkpoints / "checkpoint-5").exists()
    assert json.loads((checkpoints / RUN_FINGERPRINT).read_text()) == {"fingerprint": "run-b"}


def test_fingerprint_changes_with_data_and_settings() -> None:
    encoder, params = EncoderParams(base="x"), FinetuneParams()
    examples = LabelledTexts(TEXTS, LABELS)
    base = run_fingerprint(examples, encoder, params)
    assert base == run_fingerprint(LabelledTexts(list(TEXTS), list(LABELS)), encoder, params)
    assert base != run_fingerprint(LabelledTexts(TEXTS[:-1], LABELS[:-1]), encoder, params)
    assert base != run_fingerprint(examples, encoder, params.model_copy(update={"epochs": 9}))


def test_measuring_long_texts_logs_no_too_long_warning(tiny_bert: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Truncation is intended (finetune reports how often): measuring it must not print transformers' "indexing errors" warning."""
    model = load_encoder(str(tiny_bert), 32)  # a fresh tokenizer: transformers warns once per tokenizer
    texts = ["red lego bricks " * 40, "steel water bottle"]
    assert truncated_texts(model, texts) == 1
    assert token_lengths(model.tokenizer, texts, 32) == [32, len(model.tokenizer("steel water bottle")["input_ids"])]
    assert not [record for record in caplog.records if "Token indices sequence length" in record.getMessage()]


def test_no_test_row_reaches_finetune(
    small_catalog: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The trainer sees exactly the train rows and labels, with validation.parquet and test.parquet beside them."""
    import pandas as pd

    from prodcat.data.splits import label_ids
    from prodcat.training import finetune as finetune_module

    params = write_params(
        tmp_path,
        small_catalog,
        encoder={"base": str(tiny_bert), "max_seq_length": 32},
        catalog={"min_class_count": 8},
        finetune={"epochs": 1, "batch_size": 16},
    )
    processed = tmp_path / "processed"
    preprocess_stage.main(["--params", str(params), "--paths", str(write_paths(tmp_path, processed=processed))])
    test = pd.read_parquet(processed / "test.parquet")
    train = pd.read_parquet(processed / "train.parquet")
    names = json.loads((processed / "labels.json").read_text())
    assert set(test["id"]).isdisjoint(train["id"])
    test_only = set(test["text"]) - set(train["text"])
    assert test_only

    given: list[tuple[str, int]] = []
    original = finetune_stage.finetune_encoder
    monkeypatch.setattr(
        finetune_stage,
        "finetune_encoder",
        lambda model, loss, train, *a, **k: (
            given.extend(zip(train.texts, train.labels, strict=True)) or original(model, loss, train, *a, **k)
        ),
    )
    trained_on: list[str] = []

    class RecordingTrainer(finetune_module.SentenceTransformerTrainer):
        def __init__(self, *args, train_dataset, **kwargs) -> None:
            trained_on.extend(train_dataset["text"])
            super().__init__(*args, train_dataset=train_dataset, **kwargs)

    monkeypatch.setattr(finetune_module, "SentenceTransformerTrainer", RecordingTrainer)
    caplog.set_level(logging.INFO)
    finetune_stage.main(["--params", str(params), "--paths", str(finetune_paths(tmp_path, processed))])
    said = [record.getMessage() for record in caplog.records if record.name == "stages.finetune"]
    too_long = truncated_texts(load_encoder(str(tiny_bert), 32), train["text"].tolist())
    [line] = [line for line in said if "exceed" in line]
    assert too_long > 0 and line.endswith(
        f"; {too_long} of {len(train)} train texts exceed 32 tokens and are truncated (metrics: truncated_share)"
    )
    assert not [record for record in caplog.records if "Token indices sequence length" in record.getMessage()]  # said once, by the stage
    report = json.loads((tmp_path / "finetune.json").read_text())
    assert report["truncated_share"] == round(too_long / len(train), 4)
    assert sorted(given) == sorted(zip(train["text"], label_ids(train["label"], names).tolist(), strict=True))
    assert trained_on and set(trained_on) <= set(train["text"]) and not set(trained_on) & test_only
    assert sorted(trained_on) == sorted(train["text"])  # validation.parquet draws the curve; it is not trained on
    assert (tmp_path / "finetuned" / "model.safetensors").is_file()
    stage = stage_specs(ROOT / "dvc.yaml")["finetune"]
    assert not any("test" in str(dep) for dep in stage["deps"])
    assert (tmp_path / "finetuned" / "softmax_head.safetensors").is_file()


def test_dropout_is_off_only_while_training_when_asked(tiny_bert: Path, tmp_path: Path) -> None:
    from torch import nn

    from prodcat.training import finetune as finetune_module

    model = load_encoder(str(tiny_bert), max_seq_length=16)
    rates = lambda: sorted({module.p for module in model.modules() if isinstance(module, nn.Dropout)})  # noqa: E731
    assert rates() == [0.1]
    with finetune_module.dropout_switched_off(model):
        assert rates() == [0.0]
    assert rates() == [0.1]
    seen: list[list[float]] = []
    original = finetune_module.SentenceTransformerTrainer.train
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finetune_module.SentenceTransformerTrainer, "train", lambda self, **k: seen.append(rates()) or original(self, **k))
        params = FinetuneParams(epochs=1, batch_size=6, precision="fp32", dropout=False)
        finetune_encoder(model, build_loss(model, params, 3), LabelledTexts(TEXTS, LABELS), None, params, "fp32", tmp_path / "ckpt", "f")
    assert seen == [[0.0]] and rates() == [0.1]
