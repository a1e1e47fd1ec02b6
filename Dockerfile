# wirestream: one image for every process (worker, labeller, notify, console, retrain, topics).
#
# The project is installed as a wheel from a wheelhouse built on the host, never
# from a source tree, and the build needs no package index (air-gapped builds):
#   .venv/bin/pip wheel --wheel-dir build/wheelhouse .
#   docker build --build-arg VERSION=0.1.0 -t wirestream:0.1.0 .
# BASE may be any Debian-like image: the official Python slim image (default, has
# Python 3.11) or a plain Debian bookworm (python3 is then installed with apt).
# `make image` / `make image-test` (deploy/image-test.sh) do all of this with podman.
ARG BASE=python:3.11-slim-bookworm

# ---- python: the base plus a Python 3.11 interpreter (only installed when missing) ----
FROM ${BASE} AS python
SHELL ["/bin/sh", "-eu", "-c"]
# Debian's python3 is whatever bookworm ships (3.11.2); pinning it would break on
# every point release, so the base image is the pin.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
      apt-get update; \
      apt-get install -y --no-install-recommends python3 ca-certificates; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'

# ---- build: a virtualenv with wirestream and its dependencies, from wheels only ----
FROM python AS build
ARG VERSION=0.1.0
# hadolint ignore=DL3008
RUN if ! python3 -c 'import ensurepip' 2>/dev/null; then \
      apt-get update; \
      apt-get install -y --no-install-recommends python3-venv; \
      rm -rf /var/lib/apt/lists/*; \
    fi
COPY build/wheelhouse/ /wheelhouse/
# pip itself and the numeric libraries' test suites are not needed at run time (~75 MB)
RUN python3 -m venv /opt/wirestream; \
    /opt/wirestream/bin/pip install --no-cache-dir --no-index --find-links=/wheelhouse \
      "wirestream==${VERSION}"; \
    /opt/wirestream/bin/pip uninstall --yes pip setuptools wheel 2>/dev/null || true; \
    rm -rf /opt/wirestream/lib/python3.11/site-packages/numpy/*/tests \
           /opt/wirestream/lib/python3.11/site-packages/numpy/tests \
           /opt/wirestream/lib/python3.11/site-packages/scipy/*/tests \
           /opt/wirestream/lib/python3.11/site-packages/scipy/*/*/tests \
           /opt/wirestream/lib/python3.11/site-packages/sklearn/*/tests \
           /opt/wirestream/lib/python3.11/site-packages/sklearn/tests \
           /opt/wirestream/lib/python3.11/site-packages/matplotlib/tests; \
    /opt/wirestream/bin/wirestream --help >/dev/null

# ---- runtime ----
FROM python AS runtime
ARG VERSION=0.1.0
ARG BASE
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="wirestream" \
      org.opencontainers.image.description="Kafka/Faust streaming classifier for news wire stories" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.vendor="wirestream" \
      org.opencontainers.image.base.name="${BASE}" \
      org.opencontainers.image.documentation="docs/deploy.md"

RUN groupadd --gid 10001 wirestream; \
    useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
      --home-dir /var/lib/wirestream --shell /usr/sbin/nologin wirestream; \
    install -d -o 10001 -g 10001 -m 0750 /var/lib/wirestream
COPY --from=build /opt/wirestream /opt/wirestream

# State (Faust, SQLite, the model registry unless WIRESTREAM_REGISTRY_DIR moves
# it) lives under WIRESTREAM_DATA_DIR: mount a volume there. Listen on every
# interface: inside a container 127.0.0.1 is unreachable from the outside.
ENV PATH=/opt/wirestream/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/wirestream \
    WIRESTREAM_DATA_DIR=/var/lib/wirestream \
    WIRESTREAM_METRICS_HOST=0.0.0.0 \
    WIRESTREAM_CONSOLE_HOST=0.0.0.0

USER 10001:10001
WORKDIR /var/lib/wirestream
# worker metrics, labeller metrics, console
EXPOSE 9308 9310 8080

# The worker's liveness endpoint (the default command). Other processes override
# it (compose) or ignore it (Kubernetes uses its own probes).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WIRESTREAM_METRICS_PORT', '9308'), timeout=4)"]

ENTRYPOINT ["wirestream"]
CMD ["worker"]
