"""The onnx_int8 runtime: the ONNX export embeds as sentence-transformers does, int8 stays close, and every failure falls back to torch."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

from devtools.tiny_bert import FP32_ATOL, RELATIVE_INT8_ERROR
from prodcat.core.errors import InputError
from prodcat.core.io import read_json
from prodcat.encoders.encode import cache_path, encode_texts
from prodcat.encoders.load import load_encoder
from prodcat.encoders.matrices import load_matrix
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import Int8Encoder, adopt_int8, check_int8, export_int8, export_onnx, row_cosines
from prodcat.encoders.runtimes.registry import load_runtime

# Lengths from 1 to many tokens, so batches are padded and long texts truncated at 32 tokens.
TEXTS = [
    "lego",
    "red lego bricks for kids",
    "stainless steel water bottle with a straw lid, 750 ml, keeps drinks cold for 24 hours " * 3,
    "water bottle for kids",
    "a wooden puzzle",
    "red steel bricks and a blue toy car with remote control and batteries included",
]


@pytest.fixture(scope="module")
def tiny_model(tiny_bert: Path) -> SentenceTransformer:
    return load_encoder(str(tiny_bert), max_seq_length=32)  # raw BERT folder: mean pooling, no Normalize


@pytest.fixture(scope="module")
def int8_folder(tiny_model: SentenceTransformer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_int8(tiny_model, tmp_path_factory.mktemp("int8") / "stock", max_seq_length=32)


def test_fp32_export_pools_like_sentence_transformers_mean_without_and_cls_with_normalize(
    tiny_model: SentenceTransformer, tmp_path: Path
) -> None:
    transformer = tiny_model[0]
    cls_normalized = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="cls"), Normalize()]
    )
    for name, model, norms_one in (("mean", tiny_model, False), ("cls", cls_normalized, True)):
        reference = encode_texts(model, TEXTS, batch_size=4, precision="fp32")
        exported = Int8Encoder(export_onnx(model, tmp_path / name, max_seq_length=32, quantization=None), batch_size=4).encode(TEXTS)
        assert np.abs(exported - reference).max() < FP32_ATOL, name
        assert np.allclose(np.linalg.norm(exported, axis=1), 1.0, atol=FP32_ATOL) == norms_one, name
    tokens = tiny_model.tokenizer(TEXTS[1], return_tensors="pt")
    hidden = transformer.auto_model(**tokens).last_hidden_state[0]
    assert np.allclose(exported[1], (hidden[0] / hidden[0].norm()).detach().numpy(), atol=FP32_ATOL)  # cls: the first token, unit length
    assert tiny_model[0].auto_model.config._attn_implementation == "sdpa" and not tiny_model.training  # as before the export


def test_int8_embeddings_stay_close_to_torch_but_are_quantized(tiny_model: SentenceTransformer, int8_folder: Path) -> None:
    reference = encode_texts(tiny_model, TEXTS, batch_size=4, precision="fp32")
    int8 = Int8Encoder(int8_folder, batch_size=4).encode(TEXTS)
    relative = np.linalg.norm(int8 - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert relative.max() < RELATIVE_INT8_ERROR
    # |a - b| <= r |a| bounds the angle: cosine >= sqrt(1 - r^2) (> 0.9988 here)
    assert row_cosines(reference, int8).min() > np.sqrt(1 - RELATIVE_INT8_ERROR**2)
    # Quantized, not just exported: the fp32 export agrees to FP32_ATOL (test above), int8 moves every row by more.
    assert (np.abs(int8 - reference).max(axis=1) > FP32_ATOL).all()
    info = read_json(int8_folder / "export.json")
    assert (info["pooling"], info["normalize"], info["max_seq_length"], info["inputs"]) == (
        "mean",
        False,
        32,
        ["input_ids", "attention_mask", "token_type_ids"],
    )
    assert (info["quantization"]["per_channel"], info["quantization"]["fp32_after"]) == (True, [])


def test_ffn_output_fp32_keeps_the_matmuls_after_gelu_unquantized(
    tiny_model: SentenceTransformer, int8_folder: Path, tmp_path: Path
) -> None:
    def matmuls_after_gelu(folder: Path) -> list[str]:
        graph = onnx.load(folder / "model.onnx").graph
        produced_by = {output: node.op_type for node in graph.node for output in node.output}
        return [node.op_type for node in graph.node if any(produced_by.get(name) == "BiasGelu" for name in node.input)]

    kept = export_int8(tiny_model, tmp_path / "kept", max_seq_length=32, ffn_output_fp32=True)
    assert matmuls_after_gelu(kept) == ["MatMul", "MatMul"]  # one per layer, fp32
    assert matmuls_after_gelu(int8_folder) == ["DynamicQuantizeLinear", "DynamicQuantizeLinear"]  # quantized on the fly
    assert Int8Encoder(kept, 4).fingerprint != Int8Encoder(int8_folder, 4).fingerprint


def test_check_int8_gates_on_the_mean_cosine_and_adopt_int8_on_the_accuracy_drop() -> None:
    reference = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    candidate = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)  # cosines 1.0 and 0.8: mean 0.9
    assert check_int8(reference, candidate, min_cosine=0.9) == (True, "cosine int8 vs torch: mean 0.90000, min 0.80000 over 2 texts")
    passed, reason = check_int8(reference, candidate, min_cosine=0.95)
    assert not passed and reason.endswith("mean below inference.int8_min_cosine 0.95")
    assert adopt_int8(0.9100, 0.9085, max_drop=0.002) == ("onnx_int8", "champion validation accuracy torch 0.9100, int8 0.9085")
    backend, reason = adopt_int8(0.9100, 0.9070, max_drop=0.002)
    assert backend == "torch" and reason.endswith("drop 0.0030 above champion.int8_max_accuracy_drop 0.002")


def test_the_registry_loads_each_runtime_by_name(
    tiny_bert: Path, tiny_model: SentenceTransformer, int8_folder: Path, tmp_path: Path
) -> None:
    settings = RuntimeSettings(max_seq_length=32, batch_size=4, precision="fp32")
    int8 = load_runtime("onnx_int8", int8_folder, settings).encode(TEXTS)
    torch_vectors = load_runtime("torch", str(tiny_bert), settings).encode(TEXTS)
    # Same export, same batches, same process: the same kernels, bit for bit.
    assert np.array_equal(int8, Int8Encoder(int8_folder, batch_size=4).encode(TEXTS))
    # Same weights and batches; only another load of the model: float32 sums in the same order, equal to rounding.
    assert np.allclose(torch_vectors, encode_texts(tiny_model, TEXTS, 4, "fp32"), atol=1e-6)
    with pytest.raises(InputError, match=re.escape("runtime onnx_int8 needs an int8 export folder with export.json")):
        load_runtime("onnx_int8", tmp_path, settings)


def run_embed_stage(tmp_path: Path, catalog: Path, tiny_bert: Path, **inference: object) -> tuple[list[str], Path]:
    """preprocess + embed (stock and finetuned = the tiny BERT) in `tmp_path`; the validation texts and the argv's folder."""
    from devtools.scratch_repo import write_params, write_paths
    from stages import embed as embed_stage
    from stages import preprocess as preprocess_stage

    params = write_params(
        tmp_path, catalog, encoder={"base": str(tiny_bert), "max_seq_length": 32}, catalog={"min_class_count": 8},
        inference={"precision": "fp32", **inference}, variants=["stock"],
    )  # fmt: skip
    processed = tmp_path / "processed"
    paths = write_paths(tmp_path, processed=processed, models=tmp_path, embeddings=tmp_path / "emb", embedding_cache=tmp_path / "cache",
                        embed_report=tmp_path / "embed.json")  # fmt: skip
    if not processed.exists():
        preprocess_stage.main(["--params", str(params), "--paths", str(paths)])
        (tmp_path / "finetuned").symlink_to(tiny_bert)
    embed_stage.main(["--params", str(params), "--paths", str(paths)])
    return pd.read_parquet(processed / "validation.parquet")["text"].tolist(), tmp_path


def test_embed_stage_scores_validation_and_test_with_int8_and_keeps_train_on_torch(
    small_catalog: Path, tiny_bert: Path, tmp_path: Path, tiny_model: SentenceTransformer
) -> None:
    for _ in range(2):  # cold cache, then every text from the cache
        texts, out = run_embed_stage(tmp_path, small_catalog, tiny_bert, runtime="onnx_int8")
        report = read_json(out / "embed.json")
        assert report["runtime"] == "onnx_int8" and report["encoders"]["stock"]["runtime_used"] == "onnx_int8"
        assert read_json(out / "onnx_int8/index.json") == {"runtime": "onnx_int8", "exports": ["stock"]}
        assert report["encoders"]["stock"]["mean_cosine"] > np.sqrt(1 - RELATIVE_INT8_ERROR**2)
        validation = load_matrix(out / "emb/stock/validation")
        assert np.array_equal(validation, Int8Encoder(out / "onnx_int8/stock", 64).encode(texts))
        assert np.allclose(load_matrix(out / "emb/stock/validation_torch"), encode_texts(tiny_model, texts, 64, "fp32"), atol=FP32_ATOL)
        assert not np.allclose(validation, load_matrix(out / "emb/stock/validation_torch"), atol=FP32_ATOL)
    train_texts = pd.read_parquet(out / "processed/train.parquet")["text"].tolist()
    assert np.allclose(load_matrix(out / "emb/stock/train"), encode_texts(tiny_model, train_texts, 64, "fp32"), atol=FP32_ATOL)
    int8_cache = out / "cache" / f"{Int8Encoder(out / 'onnx_int8/stock', 64).fingerprint}.npz"
    assert sorted((out / "cache").glob("*.npz")) == sorted([cache_path(out / "cache", tiny_model, "fp32"), int8_cache])


def test_embed_stage_falls_back_to_torch_and_says_why(
    small_catalog: Path, tiny_bert: Path, tmp_path: Path, tiny_model: SentenceTransformer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stages import embed as embed_stage

    def broken_export(*_: object, **__: object) -> Path:
        raise RuntimeError("Exporting the operator 'aten::foo' is not supported")

    monkeypatch.setattr(embed_stage, "export_int8", broken_export)
    texts, out = run_embed_stage(tmp_path, small_catalog, tiny_bert, runtime="onnx_int8")
    stock = read_json(out / "embed.json")["encoders"]["stock"]
    assert (stock["runtime_used"], stock["reason"]) == (
        "torch",
        "int8 export failed: RuntimeError: Exporting the operator 'aten::foo' is not supported",
    )
    assert np.allclose(load_matrix(out / "emb/stock/validation"), encode_texts(tiny_model, texts, 64, "fp32"), atol=FP32_ATOL)
    assert list((out / "onnx_int8").iterdir()) == [out / "onnx_int8/index.json"] and not (out / "emb/stock/validation_torch.npy").exists()

    monkeypatch.undo()
    encode = Int8Encoder.encode
    monkeypatch.setattr(Int8Encoder, "encode", lambda self, texts: -encode(self, texts))  # vectors point elsewhere
    texts, out = run_embed_stage(tmp_path, small_catalog, tiny_bert, runtime="onnx_int8")
    stock = read_json(out / "embed.json")["encoders"]["stock"]
    assert stock["runtime_used"] == "torch" and stock["mean_cosine"] == pytest.approx(-1.0, abs=FP32_ATOL)
    assert stock["reason"].endswith("mean below inference.int8_min_cosine 0.98")
    test_texts = pd.read_parquet(out / "processed/test.parquet")["text"].tolist()
    assert np.allclose(load_matrix(out / "emb/stock/test"), encode_texts(tiny_model, test_texts, 64, "fp32"), atol=FP32_ATOL)
    assert (
        list((out / "onnx_int8").iterdir()) == [out / "onnx_int8/index.json"] and len(list((out / "cache").glob("*.npz"))) == 1
    )  # the torch cache only


def truncated_export(*args: object, **kwargs: object) -> Path:
    """A real export whose graph file is then cut short: onnxruntime refuses to load it."""
    folder = export_int8(*args, **kwargs)
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes()[:1000])
    return folder


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        (
            ("prodcat.encoders.runtimes.onnx_int8.OPSET", 9),
            "int8 export failed: SymbolicValueError: Unsupported: ONNX export of Slice with dynamic inputs",
        ),
        (("stages.embed.export_int8", truncated_export), "int8 export failed: InvalidProtobuf: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF"),
    ],
    ids=["torch-exporter", "onnxruntime"],
)
def test_embed_stage_falls_back_to_torch_when_the_export_or_onnxruntime_fails(
    small_catalog: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch: tuple[str, object], reason: str
) -> None:
    monkeypatch.setattr(*patch)
    _, out = run_embed_stage(tmp_path, small_catalog, tiny_bert, runtime="onnx_int8")
    stock = read_json(out / "embed.json")["encoders"]["stock"]
    assert stock["runtime_used"] == "torch" and stock["reason"].startswith(reason)
    assert list((out / "onnx_int8").iterdir()) == [out / "onnx_int8/index.json"]


@pytest.mark.parametrize(
    ("patch", "bug"),
    [
        ("prodcat.encoders.runtimes.onnx_int8._pooling_and_normalize", AttributeError("'Pooling' object has no attribute 'pooling_mode'")),
        ("prodcat.encoders.runtimes.onnx_int8.Int8Encoder.encode", TypeError("encode() got an unexpected keyword argument 'batch'")),
    ],
    ids=["in-the-export", "in-the-encoder"],
)
def test_a_bug_in_the_int8_path_fails_the_embed_stage(
    small_catalog: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch: str, bug: Exception
) -> None:
    """Only export and onnxruntime failures fall back to torch: a programming error is a red run, not a silent fallback."""

    def buggy(*_: object, **__: object) -> None:
        raise bug

    monkeypatch.setattr(patch, buggy)
    with pytest.raises(type(bug), match=re.escape(str(bug))):
        run_embed_stage(tmp_path, small_catalog, tiny_bert, runtime="onnx_int8")
    assert not (tmp_path / "embed.json").exists()


def test_champion_keeps_int8_for_prediction_only_within_the_accuracy_drop(tmp_path: Path) -> None:
    from prodcat.encoders.matrices import save_matrix
    from prodcat.features.blocks import FeatureBlocks
    from prodcat.features.tabular import TabularEncoding
    from prodcat.heads.fusion import FusionHead
    from prodcat.heads.scoring import TrainedHeads
    from prodcat.heads.softmax import SoftmaxHead
    from prodcat.heads.sparse import LinearHead
    from stages.champion import scoring_backend

    truth = np.arange(10) % 3
    torch_embeddings = np.eye(3, 4, dtype=np.float32)[truth]  # the softmax head below reads class k off dimension k
    one_row_off = torch_embeddings.copy()
    one_row_off[0] = np.roll(one_row_off[0], 1)
    encoding = TabularEncoding.fit(pd.DataFrame(index=range(10)), [])
    head = {"weight": torch.eye(3, 4), "bias": torch.zeros(3), "log_scale": torch.tensor(2.0)}
    heads = TrainedHeads(
        encoding,
        {"softmax": SoftmaxHead("finetuned", head), "sparse": LinearHead(1.0), "fusion": FusionHead({"softmax": 1.0, "sparse": 0.0})},
    )
    sparse_scores = np.zeros((10, 3), dtype=np.float32)

    def backend(int8: np.ndarray, champion: str = "softmax") -> tuple[str, str]:
        blocks = FeatureBlocks({"finetuned": int8}, sparse_scores, encoding.transform(pd.DataFrame(index=range(10))))
        return scoring_backend(champion, ["softmax", "sparse"], blocks, heads, truth, tmp_path, max_drop=0.002)

    assert backend(one_row_off) == ("torch", "embed adopted no int8 embeddings (metrics/embed.json)")
    save_matrix(tmp_path / "finetuned" / "validation_torch", torch_embeddings)
    assert backend(torch_embeddings) == ("onnx_int8", "champion validation accuracy torch 1.0000, int8 1.0000")
    assert backend(one_row_off) == (
        "torch",
        "champion validation accuracy torch 1.0000, int8 0.9000: drop 0.1000 above champion.int8_max_accuracy_drop 0.002",
    )
    assert backend(one_row_off, champion="fusion")[0] == "torch"  # the fusion scored through its members


@pytest.mark.slow
def test_dvc_repro_with_the_int8_runtime_records_both_gates_and_is_then_up_to_date(project: Path) -> None:
    from devtools.processes import run
    from devtools.scratch_repo import set_params

    # Encoder variants only, so that the champion (and the bundle) embeds; the gate's bound is tested above.
    set_params(
        project / "params.yaml",
        variants=["stock", "finetuned", "softmax"],
        inference={"runtime": "onnx_int8"},
        champion={"int8_max_accuracy_drop": 0.99},
    )
    run(["dvc", "repro"], project)
    embed = read_json(project / "metrics/embed.json")
    assert {encoder: report["runtime_used"] for encoder, report in embed["encoders"].items()} == {
        "stock": "onnx_int8",
        "finetuned": "onnx_int8",
    }
    assert sorted(path.name for path in (project / "models/onnx_int8").iterdir()) == ["finetuned", "index.json", "stock"]
    champion = read_json(project / "models/champion.json")
    assert champion["embed_backend_reason"].startswith("champion validation accuracy torch")
    assert champion["embed_backend"] == "onnx_int8"
    assert "up to date" in run(["dvc", "status"], project).stdout

    # The bundle packs the adopted int8 export and scores with it: its encoder is the int8 one, not torch.
    from prodcat.inference.bundle import load_bundle

    bundle = load_bundle(project / "models/bundle")
    encoder = {"stock": "stock", "finetuned": "finetuned", "softmax": "finetuned"}[champion["champion"]]
    assert bundle.manifest["inference"]["runtime"] == bundle.manifest["embed_backend"] == "onnx_int8"
    assert bundle.manifest["encoders"][encoder]["int8"] == f"onnx_int8/{encoder}"
    texts = ["Wooden Puzzle Board 24 pieces", "LEGO City Fire Truck"]
    expected = Int8Encoder(project / "models/onnx_int8" / encoder, 8).encode(texts)
    np.testing.assert_array_equal(bundle.predictor.encoders[encoder](texts), expected)
