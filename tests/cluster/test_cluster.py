"""Sharded work on a local Dask cluster (2 worker processes, 1 thread each) equals the in-process work, in order."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client

from devtools.scratch_repo import ROOT
from devtools.tiny_bert import FP32_ATOL
from prodcat.cli.predict import predict as predict_command
from prodcat.cluster import workers as cluster_module
from prodcat.cluster.sharded_encoding import EncoderSpec, encode_on_cluster
from prodcat.cluster.workers import loads_per_worker, open_cluster, shards
from prodcat.core.io import write_json
from prodcat.core.params import (
    ClusterParams,
    EncoderParams,
    InferenceParams,
    ParamsError,
    TrainXgbParams,
    load_params,
    parse_params,
)
from prodcat.data.catalog import make_examples
from prodcat.data.splits import label_ids, label_names
from prodcat.encoders.encode import cached_encode, encode_texts, encoder_fingerprint
from prodcat.encoders.load import load_encoder
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import Int8Encoder
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.xgboost import Design, design_matrix, predict_proba, train_booster, train_booster_on_cluster
from prodcat.inference.batch import score_chunks
from prodcat.inference.bundle import load_bundle, write_bundle
from prodcat.inference.drift import reference_profile
from prodcat.inference.progress import BatchProgress
from stages import embed as embed_stage

PARAMS = load_params(ROOT / "params.yaml")
SEQ = 32


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """The local cluster the `cluster` params start (local_workers: 2), shared by the module and stopped after it."""
    with open_cluster(ClusterParams(local_workers=2, threads_per_worker=1)) as connected:
        yield connected


@pytest.fixture(scope="module")
def catalog(small_catalog: Path) -> pd.DataFrame:
    return pd.read_csv(small_catalog, dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def texts(catalog: pd.DataFrame) -> list[str]:
    return make_examples(catalog, PARAMS.catalog).frame["text"].tolist()


def test_shards_cut_in_order_and_the_local_cluster_has_the_configured_workers(client: Client) -> None:
    assert shards(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert sorted(client.nthreads().values()) == [1, 1] and client.cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    # glibc's malloc keeps its dynamic thresholds in the workers (Dask's trim setting slows torch 1.5x)
    assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}


def test_sharded_embeddings_equal_in_process_and_each_worker_loads_the_encoder_once(
    client: Client, tiny_bert: Path, texts: list[str]
) -> None:
    model = load_encoder(str(tiny_bert), SEQ)
    spec = EncoderSpec("torch", str(tiny_bert), RuntimeSettings(SEQ, batch_size=16, precision="fp32"), encoder_fingerprint(model, "fp32"))
    expected = encode_texts(model, texts, 16, "fp32")
    sharded = encode_on_cluster(client, spec, texts, shard_rows=60)  # 400 texts: 7 shards over 2 workers
    again = encode_on_cluster(client, spec, texts[::-1], shard_rows=60)
    assert sharded.shape == expected.shape == (len(texts), 32)
    assert np.allclose(sharded, expected, atol=FP32_ATOL) and np.allclose(again, expected[::-1], atol=FP32_ATOL)
    loads = {worker: counts.get(f"encoder:{spec.fingerprint}", 0) for worker, counts in loads_per_worker(client).items()}
    assert sorted(loads.values()) == [1, 1]  # 14 shards, both workers used, one load each


def test_embed_stage_on_a_cluster_equals_in_process_and_fills_the_same_cache(
    client: Client, tiny_bert: Path, texts: list[str], tmp_path: Path
) -> None:
    params = PARAMS.model_copy(update={
        "encoder": EncoderParams(base=str(tiny_bert), max_seq_length=SEQ), "inference": InferenceParams(batch_size=16, precision="fp32"),
        "cluster": ClusterParams(shard_rows=50),
    })  # fmt: skip
    splits = {"train": texts[:250], "validation": texts[250:320], "test": texts[320:]}

    def run(cache: str, client: Client | None) -> tuple:
        return embed_stage.encoder_matrices(str(tiny_bert), splits, params, "cpu", "fp32", tmp_path / cache, tmp_path / "int8", client)

    local, _, local_files = run("local", None)
    sharded, report, sharded_files = run("sharded", client)
    assert report["runtime_used"] == "torch" and [path.name for path in local_files] == [path.name for path in sharded_files]
    for split in ("train", "validation", "test"):
        assert np.allclose(sharded[split], local[split], atol=FP32_ATOL), split
    with np.load(next(iter(sharded_files))) as cache:
        assert len(cache["keys"]) == len(set(texts))  # every text cached once, whoever encoded it


def test_embed_stage_int8_on_a_cluster_equals_in_process(client: Client, tiny_bert: Path, texts: list[str], tmp_path: Path) -> None:
    params = PARAMS.model_copy(update={
        "encoder": EncoderParams(base=str(tiny_bert), max_seq_length=SEQ), "cluster": ClusterParams(shard_rows=40),
        "inference": InferenceParams(batch_size=16, precision="fp32", runtime="onnx_int8", int8_min_cosine=0.5),
    })  # fmt: skip
    splits = {"train": texts[:250], "validation": texts[250:320], "test": texts[320:]}

    def run(name: str, client: Client | None) -> tuple:
        return embed_stage.encoder_matrices(
            str(tiny_bert), splits, params, "cpu", "fp32", tmp_path / name, tmp_path / name / "int8", client
        )

    (_, local_report, _), (sharded, sharded_report, _) = run("local", None), run("sharded", client)
    assert local_report["runtime_used"] == sharded_report["runtime_used"] == "onnx_int8"
    # Dynamic int8 quantization scales activations per batch, and shards batch other texts together, so the
    # sharded and in-process vectors differ by quantization error, which differs between CPUs' int8 kernels.
    # What holds on every CPU: the same batches give the same vectors. Encode the shards the workers got
    # (the cache's missing texts, shard_rows 40 at a time) in this process, with the export they loaded.
    export = Int8Encoder(tmp_path / "sharded" / "int8", batch_size=16)
    by_shard = lambda texts: np.concatenate([export.encode(shard) for shard in shards(texts, 40)])  # noqa: E731
    for split in ("validation", "test"):  # 70 and 80 texts: 2 shards each
        expected, _ = cached_encode(splits[split], by_shard, tmp_path / "by-shard.npz")  # validation first, as the stage
        # Same kernels on the same CPU; only the fp32 parts (layer norms, softmax) may split work over other
        # thread counts in the workers (1 thread) and here: float32 rounding (FP32_ATOL).
        assert np.allclose(sharded[split], expected, atol=FP32_ATOL), split
        assert not np.allclose(sharded[split], encode_texts(load_encoder(str(tiny_bert), SEQ), splits[split], 16, "fp32"), atol=FP32_ATOL)


@pytest.fixture(scope="module")
def stock_bundle(tmp_path_factory: pytest.TempPathFactory, catalog: pd.DataFrame, tiny_bert: Path) -> Path:
    """A `stock` champion on the tiny encoder: XGBoost on its embeddings, price and categoricals."""
    params = PARAMS.model_copy(
        update={"encoder": EncoderParams(base=str(tiny_bert), max_seq_length=SEQ), "inference": InferenceParams(precision="fp32")}
    )
    train = make_examples(catalog, params.catalog).frame
    labels = label_names(train["label"])
    encoding = TabularEncoding.fit(train, params.catalog.categorical_columns)
    embeddings = encode_texts(load_encoder(str(tiny_bert), SEQ), train["text"].tolist(), 64, "fp32")
    matrix = design_matrix(embeddings, encoding.transform(train), encoding, label_ids(train["label"], labels))
    models = tmp_path_factory.mktemp("stock-model")
    (models / "xgb").mkdir()
    train_booster(matrix, len(labels), TrainXgbParams(num_boost_round=5), threads=1).save_model(models / "xgb" / "stock.ubj")
    write_json(models / "xgb" / "tabular.json", encoding.to_json())
    bundle = models / "bundle"
    bundle.mkdir()
    write_bundle(
        bundle,
        "stock",
        None,
        labels,
        params,
        models,
        {"rows": len(train)},
        {},
        reference_profile(train, train["label"], params.bundle.bins),
    )
    return bundle


def test_sharded_batch_prediction_equals_in_process_and_loads_the_bundle_once_per_worker(
    client: Client, stock_bundle: Path, catalog: pd.DataFrame
) -> None:
    bundle = load_bundle(stock_bundle)
    products = catalog.drop(columns=["Category"])
    chunks = lambda: (products.iloc[start : start + 90] for start in range(0, len(products), 90))  # noqa: E731  (5 chunks)
    local_monitor, sharded_monitor = bundle.monitor(), bundle.monitor()
    local = pd.concat(list(score_chunks(bundle, chunks(), local_monitor, "new.csv")), ignore_index=True)
    sharded = pd.concat(list(score_chunks(bundle, chunks(), sharded_monitor, "new.csv", client=client)), ignore_index=True)
    assert sharded["id"].tolist() == products["Uniq Id"].tolist() == local["id"].tolist()
    assert sharded["predicted"].tolist() == local["predicted"].tolist()
    # Probabilities are written rounded to 4 decimals: float error in the embeddings (FP32_ATOL) can flip the last digit.
    assert np.allclose(sharded["top1_probability"], local["top1_probability"], atol=2e-4)
    assert sharded_monitor.report() == local_monitor.report()
    key = f"bundle:{stock_bundle.resolve()}:{bundle.manifest['fingerprint']}"
    assert sorted(counts.get(key, 0) for counts in loads_per_worker(client).values()) == [1, 1]


def test_a_run_stopped_in_process_resumes_on_the_cluster_and_equals_an_uninterrupted_run(
    client: Client, stock_bundle: Path, catalog: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    catalog.drop(columns=["Category"]).to_csv(tmp_path / "new.csv", index=False)
    flags = {"bundle": stock_bundle, "source": tmp_path / "new.csv", "chunk_rows": 90}  # 5 chunks
    predict_command(**flags, output=tmp_path / "whole.parquet")
    commit = BatchProgress.commit

    def dying(self: BatchProgress, predictions: pd.DataFrame, monitor: dict) -> None:
        commit(self, predictions, monitor)
        if self.chunks == 2:
            raise RuntimeError("the machine went away")

    with monkeypatch.context() as patch:
        patch.setattr(BatchProgress, "commit", dying)
        with pytest.raises(RuntimeError):
            predict_command(**flags, output=tmp_path / "resumed.parquet")
    capsys.readouterr()
    predict_command(**flags, output=tmp_path / "resumed.parquet", scheduler=client.scheduler.address)
    assert "predict: resuming after chunk 2 (180 products committed in" in capsys.readouterr().out
    whole, resumed = pd.read_parquet(tmp_path / "whole.parquet"), pd.read_parquet(tmp_path / "resumed.parquet")
    assert resumed["id"].tolist() == catalog["Uniq Id"].tolist() and resumed["predicted"].tolist() == whole["predicted"].tolist()
    assert np.allclose(resumed["top1_probability"], whole["top1_probability"], atol=2e-4)
    assert (tmp_path / "resumed.parquet.report.json").read_text() == (tmp_path / "whole.parquet.report.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if "progress" in p.name) == []


def test_predict_refuses_bad_cluster_flags_by_name_and_writes_nothing(
    stock_bundle: Path, small_catalog: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "out.parquet"
    with pytest.raises(SystemExit):
        predict_command(bundle=stock_bundle, source=small_catalog, output=output, workers=-1)
    assert (
        "prodcat predict: error: invalid cluster settings: cluster.local_workers: Input should be greater than or equal to 0"
        in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


def test_xgboost_on_two_workers_predicts_as_in_process(client: Client) -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 600)
    text = rng.normal(size=(600, 6)).astype(np.float32) + labels[:, None] * 0.6
    frame = pd.DataFrame({"price": rng.uniform(1, 50, 600), "seller": rng.choice(["Y", "N"], 600)})
    encoding = TabularEncoding.fit(frame, ["seller"])
    params = TrainXgbParams(num_boost_round=20)
    local = train_booster(design_matrix(text, encoding.transform(frame), encoding, labels), 3, params, threads=1)
    sharded = train_booster_on_cluster(client, Design.of(text, encoding.transform(frame), encoding), labels, 3, params, shard_rows=200)
    matrix = design_matrix(text, encoding.transform(frame), encoding)
    assert sharded.num_boosted_rounds() == 20 and sharded.feature_types == local.feature_types
    # 600 rows fit the histogram bins, so the merged quantile sketch is exact and so are the trees; on
    # large data the distributed sketch may cut a few bins elsewhere than the in-process one.
    assert np.array_equal(predict_proba(sharded, matrix), predict_proba(local, matrix))


def test_no_cluster_configured_runs_in_process_without_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no Dask client or cluster may start")

    monkeypatch.setattr(cluster_module, "Client", refuse)
    monkeypatch.setattr(cluster_module, "LocalCluster", refuse)
    with open_cluster(PARAMS.cluster) as client:
        assert client is None and not PARAMS.cluster.configured


def test_bad_cluster_params_are_refused_by_name() -> None:
    raw = PARAMS.model_dump(mode="json")
    with pytest.raises(ParamsError, match=re.escape("cluster.shard_rows: Input should be greater than or equal to 1")):
        parse_params({**raw, "cluster": {"shard_rows": 0}})
    with pytest.raises(
        ParamsError, match="cluster: Value error, set either scheduler \\(tcp://h:8786\\) or local_workers \\(2\\), not both"
    ):
        parse_params({**raw, "cluster": {"scheduler": "tcp://h:8786", "local_workers": 2}})
