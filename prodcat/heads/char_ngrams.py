"""Scoring-time counts of a fitted `char_wb` TF-IDF vocabulary, in numpy: scikit-learn's matrix, several times faster.

scikit-learn builds every character n-gram of every word as a Python string and looks each one up in a
dict: on the default catalog's long texts that was ~90 % of the sparse model's scoring time (profile in
docs/ARCHITECTURE.md, "The cascade"). Here the texts of a batch become one array of code points; each
n-gram is a 64-bit polynomial hash computed for all positions at once, looked up in a hash index of the
vocabulary's hashes (pandas), and counted per text with scipy. The rules are `char_wb`'s: lowercase,
words split at Unicode whitespace, each word padded with one space, n-grams inside a padded word only
(tests/heads/test_char_ngrams.py compares with scikit-learn). Two different n-grams share a hash with
probability ~2^-64 per pair; a clash inside the vocabulary is refused when the index is built.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplication modulo 2^64 loses nothing
BATCH_CHARS = 1 << 20  # code points per numpy pass: bounds the temporary arrays (~8 MB each)
LAST_SPACE = 0x3000  # the highest code point str.isspace() is true for


@cache
def space_table() -> np.ndarray:
    """is_space[c] for every code point up to LAST_SPACE: str.split()'s whitespace."""
    return np.array([chr(code).isspace() for code in range(LAST_SPACE + 1)])


def fast_path_applies(vectorizer: TfidfVectorizer) -> bool:
    """`char_wb` with the defaults this module reproduces: a word padded to >= 3 characters always yields its min_n-grams."""
    return (
        vectorizer.analyzer == "char_wb"
        and 2 <= vectorizer.ngram_range[0] <= 3  # 1-grams would count each padding space twice, as scikit-learn does
        and vectorizer.lowercase
        and not vectorizer.strip_accents
        and vectorizer.preprocessor is None
        and vectorizer.norm == "l2"
        and not vectorizer.binary
    )


def term_hash(term: str) -> int:
    """The polynomial hash of one n-gram, as `window_hashes` computes it for every position (code points + 1, modulo 2^64)."""
    value = 0
    for char in term:
        value = (value * int(HASH_BASE) + ord(char) + 1) % (1 << 64)
    return value


class CharNgramCounter:
    """A fitted `char_wb` TfidfVectorizer's `transform`, vectorised; build once per model (hashing the vocabulary)."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        terms = list(vectorizer.vocabulary_)
        hashes = np.array([term_hash(term) for term in terms], dtype=np.uint64)
        self.index = pd.Index(hashes)
        if not self.index.is_unique:
            raise ValueError("two char n-grams of the vocabulary share a 64-bit hash: use scikit-learn's transform")
        self.columns = np.array([vectorizer.vocabulary_[term] for term in terms], dtype=np.int64)
        self.ngram_range = vectorizer.ngram_range
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float32)
        self.sublinear_tf = vectorizer.sublinear_tf

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """The TF-IDF rows of `texts` (float32, l2-normalised): what `vectorizer.transform(texts)` returns."""
        counts = sp.vstack([self.counts(batch) for batch in batches(texts)] or [self.counts([])], format="csr")
        if self.sublinear_tf:
            np.log(counts.data, out=counts.data)
            counts.data += 1.0
        counts.data *= self.idf[counts.indices]
        return normalize(counts, norm="l2", copy=False)

    def counts(self, texts: list[str]) -> sp.csr_matrix:
        """(texts, vocabulary) n-gram counts of one batch."""
        codes, owner = code_points(texts)
        is_space = np.zeros(len(codes), dtype=bool)
        low = codes <= LAST_SPACE
        is_space[low] = space_table()[codes[low]]
        codes[is_space] = ord(" ")  # a run of whitespace needs no collapsing: no vocabulary n-gram holds two spaces
        spaces = np.flatnonzero(is_space)
        positions = np.arange(len(codes))
        # Where the next space at or after each position is: a window may hold spaces only at its two ends.
        next_space = spaces[np.minimum(np.searchsorted(spaces, positions), len(spaces) - 1)] if len(spaces) else positions
        # The text a window belongs to: its first character's, or the next one's when it starts on the word's padding.
        window_owner = owner[np.minimum(positions + is_space, len(codes) - 1)]
        keys = []
        rolling = np.zeros(len(codes), dtype=np.uint64)
        values = codes.astype(np.uint64) + np.uint64(1)
        low_n, high_n = self.ngram_range
        for n in range(1, high_n + 1):
            starts = positions[: len(codes) - n + 1]
            rolling = rolling[: len(starts)] * HASH_BASE + values[n - 1 : n - 1 + len(starts)]
            if n < low_n:
                continue
            inside = next_space[np.minimum(starts + 1, len(codes) - 1)] >= starts + n - 1 if n > 2 else np.ones(len(starts), dtype=bool)
            found = self.index.get_indexer(rolling[inside])
            hit = found >= 0
            keys.append(window_owner[starts[inside][hit]] * len(self.idf) + self.columns[found[hit]])
        # Sorted (text, term) keys: each distinct one is a cell of the CSR matrix, in row-major order, and its run length the count.
        ordered = np.sort(np.concatenate(keys))
        firsts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(ordered) else np.zeros(0, dtype=np.int64)
        cells, counts = ordered[firsts], np.diff(np.append(firsts, len(ordered)))
        indptr = np.searchsorted(cells, np.arange(len(texts) + 1) * len(self.idf))
        return sp.csr_matrix((counts.astype(np.float32), cells % len(self.idf), indptr), shape=(len(texts), len(self.idf)))


def batches(texts: list[str]) -> list[list[str]]:
    """`texts` in consecutive runs of about BATCH_CHARS characters."""
    result, current, size = [], [], 0
    for text in texts:
        current.append(text)
        size += len(text) + 1
        if size >= BATCH_CHARS:
            result.append(current)
            current, size = [], 0
    return [*result, current] if current else result


def code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The batch as one array of code points, " " + text for each lowercased text and a closing " ", and the text each position belongs to."""
    lowered = [text.lower() for text in texts]
    stream = "".join(" " + text for text in lowered) + " "
    codes = np.frombuffer(stream.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32).astype(np.int64)
    lengths = np.array([len(text) + 1 for text in lowered], dtype=np.int64)
    owner = np.concatenate([np.repeat(np.arange(len(texts)), lengths), [max(len(texts) - 1, 0)]])
    return codes, owner
