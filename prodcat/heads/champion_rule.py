"""The champion rule: the most preferred variant that no other variant clearly beats on validation (a paired comparison).

Fixed in advance by `champion.preference` and `champion.noise_z`; the champion stage applies it to
the validation rows each variant got right, so a tie or a one-row difference never decides by accident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def clearly_beats(correct: np.ndarray, other_correct: np.ndarray, noise_z: float) -> bool:
    """Whether the first variant's wins over the second on the same rows exceed its losses by more than `noise_z` standard errors.

    A paired comparison (McNemar's): only rows where exactly one of the two is right count, and the
    difference of wins and losses has standard error sqrt(wins + losses) under "equally good".
    """
    wins, losses = int((correct & ~other_correct).sum()), int((~correct & other_correct).sum())
    return wins - losses > noise_z * math.sqrt(wins + losses)


def choose_champion(correct: Mapping[str, np.ndarray], preference: list[str], noise_z: float) -> str:
    """The first variant in `preference` that no other variant clearly beats on validation (`correct`: per variant, rows it got right).

    A tie or a difference within the noise keeps the preferred variant, so rounding that moves a row
    or two does not change the choice; a clear win is taken. The most accurate variant is never
    clearly beaten, so there always is one.
    """
    return next(
        name
        for name in sorted(correct, key=preference.index)
        if not any(clearly_beats(correct[other], correct[name], noise_z) for other in correct if other != name)
    )


def beaten_by(correct: Mapping[str, np.ndarray], noise_z: float) -> dict[str, list[str]]:
    """Per variant, the variants that clearly beat it on validation: why the rule passed over a preferred one."""
    return {
        name: [other for other in correct if other != name and clearly_beats(correct[other], correct[name], noise_z)] for name in correct
    }
