# ChatLens: the app only. The model server (TGI) runs beside it: see docker-compose.yml.
#   docker build -t chatlens . && docker run -p 7860:7860 -v chatlens-data:/data -e TGI_URL=http://HOST:8080 chatlens
# (add --read-only if you like: only /data is written.)
# Checked by tests/test_deploy.py: hadolint, and the app started from exactly the files copied here.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The unprivileged user the app runs as; it owns the data directory and nothing else.
RUN groupadd --gid 1000 chatlens \
    && useradd --create-home --no-log-init --uid 1000 --gid 1000 --shell /usr/sbin/nologin chatlens \
    && mkdir /data \
    && chown chatlens:chatlens /data

WORKDIR /app

# Runtime dependencies only, from the lock: every file checked against its hash, wheels only (no compiler needed).
# This layer is rebuilt only when requirements.lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps --require-hashes --only-binary=:all: -r requirements.lock

# The application code last: it changes most often.
COPY app.py settings.py errors.py ./
COPY access/ access/
COPY analytics/ analytics/
COPY compat/ compat/
COPY inference/ inference/
COPY storage/ storage/
COPY ui/ ui/
COPY web/ web/
COPY locales/ locales/

# Every file the app writes goes under /data: the database, the session key, and its scratch folder /data/tmp
# (Gradio's uploads and cache, exports; removed at exit), so `docker run --read-only` needs nothing else writable.
ENV GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    DATA_DIR=/data \
    DATABASE_URL=duckdb:////data/chatlens.duckdb

# Numeric, so that the platform (e.g. Kubernetes runAsNonRoot) can tell it is not root.
USER 1000:1000
VOLUME ["/data"]
EXPOSE 7860

# 200 from /healthz while the database answers; urlopen raises (exit 1) on 503 or no answer. No curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('GRADIO_SERVER_PORT', '7860') + '/healthz', timeout=4)"]

CMD ["python", "app.py"]
