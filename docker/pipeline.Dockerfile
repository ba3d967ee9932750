# PathReasoner pipeline image: CPU stages (shard/tile slides, build-kg, build-samples, register, check-gate,
# promote), run by KFP as `python3 -m kfp.dsl.executor_main`, and the `pathreasoner` CLI.
# Build from the repository root (docs/images.md):  make images   or
#   DOCKER_BUILDKIT=0 docker build -f docker/pipeline.Dockerfile --build-arg GIT_SHA=$(git rev-parse HEAD) \
#     -t ghcr.io/pathreasoner/pipeline:0.1.0 .
# BASE_IMAGE: any Debian/Ubuntu image with python3.11 (or apt to install it); here, without a registry,
# docker/build-base.sh builds localhost/debian-python:bookworm and build-images.sh passes it.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# ---- shared prefix: keep these lines identical in pipeline/trainer/serving.Dockerfile (from FROM to the
# ---- torch layer) so that Docker's layer cache builds and stores the torch layer once for all three.
FROM ${BASE_IMAGE} AS runtime

# Package sources for the build only (never set in the image): unset in production (PyPI);
# docker/build-images.sh points them at this machine's local indexes served on 127.0.0.1.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
ARG PIP_CERT

ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/home/pathreasoner \
    HF_HUB_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    MLFLOW_ENABLE_TELEMETRY=false \
    DO_NOT_TRACK=1 \
    MPLBACKEND=Agg

COPY docker/certs/ /opt/pathreasoner/certs/
COPY docker/constraints-base.txt /opt/pathreasoner/build/
# Python 3.11 (from the base, or apt on an Ubuntu CUDA base), the venv (root-owned, read-only to the
# runtime user), and user 1000 with a writable HOME (caches: MiniLM embeddings, matplotlib, HF).
RUN set -eu; \
    if ! command -v python3.11 >/dev/null 2>&1; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    if getent passwd 1000 >/dev/null; then userdel --remove "$(getent passwd 1000 | cut -d: -f1)" 2>/dev/null || true; fi; \
    useradd --uid 1000 --user-group --create-home --home-dir /home/pathreasoner --shell /bin/bash pathreasoner; \
    python3.11 -m venv /opt/venv; \
    pip install --quiet -c /opt/pathreasoner/build/constraints-base.txt pip setuptools
# The torch stack (torch wheels bundle the CUDA libraries; a GPU node needs only the NVIDIA driver).
RUN pip install --quiet -c /opt/pathreasoner/build/constraints-base.txt torch torchvision
# ---- end of the shared prefix

# This image's requirement list (core + extra `pipeline` of pyproject.toml), computed in a throw-away stage:
# the dependency layer below re-runs only when the list or the lock changes, not on other pyproject edits.
FROM runtime AS requirements
COPY pyproject.toml docker/requirements.py /tmp/
RUN python3 /tmp/requirements.py /tmp/pyproject.toml pipeline > /tmp/requirements.txt

FROM runtime
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
ARG PIP_CERT
# Dependencies of this image only, pinned by the lock (`make lock`).
COPY docker/constraints.txt /opt/pathreasoner/build/
COPY --from=requirements /tmp/requirements.txt /opt/pathreasoner/build/requirements.txt
RUN pip install --quiet -r /opt/pathreasoner/build/requirements.txt -c /opt/pathreasoner/build/constraints.txt \
 && pip check

# The project itself, last: a code change re-runs only these fast steps (no dependency resolution).
# The import check runs with a throw-away HOME and TMPDIR so that it leaves no root-owned caches behind.
COPY pyproject.toml README.md /tmp/src/
COPY pathreasoner /tmp/src/pathreasoner
COPY components /tmp/src/components
COPY pipelines /tmp/src/pipelines
RUN pip install --quiet --no-deps --no-build-isolation /tmp/src \
 && rm -rf /tmp/src \
 && mkdir /tmp/smoke && HOME=/tmp/smoke TMPDIR=/tmp/smoke python3 -c "import pathreasoner.stages, pathreasoner.wsi.tiler, pathreasoner.kg.build, pathreasoner.samples.build, pathreasoner.registry.mlflow_registry, kfp.dsl.executor_main" \
 && rm -rf /tmp/smoke

ARG VERSION=0.1.0
ARG GIT_SHA=unknown
LABEL org.opencontainers.image.title="pathreasoner-pipeline" \
      org.opencontainers.image.description="PathReasoner CPU pipeline stages" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.pathreasoner.role="pipeline"
# no git in the image: mlflow would warn on every run that it cannot read the repository
ENV PATHREASONER_GIT_SHA=${GIT_SHA} GIT_PYTHON_REFRESH=quiet
USER 1000
WORKDIR /home/pathreasoner
CMD ["pathreasoner", "--help"]
