# The hub image: `canteen ingest` and `canteen dashboard`, built by docker-compose.yml.
# Only the `hub` extra: no OpenCV (the people counter runs on the entrance Pi), no GPIO.
FROM python:3.11-slim

# The slim image has no time zone data; the kitchen's zone (TZ, dashboard.timezone) needs it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Every package pyproject.toml's [tool.setuptools.packages.find] includes.
COPY pyproject.toml README.md ./
COPY protocol protocol
COPY timeseries timeseries
COPY ingest ingest
COPY dashboard dashboard
COPY alerts alerts
COPY canteen canteen
COPY edge edge
COPY reports reports
RUN pip install ".[hub]"
COPY deploy/docker/healthcheck.py /app/healthcheck.py

# An unprivileged user; the state folder is a volume (docker-compose.yml: hub-state) that
# Docker fills with this folder, owned by that user, on first start.
RUN groupadd --system --gid 10001 canteen \
    && useradd --system --uid 10001 --gid canteen --home-dir /var/lib/canteen --no-create-home canteen \
    && mkdir -p /var/lib/canteen \
    && chown canteen:canteen /var/lib/canteen
USER canteen
ENV CANTEEN_STATE_DIR=/var/lib/canteen
EXPOSE 8080
ENTRYPOINT ["canteen"]
CMD ["--help"]
