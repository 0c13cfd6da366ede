from datetime import timedelta

import pytest

from bcp_service.schedules.timing import Timing, build_trigger, crontab_weekdays, iter_fire_times, shortest_gap
from tests.schedules.conftest import utc


def test_crontab_weekdays_count_from_sunday_as_crontab_does():
    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("0") == "sun" and crontab_weekdays("7") == "sun"
    assert crontab_weekdays("0-6") == "sun,mon,tue,wed,thu,fri,sat"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("mon-fri") == "mon-fri" and crontab_weekdays("*") == "*"


def test_monday_in_crontab_fires_on_monday_in_tokyo():
    timing = Timing("0 9 * * 1", None, "Asia/Tokyo", utc(2025, 1, 1))
    first = next(iter_fire_times(timing, after=utc(2025, 3, 1)))
    assert first.weekday() == 0 and (first.hour, first.minute) == (9, 0)
    assert first == utc(2025, 3, 3, 0, 0)  # 09:00 JST is midnight UTC


def test_interval_runs_from_its_start_and_stops_at_its_end():
    typhoon = Timing(
        None, 360, "Asia/Tokyo", utc(2025, 9, 1, 3), starts_at=utc(2025, 9, 1, 3), ends_at=utc(2025, 9, 2, 3)
    )
    times = list(iter_fire_times(typhoon, after=utc(2025, 8, 31)))
    assert times == [utc(2025, 9, 1, 3) + timedelta(hours=6 * k) for k in range(5)]


def test_bad_specs_say_what_is_wrong():
    with pytest.raises(ValueError, match="five fields"):
        build_trigger(Timing("0 9 * *", None, "Asia/Tokyo", utc(2025, 1, 1)))
    with pytest.raises(ValueError, match="not valid"):
        build_trigger(Timing("61 9 * * *", None, "Asia/Tokyo", utc(2025, 1, 1)))
    with pytest.raises(ValueError, match="exactly one"):
        build_trigger(Timing("0 9 * * *", 60, "Asia/Tokyo", utc(2025, 1, 1)))
    assert shortest_gap(Timing("*/5 * * * *", None, "Asia/Tokyo", utc(2025, 1, 1)), after=utc(2025, 1, 1)) == timedelta(
        minutes=5
    )
