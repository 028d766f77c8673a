"""The service's answer cache: keyed by what the model reads of a product, bounded, off-able, invisible in the answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from devtools.fake_bundle import fake_bundle, product
from prodcat.serve import ServiceSettings, create_app
from prodcat.serve.cache import AnswerCache

BODIES = [
    [product(0), product(1), product(2)],
    [product(1), {**product(0), "Uniq Id": "again"}, product(3)],  # p0's columns under another id: a hit
    [product(3), product(3), {**product(3), "Selling Price": "$1.00"}],  # another price: another product
    [{**product(4), "About Product": None}, {**product(4), "About Product": ""}],  # both blank: one product
]


def answers(cache_size: int) -> tuple[list, list[int], dict[str, float]]:
    """Every body's answers, the rows of each scoring call, and the cache counters."""
    bundle = fake_bundle()
    with TestClient(create_app(bundle, ServiceSettings(cache_size=cache_size))) as client:
        result = [client.post("/predict", json=body).json() for body in BODIES]
        metrics = {
            line.split()[0]: float(line.split()[1])
            for line in client.get("/metrics").text.splitlines()
            if line.startswith("prodcat_cache") and "_total " in line
        }
    return result, [len(raw) for raw in bundle.calls], metrics


def test_cached_answers_equal_uncached_ones_and_carry_their_own_id() -> None:
    cached, calls, counters = answers(cache_size=100)
    uncached, uncached_calls, no_counters = answers(cache_size=0)
    assert cached == uncached
    assert [answer["id"] for answer in cached[1]] == ["p1", "again", "p3"]
    assert calls == [3, 1, 1, 1]  # p3 at its new price (p3 twice: once); the two p4s with a blank about: once
    assert uncached_calls == [3, 3, 3, 2]
    assert counters == {"prodcat_cache_hits_total": 5, "prodcat_cache_misses_total": 6}
    assert no_counters == {}  # no cache, no cache metrics


def test_the_cache_forgets_the_least_recently_used_answer_first() -> None:
    bundle = fake_bundle()
    with TestClient(create_app(bundle, ServiceSettings(cache_size=2))) as client:
        for index in [0, 1, 0, 2, 0, 1]:  # 0 was used after 1, so 2 pushes out 1; then 1 is scored again
            client.post("/predict", json=[product(index)])
    assert [raw["Uniq Id"].tolist() for raw in bundle.calls] == [["p0"], ["p1"], ["p2"], ["p1"]]


def test_the_key_is_the_served_columns_but_the_id() -> None:
    cache = AnswerCache[str](["Product Name", "Selling Price"], size=10)
    assert cache.key({"Uniq Id": "a", "Product Name": "Kite", "Selling Price": None}) == cache.key(
        {"Uniq Id": "b", "Product Name": "Kite", "Selling Price": None}
    )
    assert cache.key({"Product Name": "Kite", "Selling Price": None}) != cache.key({"Product Name": "Kite", "Selling Price": "None"})
    assert cache.key({"Product Name": "a", "Selling Price": "b c"}) != cache.key({"Product Name": "a b", "Selling Price": "c"})


def test_a_cache_of_no_answers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one answer, got size 0"):
        AnswerCache[str](["Product Name"], size=0)
