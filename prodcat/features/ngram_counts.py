"""Scoring-time TF-IDF of a fitted vectorizer's vocabulary, vectorised: scikit-learn's matrix, with less Python per n-gram.

scikit-learn builds every n-gram of every text as a Python string and looks each one up in a dict: on
the default catalog's long texts the char_wb vectorizer was ~90 % of the sparse model's scoring time.
`fast_transform` returns a replacement for `vectorizer.transform` where the vectorizer's settings are
ones reproduced here (tests/features/test_ngram_counts.py compares the matrices with scikit-learn's):
- `char_wb`: the texts of a batch become one array of code points; each n-gram is a 64-bit polynomial
  hash computed for all positions at once and looked up in a pandas hash index of the vocabulary's
  hashes. Rules as scikit-learn's: lowercase, words split at Unicode whitespace, each padded with one
  space, n-grams inside a padded word only. Two different n-grams share a hash with probability ~2^-64
  per pair; a vocabulary with a clash inside keeps scikit-learn's transform.
- `word` (1- and 2-grams): scikit-learn's own token regex per text, then every token and each pair of
  neighbours looked up at once (pandas) instead of joined into strings one by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from itertools import chain

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


def fast_transform(vectorizer: TfidfVectorizer) -> Callable[[list[str]], sp.csr_matrix] | None:
    """A faster `vectorizer.transform` with the same output, or None where the vectorizer's settings are not reproduced here."""
    common = (
        vectorizer.lowercase
        and not vectorizer.strip_accents
        and vectorizer.preprocessor is None
        and vectorizer.norm == "l2"
        and not vectorizer.binary
        and vectorizer.input == "content"
    )
    # char_wb from 1-grams: scikit-learn counts the space between two words twice; from 4-grams: it keeps a shorter padded word whole.
    if common and vectorizer.analyzer == "char_wb" and 2 <= vectorizer.ngram_range[0] <= 3:
        counter = CharNgramCounter(vectorizer)
        return counter.transform if counter.index.is_unique else None  # two vocabulary n-grams sharing a 64-bit hash: ~never
    if (
        common
        and vectorizer.analyzer == "word"
        and vectorizer.ngram_range[1] <= 2
        and vectorizer.tokenizer is None
        and vectorizer.stop_words is None
    ):
        return WordNgramCounter(vectorizer).transform
    return None


def tfidf(counts: sp.csr_matrix, idf: np.ndarray, sublinear_tf: bool) -> sp.csr_matrix:
    """Counts -> TF-IDF rows, as TfidfTransformer: 1 + log(count) when sublinear, times idf, l2-normalised."""
    if sublinear_tf:
        np.log(counts.data, out=counts.data)
        counts.data += 1.0
    counts.data *= idf[counts.indices]
    return normalize(counts, norm="l2", copy=False)


def count_matrix(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """The (rows, columns) pairs counted into a float32 CSR matrix with sorted indices: each distinct key is one cell, its run length the count."""
    ordered = np.sort(rows.astype(np.int64) * shape[1] + columns)
    firsts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(ordered) else np.zeros(0, dtype=np.int64)
    cells, counts = ordered[firsts], np.diff(np.append(firsts, len(ordered)))
    indptr = np.searchsorted(cells, np.arange(shape[0] + 1) * shape[1])
    return sp.csr_matrix((counts.astype(np.float32), cells % shape[1], indptr), shape=shape)


def term_hash(term: str) -> int:
    """The polynomial hash of one n-gram, as `CharNgramCounter.counts` computes it at every position (code points + 1, modulo 2^64)."""
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
        self.columns = np.array([vectorizer.vocabulary_[term] for term in terms], dtype=np.int64)
        self.ngram_range = vectorizer.ngram_range
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float32)
        self.sublinear_tf = vectorizer.sublinear_tf

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """The TF-IDF rows of `texts` (float32, l2-normalised): what `vectorizer.transform(texts)` returns."""
        counts = sp.vstack([self.counts(batch) for batch in batches(texts)] or [self.counts([])], format="csr")
        return tfidf(counts, self.idf, self.sublinear_tf)

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
        next_space = spaces[np.minimum(np.searchsorted(spaces, positions), len(spaces) - 1)]  # the batch ends with a space
        rows, columns = [], []
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
            rows.append(owner[starts[inside][hit]])  # a text owns the space before it: its first word's padding
            columns.append(self.columns[found[hit]])
        return count_matrix(np.concatenate(rows), np.concatenate(columns), (len(texts), len(self.idf)))


class WordNgramCounter:
    """A fitted `word` TfidfVectorizer's `transform` (1- and 2-grams): tokens by its own regex, looked up all at once."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.pattern = re.compile(vectorizer.token_pattern)
        self.low_n, self.high_n = vectorizer.ngram_range
        terms = vectorizer.vocabulary_
        self.words = pd.Index(sorted({word for term in terms for word in term.split(" ")}))
        self.unigram_column = np.full(len(self.words), -1, dtype=np.int64)
        pairs = {}
        for term, column in terms.items():
            parts = self.words.get_indexer(term.split(" "))
            if len(parts) == 1:
                self.unigram_column[parts[0]] = column
            else:
                pairs[int(parts[0]) * len(self.words) + int(parts[1])] = column
        self.pairs = pd.Index(np.array(list(pairs), dtype=np.int64))
        self.pair_column = np.array(list(pairs.values()), dtype=np.int64)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float32)
        self.sublinear_tf = vectorizer.sublinear_tf

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        tokens = [self.pattern.findall(text.lower()) for text in texts]
        owner = np.repeat(np.arange(len(texts)), [len(found) for found in tokens])
        ids = self.words.get_indexer(list(chain.from_iterable(tokens))) if len(owner) else np.zeros(0, dtype=np.int64)
        rows, columns = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        if self.low_n == 1:
            column = np.where(ids >= 0, self.unigram_column[ids], -1)
            rows.append(owner[column >= 0])
            columns.append(column[column >= 0])
        if self.high_n == 2 and len(ids) > 1:
            first, second = ids[:-1], ids[1:]
            known = (owner[:-1] == owner[1:]) & (first >= 0) & (second >= 0)  # neighbours in one text, both words of the vocabulary
            found = self.pairs.get_indexer(first[known] * len(self.words) + second[known])
            rows.append(owner[:-1][known][found >= 0])
            columns.append(self.pair_column[found[found >= 0]])
        counts = count_matrix(np.concatenate(rows), np.concatenate(columns), (len(texts), len(self.idf)))
        return tfidf(counts, self.idf, self.sublinear_tf)


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
