"""FLOP counts against torch's own counter, the length-bucketed batch order, and the GPU bench's reduced CPU run."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.flop_counter import FlopCounterMode

from benchmarks import gpu
from prodcat.encoders.flops import EncoderShape, forward_flops, token_lengths, training_flops
from prodcat.encoders.load import load_encoder
from prodcat.training.sampler import LengthBucketBatchSampler, batch_count, bucketed_batches

TEXTS = ["red lego", "steel water bottle with a very long product name and more", "soft baby blanket for the cot"]


def test_flops_match_torch_counter_on_real_tokens(tiny_bert: Path) -> None:
    """Each text alone (no padding): the formula + BERT's unused pooler (2 d^2 per text, forward only) = torch's count."""
    model = load_encoder(str(tiny_bert), max_seq_length=12)
    model[0].auto_model.set_attn_implementation("eager")  # SDPA on CPU is invisible to FlopCounterMode
    shape = EncoderShape.of(model[0].auto_model.config)
    lengths = token_lengths(model.tokenizer, TEXTS, 12)
    assert lengths[1] == 12 and lengths[0] < 12  # one text is truncated: only what the encoder sees counts
    pooler = 2 * shape.hidden**2 * len(TEXTS)
    forward = backward = 0
    for text in TEXTS:
        with FlopCounterMode(display=False) as counted:
            embedding = model(model.preprocess([text]))["sentence_embedding"]
        forward += counted.get_total_flops()
        with FlopCounterMode(display=False) as counted:
            embedding.sum().backward()
        backward += counted.get_total_flops()
    assert forward == forward_flops(shape, lengths) + pooler
    assert forward + backward == training_flops(shape, lengths) + pooler
    # hand count, 2 layers, d 32, f 64: 2 * tokens * (4 d^2 + 2 d f) + 4 * L^2 * d per layer
    assert forward_flops(shape, [3]) == 2 * (2 * 3 * (4 * 32 * 32 + 2 * 32 * 64) + 4 * 9 * 32)


CRAFTED = [5] * 8 + [40] * 8 + [100] * 8 + [120] * 3  # 27 texts of four token lengths, shuffled below
CRAFTED = [CRAFTED[(7 * i) % 27] for i in range(27)]


def test_bucketed_batches_cover_every_index_once_in_length_homogeneous_batches() -> None:
    batches = bucketed_batches(CRAFTED, batch_size=4, seed=1)
    assert sorted(index for batch in batches for index in batch) == list(range(len(CRAFTED)))
    assert len(batches) == 7 and sorted(len(batch) for batch in batches) == [3, 4, 4, 4, 4, 4, 4]
    assert [max(CRAFTED[i] for i in batch) - min(CRAFTED[i] for i in batch) for batch in batches] == [0] * 7
    assert bucketed_batches(CRAFTED, 4, seed=1) == batches
    assert bucketed_batches(CRAFTED, 4, seed=2) != batches
    assert [len(batch) for batch in bucketed_batches(CRAFTED, 4, seed=1, drop_last=True)] == [4] * 6


def test_batches_for_two_processes_are_full_and_even_so_each_process_steps_alike() -> None:
    """Rank r takes batches r, r + 2, ... (accelerate's sharding): 27 texts, 4 per batch and process."""
    padded = bucketed_batches(CRAFTED, 4, seed=1, replicas=2)
    assert [len(batch) for batch in padded] == [4] * 8 == [4] * batch_count(27, 4, replicas=2)  # ceil(27 / 8) steps x 2 processes
    seen = sorted(index for batch in padded for index in batch)
    assert set(seen) == set(range(27)) and len(seen) == 32  # every text, 5 of them twice
    assert len(padded[0::2]) == len(padded[1::2]) == 4
    assert [max(CRAFTED[i] for i in batch) - min(CRAFTED[i] for i in batch) for batch in padded].count(0) >= 5  # still length buckets
    cut = bucketed_batches(CRAFTED, 4, seed=1, drop_last=True, replicas=2)
    assert [len(batch) for batch in cut] == [4] * 6 == [4] * batch_count(27, 4, drop_last=True, replicas=2)
    assert len({index for batch in cut for index in batch}) == 24  # 3 texts sit out this epoch, none is repeated
    assert bucketed_batches(CRAFTED, 4, seed=1, replicas=2) == padded  # every process draws the same batches


def test_sampler_draws_a_new_order_each_epoch_and_knows_its_length() -> None:
    sampler = LengthBucketBatchSampler(list(range(len(CRAFTED))), batch_size=4, drop_last=False, seed=3, lengths=CRAFTED)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert len(sampler) == len(first) == len(second) == 7
    assert first != second
    assert sorted(i for batch in second for i in batch) == list(range(len(CRAFTED)))
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_gpu_bench_reduced_run_on_cpu_writes_named_positive_figures(tiny_bert: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.csv"
    texts.write_text("text\n" + "\n".join(f'"{t}"' for t in TEXTS * 3) + "\n")
    output = tmp_path / "gpu.json"
    gpu.main(
        ["--model", str(tiny_bert), "--texts", str(texts), "--output", str(output), "--max-seq-length", "16", "--cpu", "--workers", "2"]
    )
    result = json.loads(output.read_text())
    assert result["reduced"] is True and result["texts"] == 9
    assert set(result["peak_gflops"]) == {"bf16", "fp16", "fp32"}
    assert set(result["finetune"]) == {"fp16", "bf16", "bf16_shuffled"}
    assert set(result["embed"]) == {"per_row_fp32", "batched_fp32", "batched_bf16", "batched_fp16", "plain_encode_bf16"}
    assert result["workers"] == 2 and {name: row["workers"] for name, row in result["tokenize"].items()} == {
        "one_thread": 1,
        "encode_texts": 2,
    }
    assert all(row["texts_per_s"] > 0 for row in result["tokenize"].values())
    rows = list(result["finetune"].values()) + list(result["embed"].values())
    for row in rows:
        assert row["texts_per_s"] > 0 and row["gflops"] > 0 and row["share_of_bf16_peak"] > 0
    assert all(row["steps_per_s"] > 0 and row["tokens_per_s"] > 0 for row in result["finetune"].values())
    assert result["embed"]["batched_fp32"]["ratio_to_per_row"] > 0
    assert min(result["peak_gflops"].values()) > 0
