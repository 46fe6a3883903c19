# One image for every app service in server mode (detector, ingest-free API, producers,
# drift controller, migrations, Airflow). Build: docker compose build
FROM node:20-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# The cusum method's compiled kernel (detection/core/_kernel.c), built where a C compiler is;
# the same Python 3.11 ABI as the runtime image below.
FROM python:3.11 AS native
WORKDIR /app
COPY detection/core/_kernel.c detection/core/
COPY scripts/build_native scripts/
RUN python scripts/build_native --check

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=driftsite.settings \
    DJANGO_STATIC_ROOT=/app/staticfiles
WORKDIR /app

RUN pip install --no-cache-dir "uv>=0.5,<1"
COPY pyproject.toml ./
RUN uv pip install --system --no-cache -r pyproject.toml --extra airflow

COPY . .
COPY --from=assets /app/node_modules ./node_modules
COPY --from=native /app/detection/core/_kernel.*.so detection/core/
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["gunicorn", "driftsite.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
