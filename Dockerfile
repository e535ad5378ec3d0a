# syntax=docker/dockerfile:1
# devsecops-maturity-exporter container image.
#
#   docker build -t devsecops-maturity-exporter .
#   docker run --rm -p 10121:10121 devsecops-maturity-exporter        # bundled demo data
#   docker run --rm -p 10121:10121 -v "$PWD/my-config:/etc/devsecops-exporter:ro" \
#       -v devsecops-data:/data -e GITHUB_TOKEN devsecops-maturity-exporter
#
# Volumes: /etc/devsecops-exporter (config.yaml, assessments and data files; relative
# paths in the config resolve against it) and /data (the SQLite store). Runs as the
# unprivileged user 10001. Dependencies come from deploy/requirements.lock (exact
# versions, installed without resolution); pin the base image by digest in your registry
# for fully repeatable builds (--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY deploy/requirements.lock deploy/build-requirements.lock ./
RUN /opt/venv/bin/pip install --no-deps --only-binary=:all: -r requirements.lock \
 && python -m pip install --no-deps -r build-requirements.lock
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY collectors ./collectors
# Build with the pinned setuptools, no build isolation (no unpinned downloads), and
# install the exporter alone: its dependencies are already in the venv.
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
 && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="devsecops-maturity-exporter" \
      org.opencontainers.image.description="Prometheus exporter for DevSecOps outcome metrics and maturity levels" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEVSECOPS_STORE__PATH=/data/devsecops-exporter.db
RUN groupadd --system --gid 10001 exporter \
 && useradd --system --uid 10001 --gid exporter --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin exporter \
 && mkdir -p /data /etc/devsecops-exporter \
 && chown exporter:exporter /data
COPY --from=build /opt/venv /opt/venv
# The bundled demo: runs with no credentials and no network until a config is mounted.
COPY config.example.yaml /etc/devsecops-exporter/config.yaml
COPY demo /etc/devsecops-exporter/demo
VOLUME ["/etc/devsecops-exporter", "/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 10121
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10121/-/healthy', timeout=4)"]
ENTRYPOINT ["devsecops-exporter"]
CMD ["serve", "--config", "/etc/devsecops-exporter/config.yaml"]
