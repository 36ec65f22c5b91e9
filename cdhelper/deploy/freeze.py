"""Deploy freeze windows (`freeze:` in .github/cd.yml): promotions and flag flips to production
environments are refused inside one (`check`, the one freeze check); what undoes a change (a
rollback, a declared kill switch) never is.

Two shapes, each with an explicit IANA time zone (there is no implicit zone, and the machine's is
never used):

    - cron: "0 18 * * FRI"     # a window starts at every minute this 5-field cron matches...
      duration: 62h            # ...and lasts this long (m, h, d; at most 31 days)
      timezone: Europe/Berlin
    - from: "2026-12-20T00:00" # a window from this local time (inclusive)...
      to: "2027-01-04T08:00"   # ...to this one (exclusive); no offset: the zone says it
      timezone: UTC

Cron: minute hour day-of-month month day-of-week, each `*`, a number, a range `a-b`, a step `*/n`,
`a-b/n` or `a/n` (= a-max/n), or a list of those `a,b`; months JAN..DEC, weekdays MON..SUN or 0-7
(0 and 7 are Sunday; as the end of a range SUN is 7, so FRI-SUN works). As in cron (Vixie, cronie),
when both day fields are restricted (neither begins with `*`), a day matches if either matches.

Local times (what the cron matches, `from`/`to`, and the end of a cron window) are wall-clock times
in the zone, and a wall-clock time means the first instant the zone's clocks show it or a later time:
- a time that happens twice (clocks go back: Europe/Berlin 02:00-02:59 on the last Sunday of
  October) means its first occurrence (fold=0), so a cron start fires once;
- a time that does not happen (clocks go forward: 02:00-02:59 on the last Sunday of March) means
  the instant the clocks jump (03:00 local): a window starting then is shortened, never lost, and a
  window lying wholly inside the gap covers nothing, as the wall-clock span it names never occurs.
A duration is wall-clock time too: `0 18 * * FRI` + 62h ends Monday 08:00 local on the weekends
the clocks change (61 or 63 elapsed hours), as a window written for office hours means.
"""

from __future__ import annotations

import bisect
import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from cdhelper.core.errors import ConfigError, FreezeError
from cdhelper.core.errors import show as _show

MAX_DURATION = timedelta(days=31)
HORIZON = timedelta(days=366)  # next_end/frozen_until look no further ahead than this
DOCS = "see docs/progressive-delivery.md (freeze)"

MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
DAY_NAMES = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays"]
# (name, lowest, highest, names)
FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
          ("month", 1, 12, MONTHS), ("day of week", 0, 7, WEEKDAYS))
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # the most a month can have
DURATION = re.compile(r"(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,8})m)?")
LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")
OFFSET = re.compile(r".*\d(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
CRON_KEYS = {"cron", "duration", "timezone"}
RANGE_KEYS = {"from", "to", "timezone"}


@dataclass(frozen=True)
class Window:
    """One freeze window. `start`/`end` (range) are naive local times in `timezone`."""

    kind: str  # "cron" | "range"
    timezone: str
    cron: str = ""
    duration: timedelta = timedelta(0)
    start: datetime | None = None
    end: datetime | None = None
    _fields: tuple[frozenset[int], ...] = field(default=(), repr=False, compare=False)
    _dom_star: bool = field(default=True, repr=False, compare=False)
    _dow_star: bool = field(default=True, repr=False, compare=False)
    _duration_text: str = field(default="", repr=False, compare=False)

    @property
    def zone(self):
        return _zone(self.timezone)

    @property
    def describe(self) -> str:
        """Human text: "Fridays 18:00 + 62 h (Europe/Berlin)",
        "2026-12-20 00:00 to 2027-01-04 08:00 (UTC)"."""
        if self.kind == "range":
            return f"{_show_local(self.start)} to {_show_local(self.end)} ({self.timezone})"
        return f"{self._describe_starts()} + {self._duration_text} ({self.timezone})"

    def matches(self, local: datetime) -> bool:
        """Whether a cron window starts at this local wall-clock minute (naive, in the zone)."""
        if self.kind != "cron":
            raise ValueError("only a cron window has starts to match")
        minutes, hours, _, _, _ = self._fields
        return local.minute in minutes and local.hour in hours and self._day_matches(local.date())

    # --- internals -----------------------------------------------------------------------------
    def _day_matches(self, day: date) -> bool:
        _, _, doms, months, dows = self._fields
        if day.month not in months:
            return False
        dom, dow = day.day in doms, (day.weekday() + 1) % 7 in dows
        if self._dom_star or self._dow_star:
            return dom and dow
        return dom or dow

    @functools.cached_property
    def _times(self) -> tuple[int, ...]:
        """The minutes of a day (hour * 60 + minute) the cron matches, ascending."""
        minutes, hours, _, _, _ = self._fields
        return tuple(sorted(h * 60 + m for h in hours for m in minutes))

    @functools.cached_property
    def _chains_within_day(self) -> bool:
        """True when consecutive starts of one day are never further apart than the duration, so a
        window reaching one start reaches the day's last."""
        times = self._times
        limit = self.duration // timedelta(minutes=1)
        return all(b - a <= limit for a, b in zip(times, times[1:], strict=False))

    def _describe_starts(self) -> str:
        minutes, hours, doms, months, dows = self._fields
        words = self.cron.split()
        if len(minutes) != 1 or len(hours) != 1 or words[3] != "*" or (words[2] != "*" and words[4] != "*"):
            return f"cron `{' '.join(words)}`"
        clock = f"{next(iter(hours)):02d}:{next(iter(minutes)):02d}"
        if words[2] == "*" and words[4] == "*":
            return f"daily {clock}"
        if words[2] != "*":
            days = sorted(doms)
            return f"day {_join([str(d) for d in days])} of each month {clock}"
        return f"{_weekday_text(dows)} {clock}"


def parse(raw: list, *, source: str) -> tuple[Window, ...]:
    """The windows of `freeze:`; a ConfigError (one line: the value, the cause, the fix) otherwise."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: key `freeze` is invalid", f"{_show(raw)} should be a list of windows",
                          f"write each window as a list item (`- cron: ...` or `- from: ...`); {DOCS}")
    return tuple(_parse_entry(entry, f"freeze/{i}", source) for i, entry in enumerate(raw))


def active(windows: Iterable[Window], at: datetime) -> Window | None:
    """The first window `at` (an aware datetime) falls in, or None."""
    at = _utc(at)
    return next((w for w in windows if _occurrence(w, at) is not None), None)


def next_end(window: Window, at: datetime) -> datetime:
    """When `window` stops freezing, for a promotion tried at `at`: the end of the occurrence `at`
    falls in, extended while later occurrences of the same window start before it ends (hourly
    starts lasting an hour freeze the whole day). `at` itself when the window is not active then.
    A freeze still on a year later is reported as ending then. Aware, in UTC."""
    at = _utc(at)
    found = _occurrence(window, at)
    if found is None:
        return at
    if window.kind == "range":
        return found[1]
    return _chain(window, found[0], at)


def frozen_until(windows: Iterable[Window], at: datetime) -> datetime | None:
    """When promotions are possible again considering every window (one may begin as another
    ends), or None if none is active at `at`. At most a year ahead."""
    windows, at = tuple(windows), _utc(at)
    moment, ahead = at, at + HORIZON
    while moment < ahead:
        ends = [next_end(w, moment) for w in windows if _occurrence(w, moment) is not None]
        if not ends:
            return None if moment == at else moment
        moment = max(ends)
    return moment


def check(windows: Iterable[Window], *, production: bool, exempt: bool, refused: str, again: str, exemption: str,
          at: datetime | None = None) -> None:
    """The one freeze check, for promotions and flag flips: inside a window nothing reaches a
    production environment (staging keeps taking changes, so work goes on and is ready when the
    freeze lifts), except what undoes a change (`exempt`: a rollback, a declared kill switch).
    `refused` says what was refused, `again` how to do it later, `exemption` what is never frozen."""
    windows = tuple(windows)
    if exempt or not windows or not production:
        return
    at = at or datetime.now(timezone.utc)
    window = active(windows, at)
    if window is not None:
        end = frozen_until(windows, at)
        raise FreezeError(refused, f"a deploy freeze is on: {window.describe}",
                          f"{again} after {end:%Y-%m-%d %H:%M} UTC; {exemption}")


# --- parsing -----------------------------------------------------------------------------------
def _parse_entry(entry: object, key: str, source: str) -> Window:
    if not isinstance(entry, dict):
        raise _error(source, key, f"{_show(entry)} should be a mapping with cron, duration and timezone, or from, "
                     "to and timezone", "write `- cron: \"0 18 * * FRI\"` with `duration:` and `timezone:`, or "
                     "`- from: ...` with `to:` and `timezone:`")
    keys = set(entry)
    if "cron" in keys and keys & {"from", "to"}:
        raise _error(source, key, "a window has both `cron` and `from`/`to`",
                     "split it in two windows: one repeating (cron, duration, timezone), one once (from, to, timezone)")
    allowed = CRON_KEYS if "cron" in keys or "duration" in keys else RANGE_KEYS
    unknown = sorted(str(k) for k in keys - allowed)
    if unknown:
        raise _error(source, key, f"unknown key(s) {', '.join(map(repr, unknown))}",
                     f"remove or rename them; allowed here: {', '.join(sorted(allowed))}")
    missing = [k for k in sorted(allowed) if k not in keys]
    if missing:
        fix = ("name the zone the window is meant in, e.g. `timezone: Europe/Berlin` or `timezone: UTC`: a window "
               "has no implicit zone" if missing == ["timezone"] else
               f"add {', '.join(f'`{k}:`' for k in missing)}; {DOCS}")
        raise _error(source, key, f"the window lacks {', '.join(f'`{k}`' for k in missing)}", fix)
    zone_name = _parse_zone(entry["timezone"], f"{key}/timezone", source)
    if "cron" in keys:
        fields, dom_star, dow_star, text = _parse_cron(entry["cron"], f"{key}/cron", source)
        duration, shown = _parse_duration(entry["duration"], f"{key}/duration", source)
        return Window("cron", zone_name, cron=text, duration=duration, _fields=fields, _dom_star=dom_star,
                      _dow_star=dow_star, _duration_text=shown)
    start = _parse_local(entry["from"], f"{key}/from", source)
    end = _parse_local(entry["to"], f"{key}/to", source)
    if end <= start:
        raise _error(source, f"{key}/to", f"{entry['to']!r} is not after `from` {entry['from']!r}",
                     "swap them, or correct the date: a window runs from `from` (inclusive) to `to` (exclusive)")
    return Window("range", zone_name, start=start, end=end)


def _parse_zone(raw: object, key: str, source: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise _error(source, key, f"{_show(raw)} is not a time zone name",
                     "write an IANA time zone name such as Europe/Berlin, America/New_York or UTC")
    known = _known_zones()
    if raw in known and raw != "localtime":
        try:
            _zone(raw)
            return raw
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    if not known:
        why = "this machine has no time zone database, so no zone can be checked"
        fix = "install the system's tzdata package (or the `tzdata` Python package) on the runner"
    elif raw == "localtime":
        why = "it names this machine's zone, which differs from runner to runner"
        fix = "name the zone itself, e.g. Europe/Berlin or UTC"
    else:
        alike = next((z for z in sorted(known) if z.lower() == raw.strip().lower()), None)
        why = "it is not an IANA time zone name" + (" (names are case-sensitive)" if alike else "")
        fix = (f"write {alike!r}" if alike else
               "write an IANA name such as Europe/Berlin, America/New_York or UTC (`timedatectl list-timezones` "
               "lists them); a fixed offset is Etc/GMT-2 for UTC+2")
    raise _error(source, key, f"{_show(raw)}: {why}", fix)


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.lru_cache(maxsize=64)
def _zone(name: str):
    return zoneinfo.ZoneInfo(name)


def _parse_cron(raw: object, key: str, source: str) -> tuple[tuple[frozenset[int], ...], bool, bool, str]:
    if not isinstance(raw, str):
        raise _error(source, key, f"{_show(raw)} is not a cron expression",
                     "quote it as a string of 5 fields: \"minute hour day month weekday\", e.g. \"0 18 * * FRI\"")
    words = raw.split()
    if len(words) != 5:
        raise _error(source, key, f"{raw!r} has {len(words)} field(s), not 5",
                     "write minute hour day-of-month month day-of-week, e.g. \"0 18 * * FRI\" (no seconds, no year)")
    fields = []
    for word, (name, low, high, names) in zip(words, FIELDS, strict=True):
        try:
            values = _parse_field(word, low, high, names)
        except ValueError as exc:
            raise _error(source, key, f"{raw!r}: {name} {word!r} {exc}", _field_fix(name, low, high, names)) from None
        if name == "day of week":
            values = {v % 7 for v in values}
        fields.append(frozenset(values))
    dom_star, dow_star = words[2].startswith("*"), words[4].startswith("*")
    if dow_star and not any(d <= DAYS_IN_MONTH[m - 1] for m in fields[3] for d in fields[2]):
        raise _error(source, key, f"{raw!r} never matches: no month of {words[3]!r} has a day {words[2]!r}",
                     "correct the day of month or the month")
    return tuple(fields), dom_star, dow_star, " ".join(words)


def _parse_field(word: str, low: int, high: int, names: dict | None) -> set[int]:
    values: set[int] = set()
    for item in word.split(","):
        if not item:
            raise ValueError("has an empty list item")
        part, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not step_text.isascii():
                raise ValueError(f"has step {step_text!r}, which is not a number")
            step = int(step_text)
            if step == 0:
                raise ValueError("has a step of 0")
        if part == "*":
            first, last = low, high
        elif "-" in part:
            a, _, b = part.partition("-")
            first, last = _value(a, low, high, names), _value(b, low, high, names)
            if first > last and names is WEEKDAYS and b.upper() == "SUN":
                last = 7  # FRI-SUN: Sunday as the end of a range is 7
            if first > last:
                raise ValueError(f"is a range from {a} down to {b}")
        else:
            first = _value(part, low, high, names)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, low: int, high: int, names: dict | None) -> int:
    if text.isdigit() and text.isascii():
        number = int(text)
        if not low <= number <= high:
            raise ValueError(f"has {number}, outside {low}-{high}")
        return number
    if names and text.upper() in names:
        return names[text.upper()]
    if not text:
        raise ValueError("has a range with a missing end")
    raise ValueError(f"has {text!r}, which is neither a number" + (" nor a known name" if names else ""))


def _field_fix(name: str, low: int, high: int, names: dict | None) -> str:
    allowed = f"{low}-{high}"
    if names is WEEKDAYS:
        allowed += " (0 and 7 are Sunday) or MON, TUE, WED, THU, FRI, SAT, SUN"
    elif names is MONTHS:
        allowed += " or JAN..DEC"
    return (f"write the {name} as {allowed}: `*`, a value, a range a-b, a step */n or a-b/n, or a list of those "
            "separated by commas")


def _parse_duration(raw: object, key: str, source: str) -> tuple[timedelta, str]:
    """The duration and how to show it ("62h" -> "62 h", "1d12h" -> "1 d 12 h", "30m" -> "30 min")."""
    text = raw.strip().lower() if isinstance(raw, str) else ""
    m = DURATION.fullmatch(text) if text else None
    if m is None:
        raise _error(source, key, f"{_show(raw)} is not a duration",
                     "write days, hours and/or minutes such as 62h, 30m, 2d or 1d12h (at most 31d)")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    if duration <= timedelta(0):
        raise _error(source, key, f"{_show(raw)} is an empty window", "give it a length of at least 1m")
    if duration > MAX_DURATION:
        raise _error(source, key, f"{_show(raw)} is longer than 31 days",
                     "use a shorter duration, or a window with `from:` and `to:` for a long freeze")
    shown = " ".join(f"{int(n)} {unit}" for n, unit in zip(m.groups(), ("d", "h", "min"), strict=True)
                     if n is not None)
    return duration, shown


def _parse_local(raw: object, key: str, source: str) -> datetime:
    if isinstance(raw, (date, datetime)):
        raise _error(source, key, f"{_show(str(raw))} was read by YAML as a date, not a string",
                     f"quote it: \"{raw.isoformat()[:16]}\"")
    if not isinstance(raw, str):
        raise _error(source, key, f"{_show(raw)} is not a local date and time",
                     "write it as a quoted \"YYYY-MM-DDTHH:MM\", e.g. \"2026-12-20T00:00\"")
    text = raw.strip()
    if OFFSET.fullmatch(text) and not LOCAL_TIME.fullmatch(text):
        raise _error(source, key, f"{raw!r} carries a UTC offset",
                     "remove the offset: the `timezone:` key says which zone the time is in (use UTC there for UTC)")
    if not LOCAL_TIME.fullmatch(text):
        raise _error(source, key, f"{raw!r} is not a local date and time",
                     "write it as \"YYYY-MM-DDTHH:MM\" (or YYYY-MM-DD for midnight), e.g. \"2026-12-20T00:00\"")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise _error(source, key, f"{raw!r} is not a date that exists ({exc})", "correct the day or the time") from None


def _error(source: str, key: str, why: str, fix: str) -> ConfigError:
    return ConfigError(f"{source}: key `{key}` is invalid", why, fix)




# --- evaluation --------------------------------------------------------------------------------
def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("freeze windows are evaluated at an aware datetime (UTC), not a naive one")
    return at.astimezone(timezone.utc)


def _instant(local: datetime, zone) -> datetime:
    """The first instant at which the zone's clocks show `local` (naive) or a later time, in UTC:
    the first occurrence of a repeated time, the moment the clocks jump for a skipped one."""
    utc = local.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    if utc.astimezone(zone).replace(tzinfo=None) == local:
        return utc
    # Skipped (fold=0 gave the instant after the gap, at the offset from before it): the clocks
    # jumped from before `local` to after it at an instant in (utc - gap, utc]; find it.
    low, high = local.replace(tzinfo=zone, fold=1).astimezone(timezone.utc), utc
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= local:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0) if high.microsecond else high


def _occurrence(window: Window, at: datetime) -> tuple[datetime, datetime] | None:
    """(local start, UTC end) of the occurrence of `window` that `at` falls in, or None."""
    zone = window.zone
    if window.kind == "range":
        end = _instant(window.end, zone)
        return (window.start, end) if _instant(window.start, zone) <= at < end else None
    start = _latest_start(window, at)
    if start is None:
        return None
    end = _instant(start + window.duration, zone)
    return (start, end) if at < end else None


def _latest_start(window: Window, at: datetime) -> datetime | None:
    """The latest local start whose instant is at or before `at` and could still reach it. Ends
    grow with starts, so if this one's window has ended, every earlier one's has too."""
    zone = window.zone
    aware = at.astimezone(zone)
    local = aware.replace(tzinfo=None, microsecond=0)
    # In the second pass of a repeated hour (fold=1), the first pass's later times are already past.
    upper = local + (aware.replace(fold=0).utcoffset() - aware.utcoffset() if aware.fold else timedelta(0))
    lower = local - window.duration - timedelta(days=2)
    for start in _starts_down(window, upper, lower):
        if _instant(start, zone) <= at:
            return start
    return None


def _starts_down(window: Window, upper: datetime, lower: datetime) -> Iterator[datetime]:
    """Local starts from `upper` down to `lower`, newest first: day by day, then its minutes."""
    times = window._times
    day = upper.date()
    limit = upper.hour * 60 + upper.minute
    while day >= lower.date():
        if window._day_matches(day):
            midnight = datetime.combine(day, time())
            for t in reversed(times):
                if t > limit:
                    continue
                start = midnight + timedelta(minutes=t)
                if start < lower:
                    return
                yield start
        day -= timedelta(days=1)
        limit = 24 * 60


def _chain(window: Window, start: datetime, at: datetime) -> datetime:
    """The end of the freeze made by the occurrence starting at `start` and those of the same
    window that begin before the previous one ended (or as it ends). Day by day: a matching day's
    starts are the same minutes every day, and a day whose starts are never further apart than the
    duration is crossed in one step, so even a window that never lifts costs a year of days."""
    zone, duration, times = window.zone, window.duration, window._times
    end = start + duration  # local
    day, ahead = start.date(), at + HORIZON
    index = bisect.bisect_right(times, start.hour * 60 + start.minute)
    while True:
        if window._day_matches(day):
            midnight = datetime.combine(day, time())
            while index < len(times):
                nxt = midnight + timedelta(minutes=times[index])
                if nxt > end and _instant(nxt, zone) > _instant(end, zone):
                    return _instant(end, zone)
                if window._chains_within_day:
                    end = midnight + timedelta(minutes=times[-1]) + duration
                    break
                end = nxt + duration
                index += 1
        day += timedelta(days=1)
        index = 0
        midnight = _instant(datetime.combine(day, time()), zone)
        if midnight > _instant(end, zone) or midnight > ahead:
            return _instant(end, zone)


# --- text --------------------------------------------------------------------------------------
def _show_local(value: datetime | None) -> str:
    assert value is not None
    return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _weekday_text(days: frozenset[int]) -> str:
    order = [d for d in (1, 2, 3, 4, 5, 6, 0) if d in days]  # Monday first
    if len(order) == 7:
        return "daily"
    runs: list[list[int]] = []
    for d in order:
        if runs and (runs[-1][-1] + 1) % 7 == d:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = [DAY_NAMES[r[0]] if len(r) == 1 else
             f"{DAY_NAMES[r[0]]} and {DAY_NAMES[r[1]]}" if len(r) == 2 else f"{DAY_NAMES[r[0]]} to {DAY_NAMES[r[-1]]}"
             for r in runs]
    return _join(parts)
