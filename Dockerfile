# One image for web (gunicorn), ws (Daphne), worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# The admin dashboard's chart library: the pinned npm tarball, sha512-checked, extracted into a static dir.
RUN python scripts/vendor_static.py
# collectstatic needs a key but no database; the real key comes from the environment at run time.
RUN SECRET_KEY=build-only-collectstatic-key DEBUG=false python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 ibw && mkdir -p /app/media /metrics-data && chown ibw /app/media /metrics-data
USER ibw

EXPOSE 8000 8001
# HTTP by default; the WebSocket service runs Daphne on 8001 (see docker-compose.yml).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "ibw.wsgi:application"]
