"""The service's request-body limit and API key: both refuse before FastAPI reads or parses a body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from devtools.fake_bundle import fake_bundle, product
from prodcat.serve import ServiceSettings, app, create_app, serve, server
from prodcat.serve.access import PRODUCT_BYTES, default_body_limit

CHUNK = 1024


async def post(app: FastAPI, content: bytes | AsyncIterator[bytes], headers: dict | None = None, path: str = "/predict") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:
        return await client.post(path, content=content, headers={"content-type": "application/json", **(headers or {})})


class Stream:
    """A chunked JSON body of `chunks` x 1 kB (a list of products, padded with spaces) that counts the chunks read from it."""

    def __init__(self, chunks: int) -> None:
        self.chunks, self.read = chunks, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.chunks):
            self.read += 1
            yield (b"[" if index == 0 else b" ") + b" " * (CHUNK - 2) + (b"]" if index == self.chunks - 1 else b" ")


def test_the_default_body_limit_is_the_largest_batch_of_generous_products() -> None:
    assert default_body_limit(256) == 256 * 32 * 1024 == 8 * 1024 * 1024
    assert ServiceSettings(max_batch=4).body_limit == 4 * PRODUCT_BYTES
    assert ServiceSettings(max_batch=4, max_body_bytes=100).body_limit == 100


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read() -> None:
    bundle = fake_bundle()
    app = create_app(bundle, ServiceSettings(max_body_bytes=10 * CHUNK))
    stream = Stream(500)
    response = asyncio.run(post(app, stream, headers={"content-length": str(500 * CHUNK)}))
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body over the limit of {10 * CHUNK} bytes ({500 * CHUNK} bytes declared): send fewer or shorter products per request"
    }
    assert stream.read == 0 and bundle.calls == []


def test_a_chunked_body_streaming_past_the_limit_is_413_and_read_no_further() -> None:
    """500 kB announced by nobody: the limit (10 kB) is noticed at the chunk that crosses it, the other 489 are never read."""
    bundle = fake_bundle()
    app = create_app(bundle, ServiceSettings(max_body_bytes=10 * CHUNK))
    stream = Stream(500)
    response = asyncio.run(post(app, stream))
    assert response.status_code == 413
    assert "request body over the limit of 10240 bytes (more than that streamed)" in response.json()["detail"]
    assert stream.read == 11 and bundle.calls == []


def test_a_body_within_the_limit_is_parsed_and_answered_whether_chunked_or_not() -> None:
    body = json.dumps([product(0)]).encode()
    app = create_app(fake_bundle(), ServiceSettings(max_body_bytes=len(body)))

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    for content in [body, chunked()]:
        response = asyncio.run(post(app, content))
        assert response.status_code == 200, response.text
        assert response.json()[0]["id"] == "p0"
    assert asyncio.run(post(app, body + b" ")).status_code == 413  # one byte over


def test_a_body_over_the_limit_is_413_even_where_its_json_would_be_malformed() -> None:
    """Refused before parsing: the answer is about the size, not the content."""
    app = create_app(fake_bundle(), ServiceSettings(max_body_bytes=CHUNK))
    assert asyncio.run(post(app, b"[" * (CHUNK + 1))).status_code == 413


KEY = "s3cret-key"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": f"Bearer {KEY}x"}, 401),
        ({"authorization": KEY}, 401),  # no scheme
        ({"authorization": f"Basic {KEY}"}, 401),
        ({"x-api-key": KEY}, 401),
        ({"authorization": f"Bearer {KEY}"}, 200),
        ({"authorization": f"bearer {KEY}"}, 200),  # the scheme is case-insensitive (RFC 9110)
    ],
)
def test_with_an_api_key_predict_needs_it_as_a_bearer_token(headers: dict, status: int) -> None:
    bundle = fake_bundle()
    response = asyncio.run(post(create_app(bundle, ServiceSettings(api_key=KEY)), json.dumps([product(0)]).encode(), headers))
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"detail": "a valid API key is required: Authorization: Bearer <PRODCAT_API_KEY>"}
        assert response.headers["www-authenticate"] == "Bearer"
        assert bundle.calls == []


def test_with_an_api_key_only_health_and_the_docs_are_open() -> None:
    app = create_app(fake_bundle(), ServiceSettings(api_key=KEY))

    async def statuses(headers: dict) -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:
            paths = ["/health", "/docs", "/openapi.json", "/model", "/metrics", "/nowhere"]
            return {path: (await client.get(path, headers=headers)).status_code for path in paths}

    assert asyncio.run(statuses({})) == {
        "/health": 200,
        "/docs": 200,
        "/openapi.json": 200,
        "/model": 401,
        "/metrics": 401,
        "/nowhere": 401,
    }
    assert asyncio.run(statuses({"authorization": f"Bearer {KEY}"}))["/model"] == 200
    assert asyncio.run(statuses({"authorization": f"Bearer {KEY}"}))["/metrics"] == 200


def test_without_the_key_no_byte_of_the_body_is_read() -> None:
    stream = Stream(5)
    response = asyncio.run(post(create_app(fake_bundle(), ServiceSettings(api_key=KEY)), stream))
    assert response.status_code == 401 and stream.read == 0


def test_without_an_api_key_every_path_is_open() -> None:
    response = asyncio.run(post(create_app(fake_bundle()), json.dumps([product(0)]).encode()))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        ({"max_body_bytes": 0}, {}, "prodcat serve: error: the body limit must be positive and the cache size at least 0, got 0 and 10000"),
        ({}, {"PRODCAT_MAX_BODY_BYTES": "8MB"}, "prodcat serve: error: PRODCAT_MAX_BODY_BYTES='8MB' is not an integer"),
        ({"cache_size": -1}, {}, "prodcat serve: error: the body limit must be positive and the cache size at least 0, got 8388608 and -1"),
    ],
)
def test_bad_limits_stop_the_command_with_one_line(
    options: dict, env: dict, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        serve("nowhere", **options)
    assert stopped.value.code == 1
    assert capsys.readouterr().err.strip() == message


def test_the_command_reads_the_key_and_the_limits_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    served = {}
    monkeypatch.setattr(app, "load_bundle", lambda folder: fake_bundle())
    monkeypatch.setattr(server, "run", lambda app, host, port, shutdown_seconds: served.update(app=app, host=host, port=port))
    monkeypatch.setenv("PRODCAT_API_KEY", KEY)
    monkeypatch.setenv("PRODCAT_MAX_BODY_BYTES", "300")
    serve("fake", host="0.0.0.0")
    assert "warning" not in capsys.readouterr().err  # a key is set
    body = json.dumps([product(0)]).encode()
    assert asyncio.run(post(served["app"], body)).status_code == 401
    assert asyncio.run(post(served["app"], body, {"authorization": f"Bearer {KEY}"})).status_code == 200
    assert asyncio.run(post(served["app"], body + b" " * 300, {"authorization": f"Bearer {KEY}"})).status_code == 413

    assert (served["host"], served["port"]) == ("0.0.0.0", 8000)

    monkeypatch.delenv("PRODCAT_API_KEY")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9001")
    serve("fake")
    assert (served["host"], served["port"]) == ("0.0.0.0", 9001)
    assert capsys.readouterr().err.strip() == (
        "prodcat serve: warning: listening on 0.0.0.0 without an API key: anyone who reaches it may call it (set PRODCAT_API_KEY)"
    )
    assert asyncio.run(post(served["app"], body)).status_code == 200
