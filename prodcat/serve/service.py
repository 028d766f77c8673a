"""One running service: the bundle and what answers for it (micro-batcher, cache, metrics), as the endpoints reach it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from prodcat.inference.bundle import Bundle
from prodcat.serve.batcher import MicroBatcher
from prodcat.serve.cache import AnswerCache
from prodcat.serve.metrics import ServiceMetrics
from prodcat.serve.schema import Prediction, prediction_answers, served_columns
from prodcat.serve.settings import ServiceSettings

TOP_K = 3  # categories in each answer's `top`


@dataclass(frozen=True)
class Service:
    bundle: Bundle
    settings: ServiceSettings
    batcher: MicroBatcher
    metrics: ServiceMetrics
    cache: AnswerCache[Prediction] | None  # None when settings.cache_size is 0

    @classmethod
    def over(cls, bundle: Bundle, settings: ServiceSettings) -> Service:
        columns = served_columns(bundle.dataset)
        metrics = ServiceMetrics(bundle.thresholds.low_confidence, cache=settings.cache_size > 0)
        score = metrics.timed(lambda raw: bundle.score(raw, top_k=TOP_K))
        batcher = MicroBatcher(score, columns, settings.micro_batch_rows, settings.micro_batch_wait_ms)
        cache = AnswerCache[Prediction](columns[1:], settings.cache_size) if settings.cache_size > 0 else None  # the id aside
        return cls(bundle, settings, batcher, metrics, cache)

    async def scored(self, rows: list[dict]) -> list[Prediction]:
        ids = [row[self.bundle.dataset.id_column] for row in rows]
        return prediction_answers(await self.batcher.score(rows), ids)

    async def answers(self, rows: list[dict]) -> list[Prediction]:
        """The predictions of `rows`, in order: from the cache where it holds them, the rest scored once each, then cached."""
        if self.cache is None:
            return await self.scored(rows)
        keys = [self.cache.key(row) for row in rows]
        known = {key: answer for key in keys if (answer := self.cache.get(key)) is not None}
        missing = {key: row for key, row in zip(keys, rows, strict=True) if key not in known}  # a product sent twice is scored once
        hits, misses = self.metrics.cache_hits, self.metrics.cache_misses
        assert hits is not None and misses is not None  # the metrics have cache counters whenever there is a cache
        hits.inc(len(rows) - len(missing))
        misses.inc(len(missing))
        if missing:
            scored = dict(zip(missing, await self.scored(list(missing.values())), strict=True))
            for key, answer in scored.items():
                self.cache.put(key, answer)
            known |= scored
        ids = [row[self.bundle.dataset.id_column] for row in rows]
        return [
            known[key] if known[key].id == id_ else known[key].model_copy(update={"id": id_}) for key, id_ in zip(keys, ids, strict=True)
        ]


def current_service(request: Request) -> Service:
    """The endpoints' dependency: the service of the app the request reached (create_app puts it in `app.state`)."""
    return request.app.state.service
