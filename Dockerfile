# The grader service: `grader serve` under gunicorn (migrations and exercise loading on
# start). Built from the source tree: the migrations and bundled exercises sit beside
# the package, so it is installed in place (-e).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY grader grader
COPY migrations migrations
COPY exercises exercises
RUN pip install -e . \
    && pybabel compile -d grader/translations -D messages \
    && useradd --system --uid 10001 --home-dir /app grader \
    && mkdir -p /app/instance \
    && chown grader /app/instance

USER grader
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"]
CMD ["grader", "serve", "--host", "0.0.0.0", "--port", "8000"]
