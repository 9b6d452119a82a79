"""When an object syncs: `frequency` as a name with optional time of day, weekdays, day of
month and time zone, or a cron expression; and `freshness`, how stale its target may get.

    frequency: hourly                                   # at minute 0
    frequency: {every: hourly, at: ":15"}
    frequency: {every: daily, at: "06:30", timezone: Europe/Amsterdam}
    frequency: {every: weekly, days: [mon, thu], at: "05:00"}
    frequency: {every: monthly, day: 1, at: "02:00"}
    frequency: "*/10 7-19 * * 1-5"                      # any cron expression
    frequency: {every: "0 2 * * *", timezone: America/New_York}
    frequency: continuous                               # a change sensor, no schedule
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster._utils.schedules import is_valid_cron_string
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

FREQUENCIES = ("continuous", "hourly", "daily", "weekly", "monthly")
# cron's day-of-week numbers
WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value):
    """ "90s", "30m", "2h", "1d", "1w" as a timedelta; anything else is left to pydantic
    (ISO 8601 "PT2H", seconds as a number)."""
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match:
            return dt.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    return value


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MINUTE = re.compile(r"^:([0-5]\d)$")


def known_zone(value: str) -> str:
    """`value` if it names a time zone of the IANA database, else a ValueError saying so."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{value}' is not a time zone of the IANA database (e.g. UTC, Europe/Amsterdam)"
        ) from None
    return value


class Frequency(BaseModel):
    """A cadence: `every` is one of FREQUENCIES or a cron expression; `at`, `days`, `day`
    place the tick within it; `timezone` is the zone of the clock times (default UTC)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: str
    # "HH:MM" (daily, weekly, monthly) or ":MM" (hourly)
    at: str | None = None
    # weekly: the weekdays (sun, mon, ..., sat)
    days: list[str] | None = None
    # monthly: the day of the month (1-28, so that every month has it)
    day: int | None = Field(default=None, ge=1, le=28)
    # default UTC (for a partitioned object: its partitions' zone)
    timezone: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data):
        """The short form: `frequency: daily` or `frequency: "0 2 * * *"` (checked here, so
        that an error names the field `frequency` as written)."""
        return {"every": cls._every(data)} if isinstance(data, str) else data

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        if value.lower() in FREQUENCIES:
            return value.lower()
        if not is_valid_cron_string(value):
            raise ValueError(
                f"'{value}' is neither one of {', '.join(FREQUENCIES)} nor a valid cron expression"
            )
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        days = [d.lower()[:3] for d in value]
        unknown = [v for v, d in zip(value, days, strict=True) if d not in WEEKDAYS]
        if unknown or not days:
            raise ValueError(
                f"'{(unknown or [''])[0]}' is not a weekday: use {', '.join(WEEKDAYS)}"
            )
        return sorted(set(days), key=WEEKDAYS.get)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else known_zone(value)

    @model_validator(mode="after")
    def _placement_fits(self) -> Frequency:
        every, named = self.every, self.every in FREQUENCIES
        if self.at is not None:
            if not named or every == "continuous":
                raise ValueError(f"at: {every} has no time of day; put the time in the cron")
            pattern = _MINUTE if every == "hourly" else _CLOCK
            if not pattern.match(self.at):
                form = '":MM" (e.g. ":15")' if every == "hourly" else '"HH:MM" (e.g. "06:30")'
                raise ValueError(f"at: '{self.at}' is not a time: {every} takes {form}")
        if self.days is not None and every != "weekly":
            raise ValueError(f"days: only with every: weekly (this is {every})")
        if self.day is not None and every != "monthly":
            raise ValueError(f"day: only with every: monthly (this is {every})")
        return self

    @model_serializer(mode="wrap")
    def _short(self, handler):
        """Dumped in the short form when it is just a name or a cron (so the normalized
        config, and the code version hashed from it, read as written)."""
        given = {k: v for k, v in handler(self).items() if v is not None}
        return given["every"] if len(given) == 1 else given

    @property
    def hour_minute(self) -> tuple[int, int]:
        """The tick's hour and minute (0, 0 unless `at` says otherwise)."""
        if self.at is None:
            return 0, 0
        if self.at.startswith(":"):
            return 0, int(self.at[1:])
        hour, minute = self.at.split(":")
        return int(hour), int(minute)

    def cron(self) -> str | None:
        """The cron expression of the cadence (None for continuous: a sensor, not a clock)."""
        if self.every not in FREQUENCIES:
            return self.every
        hour, minute = self.hour_minute
        days = ",".join(str(WEEKDAYS[d]) for d in self.days or ["sun"])
        return {
            "continuous": None,
            "hourly": f"{minute} * * * *",
            "daily": f"{minute} {hour} * * *",
            "weekly": f"{minute} {hour} * * {days}",
            "monthly": f"{minute} {hour} {self.day or 1} * *",
        }[self.every]


class FreshnessSpec(BaseModel):
    """How stale the target may get before Dagster shows it stale (a FreshnessPolicy):
    `max_lag` since the last sync; or, with `deadline` (a cron), synced within `max_lag`
    before each deadline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_lag: dt.timedelta
    # shown as a warning when the last sync is older than this (below max_lag)
    warn_lag: dt.timedelta | None = None
    deadline: str | None = None
    timezone: str = "UTC"

    @field_validator("max_lag", "warn_lag", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value)

    @field_validator("deadline")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_cron_string(value):
            raise ValueError(f"'{value}' is not a cron expression (e.g. \"0 9 * * *\")")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    @model_validator(mode="after")
    def _lags(self) -> FreshnessSpec:
        if self.max_lag <= dt.timedelta(0):
            raise ValueError("max_lag: must be longer than zero")
        if self.warn_lag is not None and (self.deadline or self.warn_lag >= self.max_lag):
            raise ValueError("warn_lag: must be shorter than max_lag, and not with deadline")
        return self
