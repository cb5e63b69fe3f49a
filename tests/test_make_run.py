"""The summary that `make run` prints: how to run a management command against the shop it started."""
from embedded.run import _commands_row


def test_commands_row_default_ports():
    assert _commands_row({"REDIS_URL": "redis://127.0.0.1:6380/0"}) == ".venv/bin/python manage.py <command>"


def test_commands_row_names_moved_services():
    env = {
        "SHOP_VAR_DIR": "/tmp/shop",
        "REDIS_PORT": "8612",
        "REDIS_URL": "redis://127.0.0.1:8612/0",
        "SES_PORT": "8614",
        "AWS_SES_ENDPOINT_URL": "http://127.0.0.1:8614",
        "STRIPE_API_BASE": "http://127.0.0.1:8420",
    }

    assert _commands_row(env) == (
        "SHOP_VAR_DIR=/tmp/shop REDIS_URL=redis://127.0.0.1:8612/0 AWS_SES_ENDPOINT_URL=http://127.0.0.1:8614 "
        ".venv/bin/python manage.py <command>"
    )
