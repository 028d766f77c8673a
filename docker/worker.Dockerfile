# prodcat GPU worker image: a CUDA build of torch, the project (with the packaged base encoder) and
# a working copy of this repository at /opt/prodcat for DVC. Two uses:
#   - the flow-run image of the Kubernetes pool (deploy/prefect-k8s.yaml): the worker replaces the
#     command with `prefect flow-run execute`;
#   - a process-pool GPU worker on a Docker host, its default command:
#       docker run --gpus all -e PREFECT_API_URL=... prodcat-gpu-worker:0.1.0
# Build from the repository root (a clone with its .git, which DVC needs):
#   docker build -f docker/worker.Dockerfile -t prodcat-gpu-worker:0.1.0 .
# Not built in CI (README, "GPU pool in containers").
FROM python:3.11-slim-bookworm

# The PyTorch index of the CUDA build for your driver; the torch pin is pyproject.toml's.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 prodcat

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    PRODCAT_WORKDIR=/opt/prodcat \
    PYTHONPATH=/opt/prodcat \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    DVC_NO_ANALYTICS=1 \
    DO_NOT_TRACK=1 \
    TOKENIZERS_PARALLELISM=false

# torch first, from the CUDA index: the project's `torch==2.13.0` is then already met (2.13.0+cu128).
RUN pip install torch==2.13.0 --index-url "${TORCH_INDEX}"

WORKDIR /opt/prodcat
COPY --chown=prodcat:prodcat . .
RUN pip install -e . && chown prodcat:prodcat /opt/prodcat

USER prodcat
CMD ["prefect", "worker", "start", "--pool", "gpu", "--type", "process", "--limit", "1"]
