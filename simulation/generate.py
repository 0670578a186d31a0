"""The fleet simulator's events, or a replayed CSV, landing as JSON-lines files (or produced to Kafka).

    isoguard generate --rate 1000 --duration 600            # live, in real time
    isoguard generate --rate 5000 --duration 60 --start 2026-11-21T00:00:00Z   # simulated clock, no waiting
    isoguard generate --replay data.csv --time-col ts --speed 60
    isoguard generate --kafka 127.0.0.1:9092 --topic isoguard-events   # to Kafka instead of files

Ground truth (event_id, is_anomaly, kind) goes to a separate labels folder,
never into the event payload. Files are written under a hidden name and
renamed, so the stream never reads half a file.

Each command-line run has a run id (UTC start time and 6 random hex digits) in
every file name it lands, and a replay also in the event ids it makes up: the
landing contract is a new, unique name per file, so a second `--replay` into
the same landing folder is a second set of files (and events), never a
rewrite of the first.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.cli import UsageError, command_parser, run_cli
from lakehouse.config import Config, load_config

# numpy, pandas and the simulator load inside the functions, after the arguments are parsed:
# `--help` and a bad argument answer in well under a second.
if TYPE_CHECKING:
    import pandas as pd

    from simulation.fleet import FleetSimulator


class LandingWriter:
    """Lands files atomically: write a hidden temporary file, then rename it into place."""

    def __init__(self, landing: str | Path, truth: str | Path | None):
        self.landing = Path(landing)
        self.truth = Path(truth) if truth else None
        self.landing.mkdir(parents=True, exist_ok=True)
        if self.truth:
            self.truth.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, events: pd.DataFrame, truth: pd.DataFrame | None = None) -> int:
        from simulation.fleet import to_json_lines

        text = to_json_lines(events)
        tmp = self.landing / f".{name}.jsonl.tmp"
        tmp.write_text(text)
        if self.truth is not None and truth is not None:
            truth.to_csv(self.truth / f"{name}.csv", index=False)  # truth first: the labels never lag the events
        os.replace(tmp, self.landing / f"{name}.jsonl")
        return len(text.encode())


def read_truth(truth_dir: str | Path) -> pd.DataFrame:
    """All ground-truth labels written so far."""
    import pandas as pd

    files = sorted(Path(truth_dir).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=["event_id", "is_anomaly", "kind"])
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def _parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()
    except ValueError:
        raise UsageError(f"--start: not an ISO-8601 time: {text!r}") from None


def new_run_id() -> str:
    """A run id for landed file names: sortable by start time, unique across runs."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def run_generator(sim: FleetSimulator, writer: LandingWriter, rate: float, duration: float,
                  file_seconds: float, start: float | None = None, log=print, first_seq: int = 0,
                  run_id: str | None = None) -> int:
    """Emit `rate` events/s for `duration` seconds (0 = until interrupted); returns events written.

    With `start`, time is simulated from there and files are written without waiting.
    Event ids count up from `first_seq`. With `run_id`, every file name carries it.
    """
    suffix = f"-{run_id}" if run_id else ""
    simulated = start is not None
    t = start if simulated else time.time()
    end = t + duration if duration else float("inf")
    seq, written = first_seq, 0
    carry = 0.0
    while t < end:
        span = min(file_seconds, end - t)
        carry += rate * span
        count, carry = int(carry), carry - int(carry)
        if count:
            events, truth = sim.generate(t, t + span, count, seq)
            writer.write(f"events-s{sim.seed}-{int(t * 1000):015d}-{seq:012d}{suffix}", events, truth)
            seq += count
            written += count
        t += span
        if not simulated:
            time.sleep(max(0.0, t - time.time()))
        if written and (written // count) % max(1, int(10 / file_seconds)) == 0:
            log(f"generator: {written} events written")
    return written


REPLAY_FILE_ROWS = 10_000  # rows per replayed file by default: about 1-2 MB of JSON lines


def replay_csv(path: str, time_col: str, speed: float, config: Config, writer: LandingWriter,
               file_seconds: float | None, file_rows: int = REPLAY_FILE_ROWS, run_id: str | None = None) -> int:
    """Turn any CSV into the landing stream, paced by its time column (speed 0 = no waiting).

    Files hold at most `file_rows` rows, in event-time order. Paced (speed > 0), a
    file is landed every `file_seconds` (default 1) of wall-clock time; unpaced,
    rows are cut only by `file_rows` unless `file_seconds` asks for a file per that
    many seconds of event time too. (It used to be one file per second of event
    time: a year of 5-minute data landed as 105,000 one-line files, each costing the
    stream a listing entry and a task, where 11 files of 10,000 rows do.)
    With `run_id` (the command line always has one), file names and made-up event
    ids carry it, so two replays into one landing folder are two sets of files and events.
    """
    import numpy as np
    import pandas as pd

    run = f"{run_id}-" if run_id else ""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"--replay: no such file {path}") from None
    if time_col not in frame.columns:
        raise UsageError(f"--time-col: {time_col!r} is not a column of {path} ({', '.join(frame.columns)})")
    s = config.schema
    times = pd.to_datetime(frame[time_col], utc=True, errors="coerce")
    frame = frame.assign(**{s.event_time: times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    if time_col != s.event_time:
        frame = frame.drop(columns=[time_col])
    if s.event_id not in frame.columns:
        frame[s.event_id] = [f"replay-{run}{i:012d}" for i in range(len(frame))]
    order = np.argsort(times.to_numpy(), kind="stable")
    frame, seconds = frame.iloc[order], times.iloc[order].astype("int64").to_numpy() / 1e9
    if speed or file_seconds:
        wall_seconds = file_seconds or 1.0
        data_seconds_per_file = wall_seconds * speed if speed else wall_seconds
        bucket = np.floor((seconds - seconds[0]) / data_seconds_per_file)
    else:
        wall_seconds, bucket = 0.0, np.zeros(len(frame))
    # Within a time bucket, a new file every file_rows rows (rows are in event-time order).
    position = np.arange(len(frame))
    first_of_bucket = np.searchsorted(bucket, bucket, side="left")
    part = (position - first_of_bucket) // file_rows
    started = time.time()
    for i, ((b, _), chunk) in enumerate(frame.groupby([bucket, part], sort=True)):
        if speed:
            time.sleep(max(0.0, started + b * wall_seconds - time.time()))
        writer.write(f"replay-{run}{i:09d}", chunk)
    return len(frame)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = command_parser("simulation.generate", __doc__, "isoguard generate --rate 1000 --duration 600\n"
                                                       "isoguard generate --replay data.csv --time-col ts --speed 60")
    p.add_argument("--config", default="conf/default.toml", help="TOML config file")
    p.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds of events; 0 = until Ctrl-C")
    p.add_argument("--start", default=None, help="simulate time from this ISO-8601 instant, without waiting")
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--anomaly-rate", type=float, default=0.002, help="share of point anomalies")
    p.add_argument("--file-seconds", type=float, default=None,
                   help="seconds per landed file (default 1); with --replay --speed 0, seconds of event time "
                        "per file (default: files are cut by --file-rows only)")
    p.add_argument("--file-rows", type=int, default=REPLAY_FILE_ROWS,
                   help=f"with --replay: at most this many rows per file (default {REPLAY_FILE_ROWS})")
    p.add_argument("--landing", default=None, help="landing folder (default: the config's)")
    p.add_argument("--kafka", default=None, metavar="BOOTSTRAP",
                   help="produce to Kafka at these bootstrap servers instead of landing files")
    p.add_argument("--topic", default=None, help="with --kafka: the topic (default: the config's source.kafka.topic)")
    p.add_argument("--truth", default=None, help="ground-truth folder (default: <lake>/truth)")
    p.add_argument("--replay", default=None, help="CSV file to replay instead of simulating")
    p.add_argument("--time-col", default=None, help="with --replay: the CSV's event-time column")
    p.add_argument("--speed", type=float, default=1.0, help="with --replay: time compression; 0 = no waiting")
    return p.parse_args(argv)


def _writer(args: argparse.Namespace, config: Config, truth: str | None):
    """A LandingWriter, or with --kafka a KafkaWriter (same interface), and a description of where it writes."""
    if not args.kafka:
        landing = args.landing or config.landing_path
        return LandingWriter(landing, truth), landing
    from simulation.kafka_writer import KafkaWriter  # imports this module

    topic = args.topic or config.source.kafka.topic
    if not topic:
        raise UsageError("--kafka needs --topic (the config names no source.kafka.topic)")
    return KafkaWriter(args.kafka, topic, truth, key=config.schema.key), f"Kafka topic {topic} at {args.kafka}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = load_config(args.config)
    if args.rate <= 0 or (args.file_seconds is not None and args.file_seconds <= 0):
        raise UsageError("--rate and --file-seconds must be positive")
    if args.file_rows <= 0:
        raise UsageError("--file-rows must be positive")
    if args.topic and not args.kafka:
        raise UsageError("--topic needs --kafka BOOTSTRAP")
    if args.replay:
        if not args.time_col:
            raise UsageError("--replay needs --time-col")
        writer, target = _writer(args, config, None)
        n = replay_csv(args.replay, args.time_col, args.speed, config, writer, args.file_seconds, args.file_rows,
                       new_run_id())
        print(f"generator: replayed {n} rows into {target}")
        return 0
    from simulation.fleet import METRICS, FleetSimulator

    missing = [f for f in config.features if f not in METRICS]
    if missing:
        raise UsageError(f"the built-in fleet simulator has no metric {', '.join(missing)}: use --replay for your own data")
    if args.start and not args.duration:
        raise UsageError("--start needs --duration")
    start = _parse_time(args.start) if args.start else None
    sim = FleetSimulator(args.devices, args.seed, args.anomaly_rate,
                         drift_start=start if start is not None else time.time())
    writer, target = _writer(args, config, args.truth or config.lake_path("truth"))
    print(f"generator: {args.rate:g} events/s from {args.devices} devices into {target}", flush=True)
    n = run_generator(sim, writer, args.rate, args.duration, args.file_seconds or 1.0, start,
                      log=lambda m: print(m, flush=True), run_id=new_run_id())
    print(f"generator: done, {n} events", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
