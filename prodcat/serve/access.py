"""Who may call the online service and how much they may send: the request-body limit and the optional API key.

Both are ASGI middleware, checked before a request reaches FastAPI: the key before a byte of the body is read,
the body limit before any JSON is parsed, so a 500 MB body costs the server at most the limit in memory.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

PRODUCT_BYTES = 32 * 1024  # a product's share of the default body limit: twice the largest whole Amazon 2020 row as JSON (15.9 kB)
API_KEY_ENV = "PRODCAT_API_KEY"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def default_body_limit(max_batch: int) -> int:
    """The largest request body accepted by default: `max_batch` products of `PRODUCT_BYTES` each."""
    return max_batch * PRODUCT_BYTES


def declared_length(scope: Message) -> int | None:
    """The request's Content-Length, None when absent (a chunked body) or unreadable (then the bytes are counted)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 before the app sees a byte of it.

    A Content-Length over the limit is refused unread; a body without one (chunked) is read as it streams
    and refused at the chunk that crosses the limit, the rest never read. A body within the limit is
    handed on whole, so what it holds in memory is bounded by the limit plus one chunk.
    """

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.refuse(scope, receive, send, f"{declared} bytes declared")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before its body arrived: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self.refuse(scope, receive, send, "more than that streamed")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # what follows the body: a disconnect, when the client goes
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def refuse(self, scope: Message, receive: Receive, send: Send, seen: str) -> None:
        detail = f"request body over the limit of {self.max_bytes} bytes ({seen}): send fewer or shorter products per request"
        await JSONResponse({"detail": detail}, status_code=413, headers={"connection": "close"})(scope, receive, send)


class ApiKey:
    """ASGI middleware: every path but `open_paths` needs `Authorization: Bearer <key>`, else 401 before the body is read.

    The comparison takes the same time wherever the first differing byte is (`secrets.compare_digest`).
    """

    def __init__(self, app: Callable, key: str, open_paths: frozenset[str]) -> None:
        self.app, self.expected, self.open_paths = app, key.encode(), open_paths

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths or secrets.compare_digest(self.presented(scope), self.expected):
            await self.app(scope, receive, send)
            return
        detail = f"a valid API key is required: Authorization: Bearer <{API_KEY_ENV}>"
        await JSONResponse({"detail": detail}, status_code=401, headers={"www-authenticate": "Bearer"})(scope, receive, send)

    @staticmethod
    def presented(scope: Message) -> bytes:
        """The token of an `Authorization: Bearer <token>` header (the scheme in any case), else nothing."""
        value = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        scheme, _, token = value.partition(b" ")
        return token.strip() if scheme.lower() == b"bearer" else b""
