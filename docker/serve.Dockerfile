# prodcat online service image: the package installed from its wheel (no repository at run time) and one model
# bundle, served by `prodcat serve` as a non-root user. Build from the repository root; the bundle
# is a second build context (BuildKit, Docker >= 23), as .dockerignore keeps models/ out of the main one:
#   docker build -f docker/serve.Dockerfile --build-context bundle=models/bundle -t prodcat-serve:0.1.0 .
# Run it (PRODCAT_API_KEY optional: without it, anyone who reaches the port may call every endpoint):
#   docker run --rm -p 8000:8000 -e PRODCAT_API_KEY="$(cat key.txt)" --stop-timeout 40 prodcat-serve:0.1.0
# `docker stop` sends SIGTERM: in-flight requests finish (up to --shutdown-seconds, 30), new connections are refused;
# --stop-timeout must exceed it or Docker kills the server first. Not built here (README, "The service image").

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY prodcat prodcat
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# The PyTorch index of the CPU build: PyPI's default torch wheel pulls in CUDA libraries (GBs). The pin is pyproject.toml's.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    DO_NOT_TRACK=1 \
    TOKENIZERS_PARALLELISM=false
RUN useradd --create-home --uid 1000 prodcat \
    && pip install torch==2.13.0 --index-url "${TORCH_INDEX}"
COPY --from=wheel /wheels /wheels
RUN pip install /wheels/prodcat-*.whl && rm -rf /wheels
# --chown: a bundle folder written by `dvc repro` may be readable by its owner only (mode 700).
COPY --from=bundle --chown=prodcat:prodcat . /srv/bundle

USER prodcat
WORKDIR /home/prodcat
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["prodcat", "serve", "--bundle", "/srv/bundle", "--host", "0.0.0.0", "--port", "8000"]
