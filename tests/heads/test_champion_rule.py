"""The champion rule: a paired win counts only beyond the noise; a tie keeps the preferred variant; a clear win is taken."""

from __future__ import annotations

import numpy as np

from prodcat.heads.champion_rule import beaten_by, choose_champion, clearly_beats

PREFERENCE = ["fusion", "hybrid", "sparse", "softmax", "stock"]


def right(rows: int, wrong: list[int]) -> np.ndarray:
    """Which of `rows` validation rows a variant got right: all but `wrong`."""
    correct = np.ones(rows, dtype=bool)
    correct[wrong] = False
    return correct


def test_a_paired_win_counts_only_beyond_the_noise() -> None:
    """Wins minus losses against noise_z x sqrt(wins + losses): 10 - 1 = 9 > 2 x sqrt(11) = 6.6; 8 - 2 = 6 < 2 x sqrt(10) = 6.3."""
    assert clearly_beats(right(100, [0]), right(100, list(range(1, 11))), 2.0)
    assert not clearly_beats(right(100, [0, 1]), right(100, list(range(2, 10))), 2.0)
    assert not clearly_beats(right(100, list(range(1, 11))), right(100, [0]), 2.0)  # a loss is no win


def test_a_tie_or_a_difference_within_the_noise_keeps_the_preferred_variant_whatever_rows_move() -> None:
    """The committed run (fusion) and a fresh clone (sparse) tied on validation: the preference decides, not rounding or list order."""
    tie = {"sparse": right(184, [0, 1, 2, 3, 4, 5]), "fusion": right(184, [3, 4, 5, 6, 7, 8]), "stock": right(184, list(range(60)))}
    assert choose_champion(tie, PREFERENCE, 2.0) == "fusion"
    assert choose_champion(dict(reversed(tie.items())), PREFERENCE, 2.0) == "fusion"
    for moved in range(9):  # one row flips either way, for either variant: still within the noise
        for name in ("sparse", "fusion"):
            nudged = {**tie, name: tie[name].copy()}
            nudged[name][moved] = ~nudged[name][moved]
            assert choose_champion(nudged, PREFERENCE, 2.0) == "fusion", (name, moved)
    assert choose_champion({"sparse": right(72, [0]), "fusion": right(72, [1, 2])}, PREFERENCE, 2.0) == "fusion"  # 1.4 points on 72 rows


def test_a_clear_win_is_taken_and_the_most_accurate_is_never_passed_over_for_a_beaten_one() -> None:
    scores = {"fusion": right(500, list(range(40))), "sparse": right(500, list(range(20))), "hybrid": right(500, list(range(10)))}
    assert choose_champion(scores, PREFERENCE, 2.0) == "hybrid"  # beats fusion (30 - 0) and sparse (10 - 0) clearly
    assert beaten_by(scores, 2.0) == {"fusion": ["sparse", "hybrid"], "sparse": ["hybrid"], "hybrid": []}
    assert choose_champion(scores, PREFERENCE, 100.0) == "fusion"  # nothing counts as clear: the preference alone
    assert choose_champion(scores, PREFERENCE, 0.0) == "hybrid"  # any difference counts: the best accuracy
