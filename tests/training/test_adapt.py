"""The adapt stage: what it reads (train + unlabelled texts, never a test text), what it writes, and resumption."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

from devtools.processes import kill_after_first_checkpoint, run
from devtools.scratch_repo import write_params, write_paths
from prodcat.core.errors import InputError
from prodcat.core.params import ParamsError, load_params
from prodcat.data.catalog import feature_frame, read_catalog
from prodcat.data.splits import adaptation_rows
from prodcat.encoders.load import StartingEncoder, starting_encoder
from prodcat.inference.bundle import model_files
from prodcat.training.adapt import adaptation_corpus, corpus_digest, delete_words
from prodcat.training.resume import HEAD_FILE
from stages import adapt as adapt_stage
from stages import preprocess as preprocess_stage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def normalised_bert(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """The tiny BERT as a sentence-transformers folder ending, like all-MiniLM-L6-v2, in mean pooling + Normalize."""
    transformer = Transformer(str(tiny_bert), max_seq_length=32)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="mean"), Normalize()])
    folder = tmp_path_factory.mktemp("normalised") / "tiny-st"
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def catalog_with_copies(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path) -> Path:
    """The small catalog plus, for every 4th labelled row, a copy without a category: some copy a future test text."""
    raw = pd.read_csv(small_catalog, dtype=str, keep_default_na=False)
    copies = raw[raw["Category"] != ""].iloc[::4].assign(Category="")
    copies["Uniq Id"] = "copy-" + copies["Uniq Id"]
    path = tmp_path_factory.mktemp("copies") / "catalog.csv"
    pd.concat([raw, copies]).to_csv(path, index=False, lineterminator="\n")
    return path


def adapt_params(folder: Path, catalog: Path, base: Path, **adapt: object) -> Path:
    return write_params(
        folder, catalog, encoder={"base": str(base), "max_seq_length": 32}, catalog={"min_class_count": 8},
        adapt={"epochs": 1, "batch_size": 16, "learning_rate": 1e-3, "precision": "fp32", **adapt},
    )  # fmt: skip


def preprocessed(params: Path, folder: Path) -> Path:
    processed = folder / "processed"
    paths = write_paths(folder, processed=processed, preprocess_report=folder / "pre.json")
    preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
    return processed


def adapt_argv(params: Path, processed: Path, out: Path) -> list[str]:
    paths = write_paths(out, processed=processed, models=out, adapt_checkpoints=out / "checkpoints", adapt_report=out / "adapt.json",
                        adapt_live=out / "live")  # fmt: skip
    return ["--params", str(params), "--paths", str(paths)]


def texts(processed: Path, split: str) -> list[str]:
    return pd.read_parquet(processed / f"{split}.parquet")["text"].tolist()


def test_adaptation_rows_drop_held_out_texts_blanks_and_repeats() -> None:
    unlabelled = pd.DataFrame({"id": list("abcde"), "text": ["kettle", "a test text", "  ", "kettle", "lamp"]})
    kept = adaptation_rows(unlabelled, [pd.DataFrame({"text": ["a test text"]})])
    assert kept["id"].tolist() == ["a", "e"]


def test_adaptation_corpus_is_train_then_unlabelled_once_each_and_samples_by_seed() -> None:
    corpus = adaptation_corpus(["kettle", "lamp", ""], ["lamp", "chair"], max_texts=None, seed=0)
    assert corpus == ["kettle", "lamp", "chair"]
    sampled = adaptation_corpus([f"t{i}" for i in range(100)], [], max_texts=10, seed=3)
    assert len(set(sampled)) == 10 and sampled == adaptation_corpus([f"t{i}" for i in range(100)], [], max_texts=10, seed=3)


def test_delete_words_keeps_a_word_and_the_order() -> None:
    noisy = delete_words(["red steel kettle 1.7 litre", "lamp"], ratio=0.99, seed=0)
    assert noisy[1] == "lamp" and len(noisy[0].split()) >= 1
    kept = noisy[0].split()
    assert kept == [word for word in ["red", "steel", "kettle", "1.7", "litre"] if word in kept]


def test_adapt_trains_on_train_and_unlabelled_texts_never_a_test_text(catalog_with_copies: Path, tiny_bert: Path, tmp_path: Path) -> None:
    params = adapt_params(tmp_path, catalog_with_copies, tiny_bert, method="tsdae")
    processed = preprocessed(params, tmp_path)
    adapt_stage.main(adapt_argv(params, processed, tmp_path))

    train, unlabelled, test, validation = (texts(processed, split) for split in ("train", "unlabelled", "test", "validation"))
    corpus = adaptation_corpus(train, unlabelled, max_texts=None, seed=42)
    report = json.loads((tmp_path / "adapt.json").read_text())
    assert report["corpus_sha256"] == corpus_digest(corpus)  # the stage trained on exactly this list ...
    assert report["corpus_texts"] == len(corpus) == len(set(train) | set(unlabelled))
    raw = read_catalog(catalog_with_copies)
    loaded = load_params(params)
    copied = feature_frame(raw[raw["Uniq Id"].str.startswith("copy-")], loaded.catalog, loaded.catalog.max_text_chars)["text"]
    assert set(copied) & set(test), "the catalog should hold unlabelled copies of test rows"
    assert not set(corpus) & (set(test) | set(validation))  # ... which holds no test or validation text ...
    assert (
        set(unlabelled) <= set(corpus) and report["corpus_unlabelled_texts"] == len(set(unlabelled) - set(train)) >= 10
    )  # ... and the unlabelled rows


@pytest.mark.parametrize("method", ["tsdae", "mlm"])
def test_adapt_writes_a_normalised_sentence_encoder_that_finetune_starts_from(
    method: str, small_catalog: Path, normalised_bert: Path, tmp_path: Path
) -> None:
    params = adapt_params(tmp_path, small_catalog, normalised_bert, method=method)
    processed = preprocessed(params, tmp_path)
    adapt_stage.main(adapt_argv(params, processed, tmp_path))

    adapted_folder = tmp_path / "adapted"
    base, adapted = SentenceTransformer(str(normalised_bert)), SentenceTransformer(str(adapted_folder))
    assert [type(module) for module in adapted] == [Transformer, Pooling, Normalize]
    before, after = load_file(str(normalised_bert / "model.safetensors")), load_file(str(adapted_folder / "model.safetensors"))
    changed = [name for name in before if not np.allclose(before[name].numpy(), after[name].numpy())]
    assert "encoder.layer.0.attention.self.query.weight" in changed and len(changed) > len(before) // 2
    embeddings = adapted.encode(texts(processed, "validation")[:8])
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(embeddings, base.encode(texts(processed, "validation")[:8]), atol=1e-3)
    assert starting_encoder(adapted_folder, str(normalised_bert)).location == str(adapted_folder)
    report = json.loads((tmp_path / "adapt.json").read_text())
    assert report["method"] == method and report["steps"] == -(-report["corpus_texts"] // 16)
    assert list((tmp_path / "live" / "plots" / "metrics").rglob("*.tsv"))  # the DVCLive curve


def test_method_none_writes_a_marker_and_finetune_starts_from_the_base(small_catalog: Path, tiny_bert: Path, tmp_path: Path) -> None:
    params = adapt_params(tmp_path, small_catalog, tiny_bert)  # method none: the default
    adapt_stage.main(adapt_argv(params, tmp_path / "unused", tmp_path))
    assert [path.name for path in (tmp_path / "adapted").iterdir()] == ["adapt.json"]
    assert json.loads((tmp_path / "adapt.json").read_text()) == {"method": "none"}
    assert starting_encoder(tmp_path / "adapted", str(tiny_bert)) == StartingEncoder(str(tiny_bert), str(tiny_bert))
    with pytest.raises(InputError, match=re.escape("adapt.json is missing: run the adapt stage first")):
        starting_encoder(tmp_path / "nowhere", str(tiny_bert))


def test_bad_adapt_params_name_the_key(small_catalog: Path, tiny_bert: Path, tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"adapt\.method: Input should be 'none', 'tsdae' or 'mlm'"):
        load_params(adapt_params(tmp_path / "a", small_catalog, tiny_bert, method="simcse"))
    with pytest.raises(ParamsError, match=r"adapt\.mlm_probability: Input should be less than 1"):
        load_params(adapt_params(tmp_path / "b", small_catalog, tiny_bert, mlm_probability=1.5))
    with pytest.raises(ParamsError, match=re.escape("variant adapted needs adapt.method tsdae or mlm, not none")):
        load_params(write_params(tmp_path / "c", small_catalog, variants=["stock", "adapted"]))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["tsdae", "mlm"])
def test_sigkill_mid_adaptation_resumes_to_the_same_weights(method: str, small_catalog: Path, tiny_bert: Path, tmp_path: Path) -> None:
    params = adapt_params(tmp_path, small_catalog, tiny_bert, method=method, epochs=5, batch_size=4)
    processed = preprocessed(params, tmp_path)
    command = [sys.executable, "-m", "stages.adapt", *adapt_argv(params, processed, tmp_path / "straight")]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)

    crashed = tmp_path / "crashed"
    command = [sys.executable, "-m", "stages.adapt", *adapt_argv(params, processed, crashed)]
    last_file = HEAD_FILE if method == "tsdae" else "trainer_state.json"  # TSDAE's decoder is added after the Trainer's files
    interrupted_at = kill_after_first_checkpoint(command, crashed / "checkpoints", cwd=ROOT, last_file=last_file)
    assert not (crashed / "adapted").exists()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    assert json.loads((crashed / "adapt.json").read_text())["resumed_from"] in interrupted_at

    expected, resumed = (
        load_file(str(tmp_path / "straight" / "adapted" / "model.safetensors")),
        load_file(str(crashed / "adapted" / "model.safetensors")),
    )
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        assert (tensor - resumed[name]).abs().max() < 1e-5, name


@pytest.mark.slow
def test_dvc_exp_run_with_adaptation_scores_the_adapted_variant(project: Path) -> None:
    """`dvc exp run -S adapt.method=...`: adapt runs, finetune starts from its encoder, the adapted variant is scored."""
    variants = "variants=[stock,adapted,finetuned,softmax]"
    run(
        [
            "dvc",
            "exp",
            "run",
            "-S",
            "adapt.method=mlm",
            "-S",
            "adapt.learning_rate=0.001",
            "-S",
            variants,
            "-S",
            "champion.fusion_members=[softmax,finetuned]",
        ],
        project,
    )
    assert json.loads((project / "metrics/adapt.json").read_text())["method"] == "mlm"
    assert sorted(json.loads((project / "metrics/evaluate.json").read_text())) == ["adapted", "finetuned", "softmax", "stock"]
    adapted, stock = (np.load(project / "data/embeddings" / encoder / "test.npy") for encoder in ("adapted", "stock"))
    assert np.abs(adapted - stock).mean() > 0.01 * np.abs(stock).mean()
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert lock["adapt"]["params"]["params.yaml"]["adapt"]["method"] == "mlm"
    adapted_out = next(out for out in lock["adapt"]["outs"] if out["path"] == "models/adapted")
    assert {"path": "models/adapted", "md5": adapted_out["md5"]}.items() <= next(
        dep for dep in lock["finetune"]["deps"] if dep["path"] == "models/adapted"
    ).items()


def test_a_bundle_of_the_adapted_variant_packs_the_adapted_encoder() -> None:
    assert model_files(["adapted"]) == ["xgb/tabular.json", "xgb/adapted.ubj", "adapted"]
    assert model_files(["softmax", "hybrid", "sparse", "fusion"]) == ["xgb/tabular.json", "xgb/hybrid.ubj", "finetuned", "sparse"]
