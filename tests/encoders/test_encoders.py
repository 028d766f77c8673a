"""Encoder names resolve to local folders first; a raw BERT becomes Transformer + mean pooling."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.tiny_bert import FP32_ATOL
from prodcat.encoders.load import load_encoder, resolve_encoder, resolve_precision


def test_packaged_minilm_resolves_to_a_local_sentence_transformers_folder() -> None:
    folder = Path(resolve_encoder("all-MiniLM-L6-v2"))
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()
    assert resolve_encoder("sentence-transformers/all-MiniLM-L6-v2") == str(folder)
    assert resolve_encoder("some-org/some-model") == "some-org/some-model"


def test_raw_bert_folder_gets_mean_pooling(tiny_bert: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=16)
    pooling = model[1]
    assert type(pooling).__name__ == "Pooling" and pooling.pooling_mode == "mean"
    assert model.max_seq_length == 16
    assert model.encode(["a red ball"]).shape == (1, 32)


def test_saved_sentence_transformers_folder_loads_back(tiny_bert: Path, tmp_path: Path) -> None:
    model = load_encoder(str(tiny_bert), max_seq_length=16)
    model.save_pretrained(str(tmp_path / "st"))
    assert (tmp_path / "st" / "modules.json").is_file()
    reloaded = load_encoder(str(tmp_path / "st"), max_seq_length=16)
    assert reloaded.encode(["a red ball"]) == pytest.approx(model.encode(["a red ball"]), abs=FP32_ATOL)  # same weights


def test_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a sentence-transformers folder"):
        load_encoder(str(tmp_path), max_seq_length=16)


def test_precision_choices() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") in {"bf16", "fp32"}
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", "cpu")
