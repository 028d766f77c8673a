"""The online service: a FastAPI app over the model bundle, with concurrent requests micro-batched.

    prodcat serve --bundle models/bundle        # http://127.0.0.1:8000 (HOST, PORT to change)

`POST /predict` takes a JSON list of products keyed by the catalog's own column names and answers, per
product, the label, its path of levels with the probability of each level, and the top 3 with
probabilities (schema.py). Requests arriving within a few milliseconds of each other share one
`Bundle.score` call (batcher.py); a product answered before comes from a bounded cache (cache.py).
A body over the limit is refused before it is parsed, an API key (PRODCAT_API_KEY) guards every path
but /health and the docs (access.py), /metrics speaks Prometheus (metrics.py), and SIGTERM lets
in-flight requests finish while new connections are refused (server.py).
"""

from prodcat.serve.app import create_app
from prodcat.serve.server import run, serve
from prodcat.serve.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app", "run", "serve"]
