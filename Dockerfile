# The exchange's processes for Docker users: one image, the `exchange` command as entry point.
# infra/docker-compose.kafka.yml builds it and runs a worker, the recorder, the API and the hub.

# The trading page's chart library, from web/package-lock.json.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

WORKDIR /app
# Dependencies first, so a code change does not reinstall them; at the versions constraints.txt pins.
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir exchange streams api ws infra schemas bench \
    && touch exchange/__init__.py streams/__init__.py api/__init__.py ws/__init__.py infra/__init__.py \
             schemas/__init__.py bench/__init__.py \
    && pip install --no-cache-dir -c constraints.txt . \
    && pip uninstall -y kafka-exchange
COPY exchange exchange
COPY streams streams
COPY api api
COPY ws ws
COPY infra infra
COPY schemas schemas
COPY bench bench
RUN pip install --no-cache-dir --no-deps .
# The trading page, served by the API process (api/web.py).
COPY web/static web/static
COPY --from=web /web/node_modules web/node_modules

# Listen on the container's interface; keep RocksDB state on a volume.
ENV BIND_HOST=0.0.0.0 \
    EXCHANGE_STATE_DIR=/var/lib/exchange \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1
VOLUME /var/lib/exchange
ENTRYPOINT ["exchange"]
CMD ["--help"]
