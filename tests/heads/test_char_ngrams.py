"""The vectorised char_wb counts give scikit-learn's TF-IDF matrix exactly, on texts that probe every rule of char_wb."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from prodcat.core.params import SparseParams
from prodcat.heads.char_ngrams import CharNgramCounter, fast_path_applies
from prodcat.heads.linear import fit_vectorizers

TRAIN = [
    "Wooden jigsaw puzzle, 1000 pieces",
    "USB-C charging cable  Braided, 2 m",
    "A b cd efg hijk lmnop",  # words of 1..5 characters: padded words shorter than, equal to and longer than n
    "Straße İstanbul ÜBER naïve café",
    "x\u00a0y\u2003z\tw\nv  u",  # Unicode whitespace of several kinds splits words
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
]


@pytest.mark.parametrize("ngrams", [(2, 5), (3, 4), (2, 2)])
def test_the_counts_equal_scikit_learns_matrix(ngrams: tuple[int, int]) -> None:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, sublinear_tf=True, dtype=np.float32).fit(TRAIN)
    assert fast_path_applies(vectorizer)
    expected, found = vectorizer.transform(NEW), CharNgramCounter(vectorizer).transform(NEW)
    assert found.dtype == expected.dtype and found.shape == expected.shape
    assert np.array_equal(found.toarray(), expected.toarray()) and found.nnz == expected.nnz


def test_the_projects_char_vectorizer_takes_the_fast_path_and_others_do_not() -> None:
    word, char = fit_vectorizers(TRAIN, SparseParams(min_df=1))
    assert fast_path_applies(char) and not fast_path_applies(word)
    assert not fast_path_applies(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)))  # 1-grams count padding twice in scikit-learn
    assert not fast_path_applies(TfidfVectorizer(analyzer="char", ngram_range=(2, 5)))
