"""Scale-out figures: embedding and batch scoring in-process against a local Dask cluster of 1 and 2 workers.

    python -m benchmarks.scale [--rows 200000] [--workers 1 2] [--text title] [--max-seq-length 48]
                               [--bundle models/bundle] [--score-rows 10000]      (make bench-scale)

Generates `--rows` products with prodcat.data.synth and embeds their text with the base encoder
(params.yaml `encoder.base`): once with today's in-process code (torch's default threads), then on a
LocalCluster of N workers x 1 thread for each N in `--workers` (prodcat/cluster/workers.py, shards of
`--shard-rows`). Prints and writes (`--output`) texts/s, the speedup over 1 worker and over
in-process, the peak RSS of each worker, and the largest difference to the in-process embeddings.
Cluster start-up, each worker's one model load and a first small batch (in-process too) are timed
apart from the run.

The text and token length set the cost: `--text title` (the product name) at 48 tokens embeds several
times faster (about 4x on a 2-core machine) than `--text full` (name, about, specification, details joined as the pipeline does) at 128.
Scoring runs the bundle (its own encoder settings, usually full text at 128 tokens) on the first
`--score-rows` products the same three ways; `--score-rows 0` skips it. Figures vary with the machine
and its load: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from prodcat.cluster.sharded_encoding import EncoderSpec, encode_on_cluster, encode_shard
from prodcat.cluster.workers import open_cluster, worker_path
from prodcat.core.params import ClusterParams, load_params
from prodcat.data.catalog import build_text
from prodcat.data.synth import generate_catalog
from prodcat.encoders.encode import encode_texts, encoder_fingerprint
from prodcat.encoders.load import load_encoder, resolve_precision
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.inference.batch import score_chunk, score_chunks, score_shard
from prodcat.inference.bundle import load_bundle

GENERATE_BLOCK = 10000  # catalog rows generated at a time, a new seed per block
# allclose tolerance per precision: shards batch other texts together, so padding and rounding differ;
# bf16 keeps 8 significant bits, fp32 24.
EQUAL_WITHIN = {"fp32": 1e-5, "bf16": 1e-2, "fp16": 1e-3}


def generated_catalog(rows: int, seed: int) -> pd.DataFrame:
    blocks = [
        generate_catalog(min(GENERATE_BLOCK, rows - start), seed + block) for block, start in enumerate(range(0, rows, GENERATE_BLOCK))
    ]
    return pd.concat(blocks, ignore_index=True)


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux VmHWM), run on each worker by reference.

    Not ru_maxrss: it survives fork and exec, so a worker would report the client's peak at its start.
    """
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def on_every_worker(client, function, *args) -> None:
    """`function(*args)` once on each worker, as a task (in its task thread, not its event loop)."""
    client.gather([client.submit(function, *args, workers=[address], pure=False) for address in client.nthreads()])


def timed(work, *args):
    started = time.perf_counter()
    result = work(*args)
    return result, time.perf_counter() - started


def scale_runs(workers: list[int], shard_rows: int, in_process, on_cluster, compare, warm_up) -> list[dict]:
    """In-process, then one local cluster per worker count: seconds, peak RSS and `compare(result, in-process result)`.

    `warm_up(client)` (None: in-process) runs one small piece first, so the timed run excludes the model
    loads and first-call set-up; on a cluster it runs on every worker and counts into `start_seconds`.
    """
    warm_up(None)
    reference, seconds = timed(in_process)
    runs = [{"config": "in-process", "workers": 0, "torch_threads": torch.get_num_threads(), "seconds": round(seconds, 2),
             "peak_rss_mib": [round(peak_rss_mib())], "start_seconds": 0.0, **compare(reference, reference)}]  # fmt: skip
    for count in workers:
        started = time.perf_counter()
        with open_cluster(ClusterParams(local_workers=count, threads_per_worker=1, shard_rows=shard_rows)) as client:
            warm_up(client)
            start = time.perf_counter() - started
            result, seconds = timed(on_cluster, client)
            peaks = sorted(round(mib) for mib in client.run(peak_rss_mib).values())
        runs.append({"config": f"{count} worker{'s' * (count > 1)} x 1 thread", "workers": count, "torch_threads": 1, "seconds": round(seconds, 2),
                     "peak_rss_mib": peaks, "start_seconds": round(start, 1), **compare(result, reference)})  # fmt: skip
    return runs


def with_rates(runs: list[dict], items: int) -> list[dict]:
    """texts/s per run and the speedups: over in-process, and over the smallest cluster (1 worker)."""
    for run in runs:
        run["per_second"] = round(items / run["seconds"], 1)
    base = runs[0]["per_second"]
    one = next((run["per_second"] for run in runs if run["workers"] == 1), None)
    for run in runs:
        run["speedup_vs_in_process"] = round(run["per_second"] / base, 2)
        run["speedup_vs_1_worker"] = round(run["per_second"] / one, 2) if one and run["workers"] else None
    return runs


def print_table(title: str, runs: list[dict], unit: str, check: str) -> None:
    print(f"\n{title}")
    print(f"{'config':<22}{'seconds':>9}{unit:>12}{'vs 1w':>7}{'vs in-proc':>11}{'start s':>9}  {'peak RSS MiB':<16}{check}")
    for run in runs:
        vs_one = f"{run['speedup_vs_1_worker']:.2f}" if run["speedup_vs_1_worker"] else "-"
        print(f"{run['config']:<22}{run['seconds']:>9.1f}{run['per_second']:>12.1f}{vs_one:>7}{run['speedup_vs_in_process']:>11.2f}"
              f"{run['start_seconds']:>9.1f}  {run['peak_rss_mib']!s:<16}{run[check]}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="products generated and embedded (default: 200000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local cluster sizes, 1 thread each (default: 1 2)")
    parser.add_argument(
        "--text", choices=["title", "full"], default="title", help="the product name, or all text columns as the pipeline joins them"
    )
    parser.add_argument("--max-seq-length", type=int, default=48, help="encoder truncation for the embed figure (default: 48)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--precision", choices=["auto", "bf16", "fp32"], help="default: params.yaml inference.precision, as the embed stage"
    )
    parser.add_argument("--shard-rows", type=int, default=2500, help="texts (embed) or products (score) per task (default: 2500)")
    parser.add_argument("--bundle", default="models/bundle", help="the bundle the score figure runs")
    parser.add_argument("--score-rows", type=int, default=10000, help="products scored with the bundle (default: 10000; 0 skips)")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--output", default=".bench/scale.json")
    args = parser.parse_args(argv)
    params = load_params(args.params)

    started = time.perf_counter()
    catalog = generated_catalog(args.rows, args.seed)
    columns = params.catalog.text_columns[:1] if args.text == "title" else params.catalog.text_columns
    texts = build_text(catalog, columns, params.catalog.max_text_chars).tolist()
    print(f"bench-scale: {args.rows} products generated in {time.perf_counter() - started:.0f}s; {args.text} text "
          f"({np.mean([len(t) for t in texts]):.0f} characters on average), max_seq_length {args.max_seq_length}, "
          f"encoder {params.encoder.base}, shards of {args.shard_rows}", flush=True)  # fmt: skip

    model = load_encoder(params.encoder.base, args.max_seq_length, device="cpu")
    precision = resolve_precision(args.precision or params.inference.precision, "cpu")
    settings = RuntimeSettings(args.max_seq_length, args.batch_size, precision)
    spec = EncoderSpec("torch", params.encoder.base, settings, encoder_fingerprint(model, precision))

    def embeddings_compared(result: np.ndarray, reference: np.ndarray) -> dict:
        cosines = (result * reference).sum(1) / np.maximum(np.linalg.norm(result, axis=1) * np.linalg.norm(reference, axis=1), 1e-12)
        return {"allclose": bool(np.allclose(result, reference, atol=EQUAL_WITHIN[precision])), "max_abs_diff": float(np.abs(result - reference).max()),
                "min_cosine": float(cosines.min())}  # fmt: skip

    embed = with_rates(scale_runs(
        args.workers, args.shard_rows,
        in_process=lambda: encode_texts(model, texts, args.batch_size, precision),
        on_cluster=lambda client: encode_on_cluster(client, spec, texts, args.shard_rows),
        compare=embeddings_compared,
        warm_up=lambda client: encode_texts(model, texts[: args.batch_size], args.batch_size, precision) if client is None
        else on_every_worker(client, encode_shard, texts[: args.batch_size], spec),
    ), len(texts))  # fmt: skip
    print_table(f"embed: {len(texts)} {args.text} texts, {args.max_seq_length} tokens, {precision}", embed, "texts/s", "allclose")
    print(f"largest difference to in-process: {max(run['max_abs_diff'] for run in embed):.2e} (allclose within {EQUAL_WITHIN[precision]}), "
          f"lowest cosine {min(run['min_cosine'] for run in embed):.6f}")  # fmt: skip
    report = {"rows": args.rows, "text": args.text, "max_seq_length": args.max_seq_length, "precision": precision,
              "shard_rows": args.shard_rows, "encoder": params.encoder.base, "embed": embed}  # fmt: skip

    if args.score_rows:
        bundle = load_bundle(args.bundle)
        products = catalog.head(args.score_rows).drop(columns=[params.catalog.category_column])
        chunks = lambda: (products.iloc[start : start + args.shard_rows] for start in range(0, len(products), args.shard_rows))  # noqa: E731

        def predictions_compared(result: pd.DataFrame, reference: pd.DataFrame) -> dict:
            same = float((result["predicted"].to_numpy() == reference["predicted"].to_numpy()).mean())
            return {
                "same_predictions": same,
                "max_probability_diff": float((result["top1_probability"] - reference["top1_probability"]).abs().max()),
            }

        def scored(client=None) -> pd.DataFrame:
            return pd.concat(list(score_chunks(bundle, chunks(), bundle.monitor(), "bench-scale", client=client)), ignore_index=True)

        def warm_up(client=None) -> None:
            sample, folder = products.head(64), worker_path(bundle.folder)
            score_chunk(bundle, sample, "warm-up") if client is None else on_every_worker(
                client, score_shard, sample, folder, bundle.manifest["fingerprint"], "warm-up", 3
            )

        score = with_rates(scale_runs(args.workers, args.shard_rows, scored, scored, predictions_compared, warm_up), len(products))
        inference = bundle.manifest["inference"]
        print_table(f"score: {len(products)} products with {args.bundle} ({bundle.manifest['variant']}, "
                    f"{inference['max_seq_length']} tokens, full text)", score, "products/s", "same_predictions")  # fmt: skip
        report |= {"score_rows": len(products), "bundle_variant": bundle.manifest["variant"], "score": score}

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nbench-scale: figures -> {args.output}")


if __name__ == "__main__":
    main()
