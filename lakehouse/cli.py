"""Shared command-line behaviour: logging, and one clear line instead of a traceback for bad input."""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from lakehouse.config import ConfigError


class UsageError(ValueError):
    """Bad command-line input; reported as one line."""


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("ISOGUARD_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("py4j", "alembic", "urllib3", "werkzeug", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_cli(main: Callable[[], int]) -> int:
    """Run a command's main(); config and usage errors become `error: ...` and exit code 2."""
    configure_logging()
    try:
        return main()
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
