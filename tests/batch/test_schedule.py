"""The nightly schedule with an injected clock: it fires on time, for the right day, and never really sleeps."""
import logging
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from batch.schedule import MAX_SLEEP_SECONDS, DailyAt, NightlyScheduler, main, retrain_job
from lakehouse.cli import run_cli
from tests_support import ROOT


class FakeClock:
    """Time moves only when someone sleeps (or a job takes a while)."""

    def __init__(self, start: datetime):
        self.now, self.slept = start, []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def run_nights(start: datetime, nights: int, at=time(0, 30), job_minutes=12, fail_on=()):
    clock, runs = FakeClock(start), []

    def job(day: date) -> int:
        runs.append((clock(), day))
        clock.now += timedelta(minutes=job_minutes)
        if day in fail_on:
            raise RuntimeError("disk full")
        return 0

    NightlyScheduler(DailyAt(at), job, clock=clock, sleep=clock.sleep).run(nights=nights)
    return runs, clock


def test_fires_at_half_past_midnight_for_the_day_that_just_ended():
    utc = timezone.utc
    runs, clock = run_nights(datetime(2026, 11, 21, 23, 50, tzinfo=utc), nights=3)
    assert runs == [(datetime(2026, 11, 22, 0, 30, tzinfo=utc), date(2026, 11, 21)),
                    (datetime(2026, 11, 23, 0, 30, tzinfo=utc), date(2026, 11, 22)),
                    (datetime(2026, 11, 24, 0, 30, tzinfo=utc), date(2026, 11, 23))]
    assert max(clock.slept) <= MAX_SLEEP_SECONDS, "it wakes up regularly instead of one long sleep"


def test_started_just_after_the_time_it_waits_for_the_next_night():
    runs, _ = run_nights(datetime(2026, 11, 22, 0, 31, tzinfo=timezone.utc), nights=1)
    assert runs == [(datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc), date(2026, 11, 22))]


def test_the_day_is_the_last_complete_utc_day_in_any_zone():
    new_york = timezone(timedelta(hours=-5))
    (fired, day), = run_nights(datetime(2026, 11, 21, 22, 0, tzinfo=new_york), nights=1)[0]
    assert fired == datetime(2026, 11, 22, 0, 30, tzinfo=new_york) and day == date(2026, 11, 21)
    tokyo = timezone(timedelta(hours=9))
    (fired, day), = run_nights(datetime(2026, 11, 21, 22, 0, tzinfo=tokyo), nights=1)[0]
    assert day == date(2026, 11, 20), "at 00:30 in Tokyo the UTC day of Nov 21 is not over yet"


def test_local_time_of_day_holds_across_a_daylight_saving_change():
    berlin = ZoneInfo("Europe/Berlin")  # summer time ends on 2026-10-25
    runs, _ = run_nights(datetime(2026, 10, 24, 12, 0, tzinfo=berlin), nights=2)
    assert [(r.date(), r.hour, r.minute, r.utcoffset()) for r, _ in runs] == [
        (date(2026, 10, 25), 0, 30, timedelta(hours=2)), (date(2026, 10, 26), 0, 30, timedelta(hours=1))]
    assert runs[1][0].timestamp() - runs[0][0].timestamp() == 25 * 3600, "the night the clocks go back is longer"


def test_a_failing_night_is_logged_and_the_next_night_still_runs(caplog):
    caplog.set_level(logging.INFO, logger="isoguard.schedule")
    runs, _ = run_nights(datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc), nights=2, fail_on={date(2026, 11, 21)})
    assert [day for _, day in runs] == [date(2026, 11, 21), date(2026, 11, 22)]
    messages = [r.getMessage() for r in caplog.records]
    assert "retrain for 2026-11-21 failed; the schedule carries on" in messages
    assert "retrain for 2026-11-21 finished with exit code 1 after 720 s" in messages
    assert "retrain for 2026-11-22 finished with exit code 0 after 720 s" in messages


def test_the_job_is_the_retrain_entry_point(spark, tmp_path, capsys):
    config = tmp_path / "empty.toml"
    config.write_text((ROOT / "conf" / "default.toml").read_text().replace('root = "lake"',
                                                                          f'root = "{tmp_path / "lake"}"'))
    try:
        assert retrain_job(str(config))(date(2026, 11, 21)) == 2
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")  # the job builds the session with its own defaults
    assert "error: no events to train on for 2026-11-21: let the stream run first" in capsys.readouterr().err


def test_a_bad_config_stops_the_scheduler_at_once(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "conf" / "default.toml").read_text().replace('schedule_at = "00:30"', 'schedule_at = "noon"'))
    assert run_cli(lambda: main(["--config", str(bad)])) == 2
    assert "retrain.schedule_at: expected HH:MM (local time), got 'noon'" in capsys.readouterr().err
