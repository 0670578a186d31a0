"""Run the retrain every night, in-process, with a small cron-like scheduler.

    isoguard schedule --config conf/default.toml        (python -m batch.schedule, the same)

At `retrain.schedule_at` (local time, default 00:30) it calls the same entry
point as the crontab line in the README, `batch.retrain.main`, for the last
complete UTC day (`event_date` partitions are UTC dates: at 00:30 in UTC or
west of it that is yesterday; east of UTC, where yesterday's UTC day is not
over yet, the day before). Each run is logged with its outcome; a failing run
is logged and the schedule carries on. Clock and sleep are injectable, so the
schedule is tested without waiting.
"""
from __future__ import annotations

import logging
import sys
import time as _time
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Callable

from batch.retrain import main as retrain_main
from lakehouse.cli import command_parser, run_cli

log = logging.getLogger("isoguard.schedule")
MAX_SLEEP_SECONDS = 60.0  # wake up now and then: a suspended laptop or a changed clock must not skip a night


@dataclass(frozen=True)
class DailyAt:
    """Every day at one local time of day."""

    at: time

    @classmethod
    def parse(cls, text: str) -> "DailyAt":
        hour, minute = text.split(":")
        return cls(time(int(hour), int(minute)))

    def next_after(self, now: datetime) -> datetime:
        """The first run strictly after `now`, in `now`'s zone (naive = the machine's local time)."""
        for days in range(3):
            due = datetime.combine(now.date() + timedelta(days=days), self.at).replace(tzinfo=now.tzinfo)
            if due.timestamp() > now.timestamp():
                return due
        raise AssertionError("unreachable: a run is due within two days")


class NightlyScheduler:
    """Calls `job(day)` at each due time of `schedule`, `day` being the last complete UTC day then."""

    def __init__(self, schedule: DailyAt, job: Callable[[date], int],
                 clock: Callable[[], datetime] = datetime.now, sleep: Callable[[float], None] = _time.sleep):
        self.schedule, self.job, self.clock, self.sleep = schedule, job, clock, sleep

    def sleep_until(self, due: datetime) -> None:
        while (left := due.timestamp() - self.clock().timestamp()) > 0:
            self.sleep(min(left, MAX_SLEEP_SECONDS))

    def run_once(self) -> int:
        """Wait for the next due time, run the job for its day, return its exit code (1 if it raised)."""
        from batch.window import last_complete_day  # pyspark: loaded once a run is due, not to parse --help

        due = self.schedule.next_after(self.clock())
        day = last_complete_day(due)
        log.info("next retrain at %s for %s", due.isoformat(timespec="minutes"), day)
        self.sleep_until(due)
        started = self.clock()
        log.info("retrain for %s starting", day)
        try:
            code = self.job(day)
        except Exception:
            log.exception("retrain for %s failed; the schedule carries on", day)
            code = 1
        seconds = self.clock().timestamp() - started.timestamp()
        (log.info if code == 0 else log.error)("retrain for %s finished with exit code %d after %.0f s", day, code,
                                               seconds)
        return code

    def run(self, nights: int | None = None) -> None:
        """Run night after night (`nights` times, or forever)."""
        done = 0
        while nights is None or done < nights:
            self.run_once()
            done += 1


def retrain_job(config_path: str, master: str | None = None) -> Callable[[date], int]:
    """The crontab line's entry point, in-process: `batch.retrain` for one date; returns its exit code."""
    def job(day: date) -> int:
        argv = ["--config", config_path, "--date", day.isoformat(), *(["--master", master] if master else [])]
        return run_cli(lambda: retrain_main(argv))
    return job


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("batch.schedule", __doc__, "isoguard schedule --config conf/default.toml")
    parser.add_argument("--config", default="conf/default.toml", help="TOML config file")
    parser.add_argument("--master", default=None, help="Spark master for the retrain (default local[*])")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from lakehouse.config import load_config

    config = load_config(args.config)  # a bad config fails now, not at half past midnight
    log.info("nightly retrain scheduled at %s local time", config.retrain.schedule_at)
    NightlyScheduler(DailyAt.parse(config.retrain.schedule_at), retrain_job(args.config, args.master)).run()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
