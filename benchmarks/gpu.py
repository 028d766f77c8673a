"""Fine-tuning and embedding speed on a GPU, against the GPU's own bf16 matmul peak, in one short run.

    python -m benchmarks.gpu --model <sentence-transformers folder> --texts <file> --output gpu.json
    make bench-gpu MODEL=... TEXTS=...

Self-contained: needs only torch, transformers and sentence-transformers (plus prodcat.encoders.flops,
prodcat.training.sampler and prodcat.encoders.encode, which need nothing else), so it runs on a bare GPU machine.
Measures, in this order:
- the matmul peak (bf16, fp16, fp32) on large square matrices, best of a few repeats;
- fine-tuning (softmax head + CrossEntropy, AdamW, autocast fp16 with a gradient scaler, and bf16)
  on length-bucketed batches, plus bf16 on shuffled batches: steps/s, texts/s, real tokens/s, and
  GFLOP/s over the real tokens (prodcat.encoders.flops) as a share of the bf16 peak. Labels are synthetic
  (text index mod 10): speed does not depend on them;
- embedding: the original recipe's per-row `model.encode(text)` in fp32 against the pipeline's
  batched `prodcat.encoders.encode.encode_texts` (fp32, bf16/fp16 autocast; tokenized ahead by --workers
  threads) and plain batched `model.encode` in bf16: texts/s, GFLOP/s, share, ratio to per-row.
- tokenization alone, in one thread as `encode` does and in --workers threads as `encode_texts` does
  (the tokenizer runs on the CPU and bounds every embedding row on a fast GPU).
The model may be stored in fp16 (to carry it small): it is upcast to fp32 master weights on load.
cuDNN attention is switched off unless --cudnn-attention: it builds a graph for every new sequence
length, which length-sorted and length-bucketed batches meet at nearly every step of a short run.
The tokenizer uses every core unless TOKENIZERS_PARALLELISM says otherwise.
Without CUDA, or with --reduced, every size is tiny: the run checks the script, not the hardware.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # before the tokenizer library is loaded

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from torch import nn

from prodcat.encoders.encode import default_workers, encode_texts, prepared_batches
from prodcat.encoders.flops import EncoderShape, forward_flops, token_lengths, training_flops
from prodcat.training.sampler import bucketed_batches

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
CLASSES = 10


@dataclass(frozen=True)
class Sizes:
    matmul: int  # side of the square matrices of the peak measurement
    matmul_repeats: int
    finetune_steps: int  # timed, after `warmup_steps`
    warmup_steps: int
    per_row_texts: int
    batched_texts: int
    embed_batch: int


FULL = Sizes(matmul=8192, matmul_repeats=20, finetune_steps=60, warmup_steps=5, per_row_texts=300, batched_texts=8192, embed_batch=256)
REDUCED = Sizes(matmul=256, matmul_repeats=2, finetune_steps=2, warmup_steps=1, per_row_texts=4, batched_texts=16, embed_batch=8)


def read_texts(path: Path, column: str | None) -> list[str]:
    """Non-empty texts: one per line, or one column of a CSV (`column`, else `text`, else the first)."""
    if path.suffix.lower() != ".csv":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        name = column or ("text" if "text" in reader.fieldnames else reader.fieldnames[0])
        return [row[name].strip() for row in reader if row[name] and row[name].strip()]


def cycled(texts: list[str], count: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(count)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> float:
    """Best of 3 timings of `repeats` square matmuls: what the hardware does when nothing else is in the way."""
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(3):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 * repeats / best / 1e9


def features_on(model: SentenceTransformer, texts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # preprocess from sentence-transformers 6.1
    return {key: value.to(device, non_blocking=True) for key, value in tokenize(texts).items() if torch.is_tensor(value)}


def finetune_speed(
    model: SentenceTransformer, texts: list[str], lengths: list[int], precision: str, bucketed: bool,
    batch_size: int, sizes: Sizes, shape: EncoderShape, peak: float,
) -> dict:  # fmt: skip
    """Steps of the softmax-head objective (the pipeline's default) from the model's current weights."""
    device = model.device
    dimension = model[0].auto_model.config.hidden_size
    head = nn.Linear(dimension, CLASSES).to(device)
    parameters = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=2e-5, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    steps = sizes.warmup_steps + sizes.finetune_steps
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < steps:
        if bucketed:
            batches += bucketed_batches(lengths, batch_size, seed=epoch)
        else:
            order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(epoch)).tolist()
            batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        epoch += 1
    model.train()
    timed_lengths: list[int] = []
    for step, batch in enumerate(batches[:steps]):
        if step == sizes.warmup_steps:
            synchronize(device)
            started = time.perf_counter()
        features = features_on(model, [texts[i] for i in batch], device)
        labels = torch.tensor([i % CLASSES for i in batch], device=device)
        with torch.autocast(device.type, dtype=DTYPES[precision], enabled=precision != "fp32"):
            embeddings = model(features)["sentence_embedding"]
            loss = F.cross_entropy(20 * head(F.normalize(embeddings.float(), dim=-1)), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if step >= sizes.warmup_steps:
            timed_lengths += [lengths[i] for i in batch]
    synchronize(device)
    seconds = time.perf_counter() - started
    timed_tokens = sum(timed_lengths)
    gflops = training_flops(shape, timed_lengths) / seconds / 1e9
    return {
        "precision": precision, "batch_order": "length-bucketed" if bucketed else "shuffled", "batch_size": batch_size,
        "steps_per_s": sizes.finetune_steps / seconds, "texts_per_s": len(timed_lengths) / seconds,
        "tokens_per_s": timed_tokens / seconds, "gflops": gflops, "share_of_bf16_peak": gflops / peak,
    }  # fmt: skip


def embed_speed(
    encode: Callable[[list[str]], object], texts: list[str], lengths: list[int], device: torch.device, shape: EncoderShape, peak: float
) -> dict:
    """Texts/s of one `encode(texts)` call, after an untimed warm-up call (kernels, allocator)."""
    encode(texts[:2])
    synchronize(device)
    started = time.perf_counter()
    encode(texts)
    synchronize(device)
    seconds = time.perf_counter() - started
    gflops = forward_flops(shape, lengths) / seconds / 1e9
    return {"texts_per_s": len(texts) / seconds, "gflops": gflops, "share_of_bf16_peak": gflops / peak}


def plain_encode(model: SentenceTransformer, precision: str, batch_size: int | None) -> Callable[[list[str]], object]:
    """sentence-transformers' own `encode` under autocast: one call per text (batch_size None, the original recipe) or batched."""

    def encode(texts: list[str]) -> None:
        with torch.inference_mode(), torch.autocast(model.device.type, dtype=DTYPES[precision], enabled=precision != "fp32"):
            if batch_size is None:
                for text in texts:
                    model.encode(text)
            else:
                model.encode(texts, batch_size=batch_size)

    return encode


def tokenize_speed(model: SentenceTransformer, texts: list[str], batch_size: int, workers: int | None) -> dict:
    """Texts/s of the tokenizer alone, in encode's batches: in one thread (workers None) or as encode_texts runs it."""
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    batches = [texts[start : start + batch_size] for start in range(0, len(texts), batch_size)]
    started = time.perf_counter()
    if workers is None:
        for batch in batches:
            tokenize(batch)
    else:
        for _ in prepared_batches(model, batches, workers):
            pass
    return {"batch_size": batch_size, "workers": workers or 1, "texts_per_s": len(texts) / (time.perf_counter() - started)}


def load_fp32(folder: str, device: torch.device, max_seq_length: int) -> SentenceTransformer:
    """The model with fp32 master weights, whatever dtype it was saved in."""
    model = SentenceTransformer(folder, device=str(device), trust_remote_code=False)
    model.max_seq_length = max_seq_length
    return model.float()


def run(args: argparse.Namespace) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if device.type == "cuda" and not args.cudnn_attention:
        torch.backends.cuda.enable_cudnn_sdp(False)
    reduced = args.reduced or device.type != "cuda"
    workers = args.workers or default_workers(device)
    sizes = REDUCED if reduced else FULL
    base = load_fp32(args.model, device, args.max_seq_length)
    shape = EncoderShape.of(base[0].auto_model.config)
    texts = read_texts(Path(args.texts), args.column)
    lengths = token_lengths(base.tokenizer, texts, args.max_seq_length)
    peaks = {name: matmul_peak_gflops(device, dtype, sizes.matmul, sizes.matmul_repeats) for name, dtype in DTYPES.items()}
    peak = peaks["bf16"]
    initial = copy.deepcopy(base.state_dict())

    finetune = {}
    for name, precision, bucketed in [("fp16", "fp16", True), ("bf16", "bf16", True), ("bf16_shuffled", "bf16", False)]:
        base.load_state_dict(initial)
        finetune[name] = finetune_speed(base, texts, lengths, precision, bucketed, args.finetune_batch, sizes, shape, peak)
    base.load_state_dict(initial)

    per_row_texts, batched_texts = cycled(texts, sizes.per_row_texts), cycled(texts, sizes.batched_texts)
    per_row_lengths, batched_lengths = cycled(lengths, sizes.per_row_texts), cycled(lengths, sizes.batched_texts)
    base.eval()
    embed = {
        "per_row_fp32": {"precision": "fp32", "batch_size": 1}
        | embed_speed(plain_encode(base, "fp32", None), per_row_texts, per_row_lengths, device, shape, peak)
    }
    encoders = {
        f"batched_{precision}": (precision, lambda texts, p=precision: encode_texts(base, texts, sizes.embed_batch, p, workers))
        for precision in ["fp32", "bf16", "fp16"]
    }
    encoders["plain_encode_bf16"] = ("bf16", plain_encode(base, "bf16", sizes.embed_batch))
    for name, (precision, encode) in encoders.items():
        figures = {"precision": precision, "batch_size": sizes.embed_batch} | embed_speed(
            encode, batched_texts, batched_lengths, device, shape, peak
        )
        figures["ratio_to_per_row"] = figures["texts_per_s"] / embed["per_row_fp32"]["texts_per_s"]
        embed[name] = figures
    sorted_texts = sorted(batched_texts, key=len, reverse=True)  # as encode and encode_texts batch them
    tokenize = {
        "one_thread": tokenize_speed(base, sorted_texts, sizes.embed_batch, None),
        "encode_texts": tokenize_speed(base, sorted_texts, sizes.embed_batch, workers),
    }
    import sentence_transformers
    import transformers

    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
        "reduced": reduced, "sizes": asdict(sizes), "model": str(args.model), "texts_file": str(args.texts),
        "texts": len(texts), "max_seq_length": args.max_seq_length, "mean_tokens": sum(lengths) / len(lengths),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "sentence_transformers": sentence_transformers.__version__},
        "cudnn_attention": bool(args.cudnn_attention), "workers": workers, "peak_gflops": peaks, "finetune": finetune, "embed": embed, "tokenize": tokenize,
    }  # fmt: skip


def markdown(result: dict) -> str:
    lines = [
        f"{result['device']}, {result['texts']} texts of {Path(result['texts_file']).name} (mean {result['mean_tokens']:.0f} real tokens, "
        f"max {result['max_seq_length']}), torch {result['versions']['torch']}{', REDUCED sizes' if result['reduced'] else ''}",
        "",
        "| measure | texts/s | GFLOP/s | share of bf16 peak | other |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| matmul peak {name} | | {value:.0f} | | {result['sizes']['matmul']}^2 matrices |"
        for name, value in result["peak_gflops"].items()
    ]
    for name, row in result["finetune"].items():
        lines.append(
            f"| fine-tune {name} (batch {row['batch_size']}, {row['batch_order']}) | {row['texts_per_s']:.1f} | {row['gflops']:.0f} "
            f"| {100 * row['share_of_bf16_peak']:.1f}% | {row['steps_per_s']:.2f} steps/s, {row['tokens_per_s']:.0f} tokens/s |"
        )
    for name, row in result["embed"].items():
        ratio = f"{row['ratio_to_per_row']:.1f}x per-row" if "ratio_to_per_row" in row else ""
        path = "" if name.startswith(("per_row", "plain")) else f", encode_texts, {result['workers']} tokenizer threads"
        lines.append(
            f"| embed {name} (batch {row['batch_size']}{path}) | {row['texts_per_s']:.1f} | {row['gflops']:.0f} | {100 * row['share_of_bf16_peak']:.1f}% | {ratio} |"
        )
    for name, row in result["tokenize"].items():
        lines.append(
            f"| tokenize only, {name} (batch {row['batch_size']}, {row['workers']} threads) | {row['texts_per_s']:.1f} | | | the CPU-side bound |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a sentence-transformers folder (fp16 or fp32 weights)")
    parser.add_argument("--texts", required=True, help="product texts: one per line, or a CSV (see --column)")
    parser.add_argument("--column", help="CSV column holding the text (default: `text`, else the first column)")
    parser.add_argument("--output", required=True, help="JSON file for the figures")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--finetune-batch", type=int, default=32)
    parser.add_argument("--reduced", action="store_true", help="tiny sizes (automatic without CUDA)")
    parser.add_argument("--cpu", action="store_true", help="ignore CUDA even where there is one")
    parser.add_argument("--workers", type=int, help="tokenizer threads of encode_texts (default: its own, min(8, cores) on CUDA)")
    parser.add_argument("--cudnn-attention", action="store_true", help="keep cuDNN attention on (see above)")
    args = parser.parse_args(argv)
    result = run(args)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
