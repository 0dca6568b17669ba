# syntax=docker/dockerfile:1
# cara: one image for the web app and the job workers (see compose.yaml and docs/deploy.md).
#   docker build -t cara .
#   docker run --env-file .env cara web | worker | migrate | <any command>

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# htmx from the npm registry at the version package-lock.json pins, as the Makefile's
# $(HTMX) rule does; dev-only packages (axe-core, for the browser tests) are left out.
FROM node:20-bookworm-slim AS htmx
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && mkdir -p static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

# The virtualenv, built where a compiler is at hand (pdqhash has no binary wheel).
FROM ${PYTHON_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml ./
COPY cara/ cara/
# Editable, as `make setup` does: the app finds templates/, static/ and migrations/ next to
# the package (cara/__init__.py), so the one copy of cara must be the one in /app. A plain
# `pip install .` would also put a second, incomplete copy into site-packages.
RUN pip install --no-cache-dir -e .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARA_BIND=0.0.0.0:8000
# A fixed uid (used numerically below: Kubernetes runAsNonRoot can check it), so that volumes
# and host folders can be given to it.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home cara
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The code stays root's and read-only to the app; only instance/ (database, media) is its own.
COPY pyproject.toml app.py gunicorn.conf.py ./
COPY cara/ cara/
COPY templates/ templates/
COPY static/ static/
COPY migrations/ migrations/
COPY docker/entrypoint.sh docker/entrypoint.sh
COPY --from=htmx /build/static/vendor/htmx.min.js static/vendor/htmx.min.js
RUN mkdir -p instance && chown cara:cara instance
VOLUME ["/app/instance"]
USER 10001:10001
EXPOSE 8000
# No curl in the image: Python asks /healthz on the port CARA_BIND names; any error or a
# non-2xx answer (503 when the database or Redis is down) makes urlopen raise, exit 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('CARA_BIND', ':8000').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
