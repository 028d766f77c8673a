"""The online service's Prometheus metrics (prometheus-client), in a registry of each app's own.

    prodcat_requests_total{endpoint,status}     HTTP requests answered (status 499: the client went away first)
    prodcat_request_seconds{endpoint}           request latency, from the first byte the app sees to the last it sends
    prodcat_requests_in_progress{endpoint}      requests received and not yet answered (queued for a micro-batch included)
    prodcat_batch_rows                          products per scoring call: the micro-batch sizes
    prodcat_score_seconds                       seconds per scoring call (the encoder and heads)
    prodcat_predictions_total                   products answered
    prodcat_low_confidence_predictions_total    of those, top-1 probability below the bundle's `monitor.low_confidence`
    prodcat_low_confidence_threshold            that threshold
    prodcat_cache_hits_total, _misses_total     answer-cache lookups (absent when the cache is off)

The low-confidence share over a window is `rate(prodcat_low_confidence_predictions_total[5m]) / rate(prodcat_predictions_total[5m])`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from prodcat.inference.predictor import Predictions
from prodcat.serve.access import Message, Receive, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CLIENT_GONE = 499  # nginx's status for a request whose client closed the connection before the answer


class ServiceMetrics:
    """The metrics of one app: apps in one process (tests, several bundles) never share a counter."""

    def __init__(self, low_confidence: float, cache: bool) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter("prodcat_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=registry)
        self.latency = Histogram("prodcat_request_seconds", "request latency", ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_progress = Gauge("prodcat_requests_in_progress", "requests not yet answered", ["endpoint"], registry=registry)
        self.batch_rows = Histogram("prodcat_batch_rows", "products per scoring call", buckets=ROW_BUCKETS, registry=registry)
        self.score_seconds = Histogram("prodcat_score_seconds", "seconds per scoring call", buckets=LATENCY_BUCKETS, registry=registry)
        self.predictions = Counter("prodcat_predictions", "products answered", registry=registry)
        self.low_confidence = Counter(
            "prodcat_low_confidence_predictions", "products answered with a top-1 probability below the threshold", registry=registry
        )
        Gauge("prodcat_low_confidence_threshold", "the bundle's monitor.low_confidence", registry=registry).set(low_confidence)
        self.threshold = low_confidence
        self.cache_hits = Counter("prodcat_cache_hits", "products answered from the cache", registry=registry) if cache else None
        self.cache_misses = Counter("prodcat_cache_misses", "products scored: not in the cache", registry=registry) if cache else None

    def answered(self, top_probabilities: list[float]) -> None:
        self.predictions.inc(len(top_probabilities))
        self.low_confidence.inc(sum(probability < self.threshold for probability in top_probabilities))

    def timed(self, score: Callable[[pd.DataFrame], Predictions]) -> Callable[[pd.DataFrame], Predictions]:
        """`score` (raw rows -> their predictions), recording each call's rows and seconds."""

        def timed_score(raw: pd.DataFrame) -> Predictions:
            with self.score_seconds.time():
                scored = score(raw)
            self.batch_rows.observe(len(raw))
            return scored

        return timed_score


class RequestMetrics:
    """ASGI middleware counting every answer by endpoint and status, and its latency (the refusals of inner middleware too).

    `endpoints` are the app's paths; any other path is counted as "other", so random paths cannot grow the label set.
    """

    def __init__(self, app: Callable, metrics: ServiceMetrics, endpoints: frozenset[str]) -> None:
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        status, started = 500, time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = self.metrics.in_progress.labels(endpoint)
        in_progress.inc()
        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            status = CLIENT_GONE
            raise
        finally:
            in_progress.dec()
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
