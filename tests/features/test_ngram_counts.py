"""The vectorised TF-IDF transforms give scikit-learn's matrix exactly, on texts that probe every rule of char_wb and word n-grams."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from prodcat.core.params import SparseParams
from prodcat.features.ngram_counts import CharNgramCounter, WordNgramCounter, fast_transform
from prodcat.heads.sparse import fit_vectorizers

TRAIN = [
    "Wooden jigsaw puzzle, 1000 pieces",
    "USB-C charging cable  Braided, 2 m",
    "A b cd efg hijk lmnop",  # words of 1..5 characters: padded words shorter than, equal to and longer than n
    "Straße İstanbul ÜBER naïve café",
    "x\u00a0y\u2003z\tw\nv  u",  # Unicode whitespace of several kinds splits words
    "puzzle cable puzzle cable wooden puzzle",
]
NEW = [
    *TRAIN,
    "",
    "   \n\t ",
    "a",
    "puzzle puzzle puzzle",  # repeated n-grams are counted, then sublinear tf
    "  leading and trailing  ",
    "unseen qqqq zzzz words only partly known: puzz",
    "\x00nul and \x1ccontrol\x1f separators",
    "SHOUTING Puzzle CABLE",
    "İ",  # lowercases to two code points
    "cable",  # a text of one token: no pair
    "jigsaw. Puzzle, wooden-puzzle",  # pairs across punctuation are pairs of tokens
    "ends with wooden",
    "puzzle starts this one",  # "wooden puzzle" is a vocabulary pair, but not across two texts
]


def assert_same_matrix(found, expected) -> None:
    assert found.dtype == expected.dtype and found.shape == expected.shape and found.nnz == expected.nnz
    assert np.array_equal(found.toarray(), expected.toarray())


@pytest.mark.parametrize("ngrams", [(2, 5), (3, 4), (2, 2)])
def test_char_wb_counts_equal_scikit_learns_matrix(ngrams: tuple[int, int]) -> None:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, sublinear_tf=True, dtype=np.float32).fit(TRAIN)
    assert_same_matrix(CharNgramCounter(vectorizer).transform(NEW), vectorizer.transform(NEW))


@pytest.mark.parametrize("ngrams", [(1, 2), (1, 1), (2, 2)])
@pytest.mark.parametrize("sublinear", [True, False])
def test_word_counts_equal_scikit_learns_matrix(ngrams: tuple[int, int], sublinear: bool) -> None:
    vectorizer = TfidfVectorizer(analyzer="word", ngram_range=ngrams, sublinear_tf=sublinear, dtype=np.float32).fit(TRAIN)
    assert_same_matrix(WordNgramCounter(vectorizer).transform(NEW), vectorizer.transform(NEW))


def test_the_projects_vectorizers_take_the_fast_path_and_others_do_not() -> None:
    word, char = fit_vectorizers(TRAIN, SparseParams(min_df=1))
    assert isinstance(fast_transform(char).__self__, CharNgramCounter) and isinstance(fast_transform(word).__self__, WordNgramCounter)
    assert fast_transform(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))) is None  # 1-grams count padding twice in scikit-learn
    assert fast_transform(TfidfVectorizer(analyzer="char", ngram_range=(2, 5))) is None
    assert fast_transform(TfidfVectorizer(analyzer="word", ngram_range=(1, 3))) is None
    assert fast_transform(TfidfVectorizer(analyzer="word", stop_words="english")) is None


def test_a_vocabulary_whose_hashes_clash_keeps_scikit_learns_transform(monkeypatch: pytest.MonkeyPatch) -> None:
    char = fit_vectorizers(TRAIN, SparseParams(min_df=1))[1]
    monkeypatch.setattr("prodcat.features.ngram_counts.term_hash", lambda term: len(term))  # every n-gram of a length clashes
    assert fast_transform(char) is None
