"""A tiny raw BERT folder (config + WordPiece vocab + random weights) built in seconds, no download.

Also how far two computations of its embeddings may differ on any x86-64 CPU, derived from its shape
(the tests compare runtimes, batches and processes with these, never with a figure measured on one CPU).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LAYERS, WIDTH, FEED_FORWARD = 2, 32, 64

# float32 computed twice in another order (other batches and padding, another runtime's fused kernels, other
# SIMD widths on another CPU): each sum over at most FEED_FORWARD terms of values of order one errs by a few
# ulps (2^-23 = 1.2e-7 relative), about 1e-6 at the end of LAYERS layers; 1e-5 holds on any CPU with room.
FP32_ATOL = 1e-5
# How far int8 (prodcat/encoders/runtimes/onnx_int8.py) may move an embedding, relative to its length. Each
# quantized MatMul rounds its weights to int8 per output channel (step max|w| / 127) and its input to uint8 per
# tensor (step (max - min) / 255): at most half a step each, a relative error of 1/254 + 1/510 of the product.
# A layer runs 4 quantized MatMuls in series (attention QKV, attention output, the two feed-forward ones);
# their errors add up over the layers (to first order: layer norms rescale, they do not amplify). CPUs differ
# only in how the int8 products are summed (AVX-512 VNNI and AMX exactly in int32; AVX2 through int16 pairs,
# which can saturate), within these steps. 0.047; measured 2e-4 with AVX-512 VNNI, and the 4.4e-3 largest
# absolute difference seen on an AMD EPYC without it is about 1.3e-3 of these rows' length (3.4-4.1).
RELATIVE_INT8_ERROR = 4 * LAYERS * (1 / 254 + 1 / 510)


def wordpiece_vocab(texts: Iterable[str], size: int = 600) -> list[str]:
    """Special tokens, single characters (and their ## forms) so any word tokenizes, then frequent words."""
    words = Counter(word for text in texts for word in re.findall(r"\w+|[^\w\s]", text.lower()))
    chars = sorted({char for word in words for char in word})
    vocab = SPECIAL_TOKENS + chars + [f"##{char}" for char in chars]
    vocab += [word for word, _ in words.most_common() if len(word) > 1][: max(0, size - len(vocab))]
    return list(dict.fromkeys(vocab))


def build_tiny_bert(folder: Path, texts: Iterable[str], seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide BERT and its tokenizer to `folder` (a raw HF model folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = wordpiece_vocab(texts)
    tokenizer = BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=WIDTH,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=FEED_FORWARD,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
