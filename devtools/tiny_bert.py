"""A tiny raw BERT folder (config + WordPiece vocab + random weights) built in seconds, no download."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
