"""Read typed settings from the process environment."""
import math
import os

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()


def env_str(name: str, default=_MISSING) -> str:
    """Return the variable as a string, or raise if it is unset and has no default."""
    value = os.environ.get(name)
    if value is not None and value != "":
        return value
    if default is _MISSING:
        raise ImproperlyConfigured(
            f"The environment variable {name} is missing. Set it before starting the shop."
        )
    return default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(
        f"The environment variable {name} is {value!r}, which is not a boolean. "
        "Use one of: 1, 0, true, false, yes, no, on, off."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"The environment variable {name} is {value!r}, which is not an integer."
        ) from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(
            f"The environment variable {name} is {number}, below its minimum of {minimum}."
        )
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"The environment variable {name} is {value!r}, which is not a number."
        ) from None
    if not math.isfinite(number):
        raise ImproperlyConfigured(
            f"The environment variable {name} is {value!r}, which is not a finite number."
        )
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(
            f"The environment variable {name} is {number}, below its minimum of {minimum}."
        )
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, *, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered not in choices:
        raise ImproperlyConfigured(
            f"The environment variable {name} is {value!r}, which is not a valid choice. "
            f"Use one of: {', '.join(choices)}."
        )
    return lowered
