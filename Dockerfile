# The Baton worker image: workflows + activities of every pattern, tools from baton/examples/ (and any
# module named in BATON_TOOL_MODULES). One image also serves `baton model-server` and the CLI.
#
#   docker build -t baton .
#   docker compose up --scale worker=3
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BATON_HOME=/var/lib/baton \
    BATON_LOG_FORMAT=json

WORKDIR /app

# Dependencies first (cached layer): only pyproject.toml invalidates it. The package directories
# are created empty so setuptools can resolve the project; the real sources are copied below.
COPY pyproject.toml README.md* ./
# The postgres extra: compose workers share the PostgreSQL ledger and example shop.
RUN mkdir -p baton && touch baton/__init__.py \
    && pip install '.[postgres]' \
    && pip uninstall -y baton

COPY baton ./baton
RUN pip install --no-deps . \
    && useradd --system --create-home --home-dir /var/lib/baton baton

# Without BATON_LEDGER_URL the idempotency ledger is a SQLite file in BATON_HOME, which serves
# the workers of one host only; mount a volume to keep it.
VOLUME ["/var/lib/baton"]
USER baton

# Stops gracefully on SIGTERM (in-flight activities get the worker's shutdown grace period).
STOPSIGNAL SIGTERM
CMD ["baton", "worker"]
