"""Settings for the test suite. The embedded pytest plugin exports the service addresses first."""
from config.env import env_str
from config.settings.local import *  # noqa: F403
from config.settings.local import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The Celery worker runs in its own process, so an SQLite test database must
# be a file both processes open, not the in-memory default.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

FULFILLMENT_RETRY_BACKOFF = 0.2
FULFILLMENT_RETRY_BACKOFF_MAX = 1.0

# A folder where a reliability test arms pause points to kill a worker child
# in the middle of a task (see fulfillment/pause_points.py).
FULFILLMENT_PAUSE_DIR = env_str("FULFILLMENT_PAUSE_DIR", "")
