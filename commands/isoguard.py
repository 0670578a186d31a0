"""`isoguard`: the one command; each subcommand is an existing entry point, imported only once chosen.

    isoguard --help
    isoguard stream --config conf/default.toml
    isoguard retrain --config conf/default.toml --date 2026-11-21

A subcommand names the module whose `main(argv)` runs it; the rest of the command
line goes to that module's own parser, which stays the one definition of its
arguments, so `python -m streaming.job` and `spark-submit streaming/job.py` run
the same code. The module is imported only after the subcommand is chosen, and
the modules parse their arguments before importing pyspark, mlflow or pandas:
`isoguard --help`, `isoguard <subcommand> --help` and a bad argument answer in
well under a second. Bad arguments, an unknown subcommand and a bad config are
one line on stderr and exit code 2.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from lakehouse.cli import USAGE_EXIT, invoked_as, run_cli

PROG = "isoguard"
PURPOSE = "isoguard: real-time anomaly detection on event streams, one subcommand per job"


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str  # holds `main(argv: list[str] | None) -> int`
    purpose: str  # one line for `isoguard --help`


SUBCOMMANDS = (
    Subcommand("demo", "simulation.demo", "the whole platform on this machine: generator, stream, dashboard, retrain"),
    Subcommand("stream", "streaming.job", "the streaming job: landed events -> Delta tables -> scores and alerts"),
    Subcommand("retrain", "batch.retrain", "train, gate and register a model on a day of events (the nightly job)"),
    Subcommand("schedule", "batch.schedule", "run the retrain every night at retrain.schedule_at"),
    Subcommand("dashboard", "dashboard.__main__", "the live dashboard (Dash), on 127.0.0.1 by default"),
    Subcommand("generate", "simulation.generate", "simulated fleet events or a replayed CSV, landed as files or to Kafka"),
    Subcommand("evaluate", "commands.evaluate", "the isolation forest on labelled files: ROC-AUC, average precision, F1"),
    Subcommand("evaluate-series", "commands.evaluate_series",
               "the per-key series detectors on labelled series, by NAB's rules and score"),
    Subcommand("sample-lake", "simulation.sample_lake", "a small ready-made lake for the dashboard and notebooks"),
    Subcommand("jars", "lakehouse.jars", "resolve the Spark jars with Maven (setup), or print their coordinates"),
)
BY_NAME = {s.name: s for s in SUBCOMMANDS}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_overview(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else USAGE_EXIT
    if argv[0] not in BY_NAME:
        print(f"error: {PROG}: unknown subcommand {argv[0]!r}: use one of {', '.join(BY_NAME)} "
              f"(see {PROG} --help)", file=sys.stderr)
        return USAGE_EXIT
    sub = BY_NAME[argv[0]]
    invoked_as(f"{PROG} {sub.name}")
    entry = importlib.import_module(sub.module).main  # only now: the chosen module's imports, nothing else's
    return run_cli(lambda: entry(argv[1:]))


def _overview() -> str:
    width = max(len(s.name) for s in SUBCOMMANDS)
    lines = [f"usage: {PROG} <subcommand> [arguments]", "", PURPOSE, "", "subcommands:"]
    lines += [f"  {s.name:<{width}}  {s.purpose}" for s in SUBCOMMANDS]
    lines += ["", f"Each subcommand has its own --help with an example: {PROG} stream --help", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
