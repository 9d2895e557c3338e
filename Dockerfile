# The hub image: ingest and dashboard (no OpenCV, no GPIO).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protocol protocol
COPY timeseries timeseries
COPY ingest ingest
COPY dashboard dashboard
COPY canteen canteen
COPY edge edge
RUN pip install --no-cache-dir ".[hub]" \
    && useradd --system --home /var/lib/canteen canteen \
    && mkdir -p /var/lib/canteen && chown canteen /var/lib/canteen
USER canteen
ENV CANTEEN_STATE_DIR=/var/lib/canteen
ENTRYPOINT ["canteen"]
