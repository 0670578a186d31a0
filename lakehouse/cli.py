"""Shared command-line behaviour: logging, one parser shape, and one clear line instead of a traceback for bad input.

Every entry point (`isoguard <subcommand>`, `python -m <module>`, `spark-submit <file>`)
builds its parser with `command_parser`, so `--help` shows a one-line purpose and an
example, and a bad argument is one line on stderr with exit code 2, like a bad config
(`run_cli`). This module imports nothing heavy: parsing happens before pyspark, mlflow
or pandas load, so `--help` and argument errors answer in well under a second.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable

from lakehouse.config import ConfigError


USAGE_EXIT = 2  # bad arguments or bad config, as argparse and the shells' own commands use

_invoked_as: str | None = None  # set by the `isoguard` dispatcher: usage lines then read "isoguard <subcommand>"


class UsageError(ValueError):
    """Bad command-line input; reported as one line."""


class CommandParser(argparse.ArgumentParser):
    """argparse with a one-line error, `error: <prog>: <message>`, and exit code 2 (the usage stays in --help)."""

    def error(self, message: str):
        self.exit(USAGE_EXIT, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def invoked_as(prog: str) -> None:
    """Name the command as the user typed it (`isoguard stream`) in the next parsers' usage and errors."""
    global _invoked_as
    _invoked_as = prog


def command_parser(prog: str, doc: str, example: str) -> CommandParser:
    """A command's parser: the first line of `doc` as its purpose, `example` under --help.

    Args:
        prog: the name when run as a module (`streaming.job`); the dispatcher's name wins when set.
        doc: the module docstring, whose first line says what the command is for.
        example: one or more example command lines, shown after the options.
    """
    return CommandParser(prog=_invoked_as or prog, description=doc.strip().splitlines()[0],
                         epilog="example:\n" + "\n".join(f"  {line}" for line in example.strip().splitlines()),
                         formatter_class=argparse.RawDescriptionHelpFormatter)


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
        return USAGE_EXIT
    except KeyboardInterrupt:
        return 130
