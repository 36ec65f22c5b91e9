"""Deploy freeze windows: the cron matcher, windows across midnight and weekends, DST, ranges,
active/next_end, and one-line refusals of bad definitions."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from importlib import resources
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from cdhelper.core.errors import ConfigError
from cdhelper.deploy import freeze

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
SOURCE = ".github/cd.yml"


def window(cron: str, duration: str = "1h", tz: str = "UTC") -> freeze.Window:
    (w,) = freeze.parse([{"cron": cron, "duration": duration, "timezone": tz}], source=SOURCE)
    return w


def z(text: str) -> datetime:
    """An instant written in UTC: z("2026-03-29 01:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def starts(w: freeze.Window, day: str) -> list[str]:
    """The HH:MM a cron window starts at on one local day."""
    midnight = local(day)
    found = [midnight + timedelta(minutes=m) for m in range(24 * 60)]
    return [t.strftime("%H:%M") for t in found if w.matches(t)]


def matching_days(w: freeze.Window, first: str, count: int) -> list[str]:
    day = local(first)
    return [(day + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)
            if w.matches((day + timedelta(days=i)).replace(hour=min(w._fields[1]), minute=min(w._fields[0])))]


# --- the cron matcher: every syntax element ---------------------------------------------------
def test_numbers_and_star():
    assert starts(window("30 4 * * *"), "2026-05-05") == ["04:30"]
    assert len(starts(window("* * * * *"), "2026-05-05")) == 1440


def test_lists_ranges_and_steps_in_minutes_and_hours():
    assert starts(window("0,15,45 9 * * *"), "2026-05-05") == ["09:00", "09:15", "09:45"]
    assert starts(window("58-59 9-10 * * *"), "2026-05-05") == ["09:58", "09:59", "10:58", "10:59"]
    assert starts(window("*/20 */12 * * *"), "2026-05-05") == ["00:00", "00:20", "00:40", "12:00", "12:20", "12:40"]
    assert starts(window("10-30/10 1 * * *"), "2026-05-05") == ["01:10", "01:20", "01:30"]
    assert starts(window("50/5 1 * * *"), "2026-05-05") == ["01:50", "01:55"]  # a/n means a-59/n
    assert starts(window("0 1,3-5,20-23/2 * * *"), "2026-05-05") == ["01:00", "03:00", "04:00", "05:00", "20:00",
                                                                      "22:00"]


def test_day_of_month_and_month_with_names():
    w = window("0 0 1,15 JAN-mar,dec * ")
    assert matching_days(w, "2026-01-01", 365) == ["2026-01-01", "2026-01-15", "2026-02-01", "2026-02-15",
                                                  "2026-03-01", "2026-03-15", "2026-12-01", "2026-12-15"]
    assert matching_days(window("0 0 31 */2 *"), "2026-01-01", 365) == [
        "2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31"]  # Sep, Nov have no 31st


def test_weekday_names_numbers_and_both_sundays():
    week = "2026-05-04"  # a Monday
    assert matching_days(window("0 0 * * MON-FRI"), week, 7) == [f"2026-05-{d:02d}" for d in range(4, 9)]
    assert matching_days(window("0 0 * * 1-5"), week, 7) == matching_days(window("0 0 * * MON-FRI"), week, 7)
    sunday = ["2026-05-10"]
    assert matching_days(window("0 0 * * 0"), week, 7) == sunday
    assert matching_days(window("0 0 * * 7"), week, 7) == sunday
    assert matching_days(window("0 0 * * sun"), week, 7) == sunday
    assert matching_days(window("0 0 * * FRI-SUN"), week, 7) == ["2026-05-08", "2026-05-09", "2026-05-10"]
    assert matching_days(window("0 0 * * 5-7"), week, 7) == ["2026-05-08", "2026-05-09", "2026-05-10"]
    assert matching_days(window("0 0 * * SUN-SUN"), week, 7) == sunday
    assert matching_days(window("0 0 * * SUN-TUE"), week, 7) == ["2026-05-04", "2026-05-05", "2026-05-10"]
    assert matching_days(window("0 0 * * */2"), week, 7) == ["2026-05-05", "2026-05-07", "2026-05-09", "2026-05-10"]
    assert matching_days(window("0 0 * * 0-7"), week, 7) == [f"2026-05-{d:02d}" for d in range(4, 11)]


def test_day_of_month_or_weekday_when_both_are_restricted_as_cron_does():
    # Vixie cron / cronie: both restricted -> either matches; one starting with * -> both must.
    assert matching_days(window("0 0 13 * FRI"), "2026-11-01", 30) == [
        "2026-11-06", "2026-11-13", "2026-11-20", "2026-11-27"]
    assert matching_days(window("0 0 1 * MON"), "2026-06-01", 14) == ["2026-06-01", "2026-06-08"]
    assert matching_days(window("0 0 */10 * MON"), "2026-06-01", 30) == ["2026-06-01"]  # 1, 11, 21 and Monday


# --- windows across midnight and weekends -------------------------------------------------------
def test_window_across_midnight():
    w = window("0 22 * * *", "4h")
    assert freeze.active([w], z("2026-05-05 21:59")) is None
    assert freeze.active([w], z("2026-05-05 22:00")) is w
    assert freeze.active([w], z("2026-05-06 01:59")) is w
    assert freeze.active([w], z("2026-05-06 02:00")) is None
    assert freeze.next_end(w, z("2026-05-06 01:00")) == z("2026-05-06 02:00")


def test_weekend_window_in_berlin():
    w = window("0 18 * * FRI", "62h", "Europe/Berlin")
    assert w.describe == "Fridays 18:00 + 62 h (Europe/Berlin)"
    friday_1759 = datetime(2026, 5, 8, 17, 59, tzinfo=BERLIN)
    assert freeze.active([w], friday_1759) is None
    assert freeze.active([w], friday_1759 + timedelta(minutes=1)) is w
    assert freeze.active([w], datetime(2026, 5, 10, 12, 0, tzinfo=BERLIN)) is w  # Sunday
    assert freeze.active([w], datetime(2026, 5, 11, 7, 59, tzinfo=BERLIN)) is w  # Monday
    assert freeze.active([w], datetime(2026, 5, 11, 8, 0, tzinfo=BERLIN)) is None
    assert freeze.next_end(w, datetime(2026, 5, 9, 3, 0, tzinfo=BERLIN)) == z("2026-05-11 06:00")
    assert freeze.active([w], datetime(2026, 5, 13, 12, 0, tzinfo=BERLIN)) is None  # Wednesday


def test_a_window_longer_than_its_period_never_lifts_and_next_end_says_a_year():
    w = window("0 0 * * *", "30d")
    at = z("2026-05-05 12:00")
    assert freeze.active([w], at) is w
    assert freeze.next_end(w, at) >= at + timedelta(days=366)


def test_hourly_starts_chain_into_one_freeze_and_next_end_is_when_it_lifts():
    w = window("0 9-16 * * MON-FRI", "1h", "Europe/Berlin")  # office hours, written as hourly windows
    assert freeze.next_end(w, datetime(2026, 5, 8, 9, 30, tzinfo=BERLIN)) == datetime(2026, 5, 8, 17, 0, tzinfo=BERLIN)
    gaps = window("0 9,11 * * *", "1h")
    assert freeze.next_end(gaps, z("2026-05-08 09:30")) == z("2026-05-08 10:00")
    touching = window("0 9,10 * * *", "1h")  # [9, 10) and [10, 11): frozen at 10:00 too
    assert freeze.next_end(touching, z("2026-05-08 09:30")) == z("2026-05-08 11:00")
    overnight = window("0 20 * * *", "12h")  # 20:00 + 12 h ends 08:00; the next starts 20:00
    assert freeze.next_end(overnight, z("2026-05-08 23:00")) == z("2026-05-09 08:00")
    daily = window("0 0 * * *", "1d")  # each day's window ends as the next begins: never lifts
    assert freeze.next_end(daily, z("2026-05-08 12:00")) >= z("2027-05-08 00:00")


def test_next_end_outside_a_window_is_now():
    w = window("0 22 * * *", "1h")
    assert freeze.next_end(w, z("2026-05-05 12:00")) == z("2026-05-05 12:00")


def test_frozen_until_follows_one_window_into_the_next():
    ws = freeze.parse([{"cron": "0 18 * * FRI", "duration": "62h", "timezone": "UTC"},
                       {"from": "2026-05-11T00:00", "to": "2026-05-12T12:00", "timezone": "UTC"}], source=SOURCE)
    at = z("2026-05-09 12:00")
    assert freeze.active(ws, at) is ws[0] and freeze.next_end(ws[0], at) == z("2026-05-11 08:00")
    assert freeze.frozen_until(ws, at) == z("2026-05-12 12:00")
    assert freeze.frozen_until(ws, z("2026-05-13 12:00")) is None


# --- DST (Europe/Berlin 2026: clocks forward 29 March 02:00 -> 03:00, back 25 October 03:00 -> 02:00)
def test_spring_forward_a_start_that_does_not_exist_begins_when_the_clocks_jump():
    w = window("30 2 * * *", "1h", "Europe/Berlin")  # 02:30-03:30; 02:30 never happens on 29 March
    assert freeze.active([w], z("2026-03-29 00:59")) is None  # 01:59 CET
    assert freeze.active([w], z("2026-03-29 01:00")) is w  # 03:00 CEST, the jump
    assert freeze.active([w], z("2026-03-29 01:29")) is w
    assert freeze.active([w], z("2026-03-29 01:30")) is None  # 03:30 CEST
    assert freeze.next_end(w, z("2026-03-29 01:10")) == z("2026-03-29 01:30")
    assert freeze.active([w], z("2026-03-30 00:30")) is w  # the next day: 02:30 CEST as usual


def test_spring_forward_a_window_wholly_inside_the_gap_covers_nothing():
    w = window("10 2 * * *", "30m", "Europe/Berlin")  # 02:10-02:40 does not exist on 29 March
    assert all(freeze.active([w], z("2026-03-29 00:00") + timedelta(minutes=m)) is None for m in range(0, 180))
    assert freeze.active([w], z("2026-03-28 01:20")) is w  # the day before: 02:20 CET


def test_spring_forward_an_end_that_does_not_exist_is_when_the_clocks_jump():
    w = window("0 1 * * *", "90m", "Europe/Berlin")  # 01:00-02:30 CET; 02:30 does not exist
    assert freeze.active([w], z("2026-03-29 00:59")) is w
    assert freeze.active([w], z("2026-03-29 01:00")) is None
    assert freeze.next_end(w, z("2026-03-29 00:00")) == z("2026-03-29 01:00")


def test_fall_back_a_repeated_start_fires_once_at_its_first_occurrence():
    w = window("30 2 * * *", "20m", "Europe/Berlin")  # 02:30 happens at 00:30Z (CEST) and 01:30Z (CET)
    assert freeze.active([w], z("2026-10-25 00:29")) is None
    assert freeze.active([w], z("2026-10-25 00:30")) is w
    assert freeze.active([w], z("2026-10-25 00:49")) is w
    assert freeze.active([w], z("2026-10-25 00:50")) is None  # 02:50 CEST: over
    assert freeze.active([w], z("2026-10-25 01:35")) is None  # 02:35 CET, the second pass: no new window


def test_fall_back_a_window_reaching_past_the_repeated_hour_covers_both_passes():
    w = window("30 2 * * *", "30m", "Europe/Berlin")  # until 03:00, which happens once (02:00Z)
    assert freeze.active([w], z("2026-10-25 00:30")) is w
    assert freeze.active([w], z("2026-10-25 01:15")) is w  # 02:15 CET, second pass
    assert freeze.next_end(w, z("2026-10-25 00:40")) == z("2026-10-25 02:00")


def test_a_weekend_window_keeps_its_local_end_when_the_clocks_change():
    w = window("0 18 * * FRI", "62h", "Europe/Berlin")
    # Forward: Friday 18:00 CET (17:00Z) to Monday 08:00 CEST (06:00Z), 61 elapsed hours.
    assert freeze.next_end(w, z("2026-03-28 12:00")) == z("2026-03-30 06:00")
    assert freeze.active([w], z("2026-03-30 05:59")) is w and freeze.active([w], z("2026-03-30 06:00")) is None
    # Back: Friday 18:00 CEST (16:00Z) to Monday 08:00 CET (07:00Z), 63 elapsed hours.
    assert freeze.active([w], z("2026-10-23 15:59")) is None and freeze.active([w], z("2026-10-23 16:00")) is w
    assert freeze.next_end(w, z("2026-10-25 12:00")) == z("2026-10-26 07:00")
    assert freeze.active([w], z("2026-10-26 06:30")) is w and freeze.active([w], z("2026-10-26 07:00")) is None


def test_in_the_second_pass_of_the_repeated_hour_the_first_pass_starts_count():
    short = window("*/10 * * * *", "5m", "Europe/Berlin")
    assert freeze.active([short], z("2026-10-25 00:04")) is short  # 02:04 CEST
    assert freeze.active([short], z("2026-10-25 01:04")) is None  # 02:04 CET: starts fired in the first pass only
    assert freeze.active([short], z("2026-10-25 02:04")) is short  # 03:04 CET
    # 02:04 CET is later than the first pass's 02:50 CEST start, whose window reaches 03:20 (02:20Z).
    longer = window("*/10 2 * * *", "30m", "Europe/Berlin")
    assert freeze.active([longer], z("2026-10-25 01:04")) is longer
    assert freeze.next_end(longer, z("2026-10-25 01:04")) == z("2026-10-25 02:20")


def brute_active(w: freeze.Window, at: datetime) -> bool:
    """Minute by minute over every start that could reach `at`, with wall-clock times mapped as
    the module documents, by scanning instead of computing."""
    zone = w.zone

    def instant(naive: datetime) -> datetime:
        first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if first.astimezone(zone).replace(tzinfo=None) == naive:
            return first
        u = naive.replace(tzinfo=UTC) - timedelta(hours=16)
        while u.astimezone(zone).replace(tzinfo=None) < naive:
            u += timedelta(minutes=1)
        return u

    wall = at.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    s = wall - w.duration - timedelta(hours=3)
    while s <= wall + timedelta(hours=3):
        if w.matches(s) and instant(s) <= at < instant(s + w.duration):
            return True
        s += timedelta(minutes=1)
    return False


@pytest.mark.parametrize("cron, duration, tz", [
    ("*/15 1-3 * * *", "40m", "Europe/Berlin"),
    ("45 1,2 * * SUN", "1h", "Europe/Berlin"),
    ("0 2 * * *", "2h", "America/New_York"),
    ("30 0 * * *", "1h", "Australia/Lord_Howe"),  # a 30-minute DST shift
    ("5 23 * * FRI", "1d2h", "UTC"),
])
def test_active_agrees_with_a_minute_by_minute_search_around_transitions(cron, duration, tz):
    w = window(cron, duration, tz)
    rng = random.Random(cron)
    transitions = [z("2026-03-29 01:00"), z("2026-10-25 01:00"), z("2026-03-08 07:00"), z("2026-11-01 06:00"),
                   z("2026-04-04 15:00"), z("2026-10-03 15:30")]
    samples = [t + timedelta(minutes=rng.randrange(-240, 240)) for t in transitions for _ in range(8)]
    for at in samples:
        assert (freeze.active([w], at) is w) == brute_active(w, at), at


# --- ranges ----------------------------------------------------------------------------------
def test_range_with_a_zone_is_local_time_there():
    (w,) = freeze.parse([{"from": "2026-12-20T00:00", "to": "2027-01-04T08:00", "timezone": "Europe/Berlin"}],
                        source=SOURCE)
    assert w.describe == "2026-12-20 00:00 to 2027-01-04 08:00 (Europe/Berlin)"
    assert freeze.active([w], z("2026-12-19 22:59")) is None
    assert freeze.active([w], z("2026-12-19 23:00")) is w  # midnight in Berlin (CET)
    assert freeze.active([w], z("2027-01-04 06:59")) is w
    assert freeze.active([w], z("2027-01-04 07:00")) is None
    assert freeze.next_end(w, z("2026-12-24 18:00")) == z("2027-01-04 07:00")


def test_range_in_utc_and_dates_alone_and_seconds():
    (w, d) = freeze.parse([{"from": "2026-12-20T00:00", "to": "2027-01-04T08:00", "timezone": "UTC"},
                           {"from": "2026-07-01", "to": "2026-07-02 12:00:30", "timezone": "UTC"}], source=SOURCE)
    assert w.describe == "2026-12-20 00:00 to 2027-01-04 08:00 (UTC)"
    assert d.describe == "2026-07-01 00:00 to 2026-07-02 12:00:30 (UTC)"
    assert freeze.active([w, d], z("2026-07-02 12:00:29")) is d
    assert freeze.active([w, d], z("2026-07-02 12:00:30")) is None


def test_range_across_a_dst_change_ends_at_its_local_time():
    (w,) = freeze.parse([{"from": "2026-03-28T12:00", "to": "2026-03-29T12:00", "timezone": "Europe/Berlin"}],
                        source=SOURCE)
    assert freeze.next_end(w, z("2026-03-29 00:00")) == z("2026-03-29 10:00")  # noon CEST, 23 h after noon CET


def test_active_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        freeze.active([window("* * * * *")], datetime(2026, 1, 1))


def test_describe_texts():
    assert window("0 18 * * FRI", "62h", "Europe/Berlin").describe == "Fridays 18:00 + 62 h (Europe/Berlin)"
    assert window("30 7 * * *", "30m").describe == "daily 07:30 + 30 min (UTC)"
    assert window("0 0 * * MON-FRI", "1d12h").describe == "Mondays to Fridays 00:00 + 1 d 12 h (UTC)"
    assert window("0 0 * * SAT,SUN", "1h").describe == "Saturdays and Sundays 00:00 + 1 h (UTC)"
    assert window("0 0 * * 1,3,5", "1h").describe == "Mondays, Wednesdays and Fridays 00:00 + 1 h (UTC)"
    assert window("0 0 1 * *", "2d").describe == "day 1 of each month 00:00 + 2 d (UTC)"
    assert window("*/5  9-17 * * *", "2m").describe == "cron `*/5 9-17 * * *` + 2 min (UTC)"


def test_empty_or_missing_freeze_is_no_window():
    assert freeze.parse([], source=SOURCE) == ()
    assert freeze.parse(None, source=SOURCE) == ()
    assert freeze.active([], z("2026-01-01 00:00")) is None and freeze.frozen_until([], z("2026-01-01 00:00")) is None


# --- bad definitions: one line each, naming the value, the cause and the fix -----------------------
CRON = {"duration": "1h", "timezone": "UTC"}
RANGE = {"from": "2026-12-20T00:00", "to": "2027-01-04T08:00", "timezone": "UTC"}


@pytest.mark.parametrize("entry, key, words", [
    ({**CRON, "cron": "0 18 * * FRI 2026"}, "freeze/0/cron", "has 6 field(s), not 5"),
    ({**CRON, "cron": "0 18 * *"}, "freeze/0/cron", "has 4 field(s)"),
    ({**CRON, "cron": "60 18 * * *"}, "freeze/0/cron", "minute '60' has 60, outside 0-59"),
    ({**CRON, "cron": "0 24 * * *"}, "freeze/0/cron", "hour '24' has 24, outside 0-23"),
    ({**CRON, "cron": "*/0 * * * *"}, "freeze/0/cron", "has a step of 0"),
    ({**CRON, "cron": "0 0 * * FRU"}, "freeze/0/cron", "has 'FRU', which is neither a number nor a known name"),
    ({**CRON, "cron": "0 0 * * 8"}, "freeze/0/cron", "has 8, outside 0-7"),
    ({**CRON, "cron": "0 0 0 * *"}, "freeze/0/cron", "day of month '0' has 0, outside 1-31"),
    ({**CRON, "cron": "0 0 * 13 *"}, "freeze/0/cron", "month '13' has 13, outside 1-12"),
    ({**CRON, "cron": "0 0 * JANUARY *"}, "freeze/0/cron", "'JANUARY'"),
    ({**CRON, "cron": "0 5-1 * * *"}, "freeze/0/cron", "is a range from 5 down to 1"),
    ({**CRON, "cron": "0,,5 * * * *"}, "freeze/0/cron", "has an empty list item"),
    ({**CRON, "cron": "0 0 * * L"}, "freeze/0/cron", "'L'"),
    ({**CRON, "cron": "0 0 30 FEB *"}, "freeze/0/cron", "never matches"),
    ({**CRON, "cron": "-5 * * * *"}, "freeze/0/cron", "missing end"),
    ({**CRON, "cron": 5}, "freeze/0/cron", "is not a cron expression"),
    ({**CRON, "cron": "0 18 * * FRI", "duration": "forever"}, "freeze/0/duration", "'forever' is not a duration"),
    ({**CRON, "cron": "0 18 * * FRI", "duration": "-5h"}, "freeze/0/duration", "'-5h' is not a duration"),
    ({**CRON, "cron": "0 18 * * FRI", "duration": "32d"}, "freeze/0/duration", "longer than 31 days"),
    ({**CRON, "cron": "0 18 * * FRI", "duration": "745h"}, "freeze/0/duration", "longer than 31 days"),
    ({**CRON, "cron": "0 18 * * FRI", "duration": "0h"}, "freeze/0/duration", "empty window"),
    ({**CRON, "cron": "0 18 * * FRI", "duration": 62}, "freeze/0/duration", "62 is not a duration"),
    ({"cron": "0 18 * * FRI", "duration": "62h"}, "freeze/0", "lacks `timezone`"),
    ({"cron": "0 18 * * FRI", "timezone": "UTC"}, "freeze/0", "lacks `duration`"),
    ({**CRON, "cron": "0 18 * * FRI", "timezone": "Mars/Olympus"}, "freeze/0/timezone",
     "'Mars/Olympus': it is not an IANA time zone name"),
    ({**CRON, "cron": "0 18 * * FRI", "timezone": "europe/berlin"}, "freeze/0/timezone", "case-sensitive"),
    ({**CRON, "cron": "0 18 * * FRI", "timezone": "+02:00"}, "freeze/0/timezone", "not an IANA"),
    ({**CRON, "cron": "0 18 * * FRI", "timezone": "localtime"}, "freeze/0/timezone", "this machine's zone"),
    ({**CRON, "cron": "0 18 * * FRI", "timezone": "../../etc/passwd"}, "freeze/0/timezone", "not an IANA"),
    ({**RANGE, "to": "2026-12-19T00:00"}, "freeze/0/to", "is not after `from`"),
    ({**RANGE, "to": "2026-12-20T00:00"}, "freeze/0/to", "is not after `from`"),
    ({**RANGE, "from": "2026-12-20T00:00+01:00"}, "freeze/0/from", "carries a UTC offset"),
    ({**RANGE, "to": "2027-01-04T08:00Z"}, "freeze/0/to", "carries a UTC offset"),
    ({**RANGE, "from": "20 December 2026"}, "freeze/0/from", "is not a local date and time"),
    ({**RANGE, "from": "2026-02-30T00:00"}, "freeze/0/from", "is not a date that exists"),
    ({**RANGE, "from": datetime(2026, 12, 20).date()}, "freeze/0/from", "read by YAML as a date"),
    ({"from": "2026-12-20T00:00", "to": "2027-01-04T08:00"}, "freeze/0", "lacks `timezone`"),
    ({**RANGE, "cron": "0 0 * * *"}, "freeze/0", "both `cron` and `from`/`to`"),
    ({**CRON, "cron": "0 0 * * *", "every": "day"}, "freeze/0", "unknown key(s) 'every'"),
    ("0 18 * * FRI", "freeze/0", "should be a mapping"),
])
def test_bad_definitions_are_refused_in_one_line(entry, key, words):
    with pytest.raises(ConfigError) as caught:
        freeze.parse([RANGE, entry] if key.startswith("freeze/1") else [entry], source=SOURCE)
    line = caught.value.one_line()
    assert "\n" not in line and line.startswith(f"{SOURCE}: key `{key}` is invalid: ")
    assert words in line, line
    assert ". Fix: " in line and len(caught.value.fix) > 10


def test_the_fix_for_a_missing_zone_says_there_is_no_implicit_zone():
    with pytest.raises(ConfigError) as caught:
        freeze.parse([{"cron": "0 18 * * FRI", "duration": "62h"}], source=SOURCE)
    assert "no implicit zone" in caught.value.fix


def test_the_entry_index_is_named():
    with pytest.raises(ConfigError, match=r"freeze/1/duration"):
        freeze.parse([RANGE, {**CRON, "cron": "0 0 * * *", "duration": "1y"}], source=SOURCE)


def test_freeze_that_is_not_a_list_is_refused():
    with pytest.raises(ConfigError, match="should be a list of windows"):
        freeze.parse({"cron": "0 0 * * *"}, source=SOURCE)


# --- the schema fragment --------------------------------------------------------------------
def schema() -> dict:
    return json.loads(resources.files("cdhelper.core").joinpath("schemas/freeze.schema.json").read_text())


def test_schema_accepts_both_shapes_and_refuses_mixtures_and_missing_zones():
    jsonschema.Draft202012Validator.check_schema(schema())
    v = jsonschema.Draft202012Validator(schema())
    assert v.is_valid([{"cron": "0 18 * * FRI", "duration": "62h", "timezone": "Europe/Berlin"},
                       {"from": "2026-12-20T00:00", "to": "2027-01-04T08:00", "timezone": "UTC"}])
    for bad in ([{"cron": "0 18 * * FRI", "duration": "62h"}], [{"from": "2026-12-20T00:00", "to": "2027-01-04"}],
                [{"cron": "0 18 * * FRI", "duration": "62h", "timezone": "UTC", "from": "2026-12-20"}],
                [{"cron": "0 18 * * FRI", "duration": "forever", "timezone": "UTC"}],
                [{"from": "2026-12-20T00:00+01:00", "to": "2027-01-04T08:00", "timezone": "UTC"}],
                [{"cron": "0 18 * * FRI * *", "duration": "1h", "timezone": "UTC"}], {"cron": "x"}):
        assert not v.is_valid(bad), bad


def test_schema_fragment_works_embedded_in_another_schema():
    """config.schema() puts it under $defs of cd-config.schema.json: it must not depend on its root."""
    outer = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
             "properties": {"freeze": {"$ref": "#/$defs/freeze"}}, "$defs": {"freeze": schema()}}
    v = jsonschema.Draft202012Validator(outer)
    assert v.is_valid({"freeze": [{"cron": "0 18 * * FRI", "duration": "62h", "timezone": "Europe/Berlin"}]})
    assert not v.is_valid({"freeze": [{"cron": "0 18 * * FRI", "duration": "62h"}]})


def test_what_parse_accepts_the_schema_accepts():
    v = jsonschema.Draft202012Validator(schema())
    good = [{"cron": "*/5 9-17/2 1,15 JAN-MAR MON-FRI", "duration": "1d12h30m", "timezone": "America/Port-au-Prince"},
            {"cron": "0 0 * * *", "duration": "31d", "timezone": "Etc/GMT-2"},
            {"from": "2026-07-01", "to": "2026-07-02 12:00:30", "timezone": "UTC"}]
    freeze.parse(good, source=SOURCE)
    assert v.is_valid(good)


# --- cost --------------------------------------------------------------------------------------
def test_the_worst_cases_answer_right():
    """Worst cases for the search: a start every minute (in the repeated hour an hour of them is later
    than now), and a rare start with the longest duration (31 days of days looked at, none matching).
    How long they take is measured in benchmarks/run.py (freeze), not asserted here."""
    every_minute, leap_day, new_year = (window("* * * * *", "31d", "Europe/Berlin"),
                                        window("0 0 29 2 *", "31d", "Europe/Berlin"),
                                        window("0 0 31 12 *", "31d", "Europe/Berlin"))
    moments = [z("2026-10-25 01:59"), z("2026-03-29 01:00"), z("2026-07-01 12:00"), z("2027-01-31 23:00")]
    for at in moments:
        assert freeze.active([every_minute], at) is every_minute
        assert freeze.active([leap_day], at) is None  # the last 29 February was in 2024
        assert freeze.active([new_year], at) is None  # 31 December + 31 days ends on 31 January at midnight
    assert freeze.active([new_year], z("2027-01-30 12:00")) is new_year  # ends 2027-01-30 23:00 UTC (midnight in Berlin)
    never = z("2026-05-05 12:00")
    assert freeze.next_end(window("* * * * *", "1m"), never) >= never + timedelta(days=364)  # reported a year on
