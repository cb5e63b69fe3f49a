"""Locate the project's var/ folder, where the embedded services keep logs and data."""
import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def var_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Create and return the folder for runtime files.

    SHOP_VAR_DIR overrides the default, as it does in config.settings.base.
    """
    path = Path(environ.get("SHOP_VAR_DIR") or PROJECT_DIR / "var")
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path(name: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Create var/log/ and return the path of the log file for the named process."""
    folder = var_dir(environ) / "log"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"
