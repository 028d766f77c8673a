"""An S3-compatible server for tests (moto, on 127.0.0.1), a DVC remote pointed at it, and a proxy that injects storage errors.

Credentials are dummy values in the environment (`S3_ENV`), as on a real worker: nothing
credential-like is written to a repository, and the remote's URL and endpoint go to `.dvc/config.local`.
"""

from __future__ import annotations

import http.client
import logging
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from devtools.processes import run

# Dummy credentials, and shared AWS files that do not exist, so no developer's ~/.aws profile leaks into a test.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws/credentials",
}
# Retry settings the tests control themselves (botocore reads them from the environment).
S3_RETRY_ENV = ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"]
# Headers about one connection's framing, which the proxy sets again on its own side.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class S3Bucket:
    endpoint: str  # http://127.0.0.1:<port>
    name: str

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under `prefix`, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@contextmanager
def moto_s3(bucket: str = "prodcat") -> Iterator[S3Bucket]:
    """moto's ThreadedMotoServer on 127.0.0.1 (a free port) with `bucket` created; stopped when the block ends."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    found = S3Bucket(endpoint=f"http://{host}:{port}", name=bucket)
    try:
        found.client().create_bucket(Bucket=bucket)
        yield found
    finally:
        # moto keeps its buckets in this process, past the server: empty them for the next test.
        urllib.request.urlopen(urllib.request.Request(f"{found.endpoint}/moto-api/reset", method="POST"), timeout=10).close()
        server.stop()


def use_s3_remote(repo: Path, url: str, endpoint: str) -> None:
    """Point the `storage` remote of `repo` at `url` on `endpoint`, in the git-ignored local config (README, "Artifacts in S3")."""
    run([sys.executable, "-m", "dvc", "remote", "modify", "--local", "storage", "url", url], repo)
    run([sys.executable, "-m", "dvc", "remote", "modify", "--local", "storage", "endpointurl", endpoint], repo)


@dataclass
class FaultyProxy:
    """In front of an S3 endpoint: answers the first `failures` requests of `method` with `status` and an S3 error `code`.

    Everything else is forwarded as is. `failed` counts the requests answered with the error.
    """

    upstream: str
    method: str = "PUT"
    failures: int = 1
    status: int = 500
    code: str = "InternalError"
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _should_fail(self, method: str) -> bool:
        with self._lock:
            if method == self.method and self.failed < self.failures:
                self.failed += 1
                return True
            return False

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read() if environ.get("wsgi.input_terminated") else environ["wsgi.input"].read(length)
        if self._should_fail(environ["REQUEST_METHOD"]):
            error = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{self.code}</Code><Message>injected by the test proxy</Message></Error>"
            start_response(f"{self.status} Injected", [("Content-Type", "application/xml"), ("Content-Length", str(len(error)))])
            return [error.encode()]
        # The body goes on whole: http.client sets its Content-Length, so no framing header is passed on.
        headers = {
            name[5:].replace("_", "-").title(): value
            for name, value in environ.items()
            if name.startswith("HTTP_") and name[5:].replace("_", "-").lower() not in HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        host, port = self.upstream.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request(environ["REQUEST_METHOD"], environ["REQUEST_URI"], body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        kept = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP]
        start_response(f"{response.status} {response.reason}", [*kept, ("Content-Length", str(len(payload)))])
        return [payload]


@contextmanager
def faulty_proxy(proxy: FaultyProxy) -> Iterator[str]:
    """Serve `proxy` on 127.0.0.1 (a free port); its endpoint URL. Stopped when the block ends."""
    server = make_server("127.0.0.1", 0, proxy, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
