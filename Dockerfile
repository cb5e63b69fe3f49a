FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

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
RUN pip install '.[embedded]' \
    && DJANGO_SECRET_KEY=build-only REDIS_URL=redis://unused STRIPE_SECRET_KEY=unused \
       STRIPE_PUBLISHABLE_KEY=unused STRIPE_WEBHOOK_SECRET=unused \
       DJANGO_SETTINGS_MODULE=config.settings.production python manage.py collectstatic --noinput

RUN useradd --create-home shop
USER shop
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
