# The service image: the same `audittrail serve` as `make run`, against managed PostgreSQL and
# Redis given by DATABASE_URL and REDIS_URL (and AUDITTRAIL_SECRET_KEY), as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AUDITTRAIL_DATA_DIR=/home/audittrail/data \
    AUDITTRAIL_LOG_JSON=true

WORKDIR /app
COPY pyproject.toml uv.lock README.md alembic.ini ./
COPY api ./api
COPY workers ./workers
COPY receivers ./receivers
# The runtime dependencies exactly as uv.lock pins them, hashes checked: no extra (the embedded
# servers and the dev tools stay out), then our package alone.  uv (the Makefile's version) only
# exports the lock and leaves the image afterwards.
RUN pip install uv==0.13.9 \
    && uv export --quiet --locked --no-dev --no-emit-project --format requirements-txt --output-file requirements.txt \
    && pip install --no-deps --require-hashes -r requirements.txt \
    && pip install --no-deps . \
    && pip uninstall --yes uv \
    && rm requirements.txt \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin audittrail

USER audittrail
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"]
# serve migrates, then runs the API and the delivery worker beside it (docker-compose.yml runs
# the worker as its own service instead, with --no-worker here).
CMD ["audittrail", "serve", "--host", "0.0.0.0", "--port", "8000"]
