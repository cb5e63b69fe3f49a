"""Create the local admin account unless a superuser exists.

Run as `python -m embedded.admin_user PASSWORD_FILE` with DJANGO_SETTINGS_MODULE
set. The new account is `admin` with a random password, which goes only into
PASSWORD_FILE (mode 0600), never to the terminal or a log. The last line of
stdout is the login hint that embedded.run shows in its table.
"""
import argparse
import os
import secrets
import sys
from pathlib import Path

ADMIN_USERNAME = "admin"


def write_password_file(path: Path, password: str) -> None:
    """Write `password` to `path`, readable and writable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as password_file:
        # The mode argument of os.open() does not apply to an existing file.
        os.fchmod(password_file.fileno(), 0o600)
        password_file.write(password + "\n")


def ensure_admin(password_file: Path) -> str:
    """Create the admin superuser if the database has no superuser, and return a login hint."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    superusers = user_model.objects.filter(is_superuser=True).order_by("pk")
    if superusers.exists():
        first = superusers.first()
        username = first.get_username()
        if username == ADMIN_USERNAME and password_file.exists():
            return f"user {username}, password in {password_file}"
        return f"user {username} (an existing superuser)"

    if user_model.objects.filter(**{user_model.USERNAME_FIELD: ADMIN_USERNAME}).exists():
        raise SystemExit(
            f"A user named {ADMIN_USERNAME!r} exists but is not a superuser, so no admin account "
            "was created. Run `.venv/bin/python manage.py createsuperuser` to create one."
        )

    password = secrets.token_urlsafe(18)
    user_model.objects.create_superuser(
        username=ADMIN_USERNAME, email="admin@shop.example.com", password=password
    )
    write_password_file(password_file, password)
    print(f"Created the superuser {ADMIN_USERNAME}. Its password is in {password_file}.")
    return f"user {ADMIN_USERNAME}, password in {password_file}"


def main(argv: list[str] | None = None) -> None:
    """Set up Django, ensure the admin account and print the login hint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("password_file", type=Path, help="where to write a new admin's password")
    args = parser.parse_args(argv)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    print(ensure_admin(args.password_file))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
