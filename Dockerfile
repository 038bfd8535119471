# The lineage service: `docker build --build-arg REVISION=$(git rev-parse HEAD) -t lineage-service .`
# Two stages: wheels are built with pip's caches in the first, the second holds only what runs.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY graph_schema graph_schema
COPY collectors collectors
COPY lineage_service lineage_service
COPY cli cli
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[neo4j]"

FROM python:3.11-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lineage-service" \
      org.opencontainers.image.description="Which commit and which data produced API v1.2.3?" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "lineage-service[neo4j]" \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home --home-dir /data lineage \
    && mkdir -p /data && chown 10001 /data
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001
WORKDIR /data
# In a container the service must listen beyond loopback, so `lineage serve` requires tokens
# (LINEAGE_TOKENS or LINEAGE_TOKENS_FILE) unless LINEAGE_INSECURE=true is set on purpose.
ENV LINEAGE_STORE=sqlite:////data/lineage.db \
    LINEAGE_HOST=0.0.0.0 \
    LINEAGE_PORT=8080 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["lineage"]
CMD ["serve"]
