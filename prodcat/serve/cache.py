"""The answers of products already scored, keyed by a hash of what the model reads of a product.

The key is a BLAKE2b digest of the product's served columns other than the id (the id only labels the
answer), so the same product posted again under any id is answered without scoring; the answer gets the
new id. Bounded: the least recently used entry goes first.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Generic, TypeVar

Answer = TypeVar("Answer")


class AnswerCache(Generic[Answer]):
    """An LRU of at most `size` answers (size > 0), keyed by `key(row)`."""

    def __init__(self, columns: list[str], size: int) -> None:
        if size < 1:
            raise ValueError(f"an answer cache holds at least one answer, got size {size}")
        self._columns, self._size = columns, size
        self._answers: OrderedDict[bytes, Answer] = OrderedDict()

    def key(self, row: dict) -> bytes:
        """The digest of the row's values in `columns` (text or None, as the service reads them)."""
        return hashlib.blake2b(json.dumps([row[column] for column in self._columns]).encode(), digest_size=16).digest()

    def get(self, key: bytes) -> Answer | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def put(self, key: bytes, answer: Answer) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        if len(self._answers) > self._size:
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)
