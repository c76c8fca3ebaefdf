"""The aggregated temporal representation (NGSI-LD v1.8 clause 4.5.19; `options=aggregatedValues`).

Each attribute becomes `{"type": …, "<method>": [[value, startAt, endAt], …]}` for the methods of `aggrMethods`
(totalCount, distinctCount, sum, avg, min, max, stddev, sumsq), one triple per period of `aggrPeriodDuration`
(an ISO 8601 duration; absent or zero: the whole window) that holds at least one instance. Periods start at
`timeAt` for `after` / `between`, else at the first instance, and follow each other without gaps; `endAt` is the
start of the next period (the window's end for the last one when the query has one). totalCount counts instances,
distinctCount distinct values (a number by its value: 2 and 2.0 are one); the numeric methods take the JSON
numbers among the values (booleans are not numbers) and give null when a period has none. `stddev` is the
population standard deviation. `aggrsql` computes the same in the database for the broker's own history.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from cityhub.context import entities as ent
from cityhub.context.problems import bad

METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
MAX_PERIODS = 10_000


def methods(raw: str | None) -> list[str]:
    """`aggrMethods` checked; a 400 naming it when absent or unknown."""
    names = [m.strip() for m in (raw or "").split(",") if m.strip()]
    if not names:
        raise bad("options=aggregatedValues needs aggrMethods (" + ", ".join(METHODS) + ")", "aggrMethods")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise bad(f"aggrMethods: unknown method {unknown[0][:40]!r}; use " + ", ".join(METHODS), "aggrMethods")
    return list(dict.fromkeys(names))


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


@dataclass(frozen=True)
class Step:
    """An ISO 8601 duration: calendar months (years are twelve) and a fixed part."""

    months: int
    delta: timedelta

    def after(self, at: datetime) -> datetime:
        """`at` plus this duration (a month later is the same day, or the month's last day)."""
        if self.months:
            month0 = at.month - 1 + self.months
            year, month = at.year + month0 // 12, month0 % 12 + 1
            at = at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))
        return at + self.delta


def period(raw: str | None) -> Step | None:
    """`aggrPeriodDuration` as a Step (None: the whole window); a 400 naming it when it is not ISO 8601."""
    if raw is None or raw.strip() == "":
        return None
    m = _DURATION.match(raw.strip())
    if m is None or raw.strip() in ("P", "PT") or raw.strip().endswith("T"):
        raise bad(f"aggrPeriodDuration is not an ISO 8601 duration: {raw[:40]!r}", "aggrPeriodDuration")
    years, months, weeks, days, hours, minutes = (int(g or 0) for g in m.groups()[:6])
    step = Step(years * 12 + months, timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes,
                                               seconds=float(m.group(7) or 0)))
    return None if step.months == 0 and step.delta == timedelta(0) else step


def _time(inst: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(inst.get(key) or inst.get("modifiedAt")).replace("Z", "+00:00"))


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _apply(name: str, values: list[Any]) -> Any:
    if name == "totalCount":
        return len(values)
    if name == "distinctCount":
        # a number is its value (2 and 2.0 are one number, as JSON and the database's jsonb compare them)
        return len({orjson.dumps(n if (n := _number(v)) is not None else v, option=orjson.OPT_SORT_KEYS)
                    for v in values})
    nums = [n for n in (_number(v) for v in values) if n is not None]
    if not nums:
        return None
    if name == "sum":
        return math.fsum(nums)
    if name == "sumsq":
        return math.fsum(n * n for n in nums)
    if name == "min":
        return min(nums)
    if name == "max":
        return max(nums)
    mean = math.fsum(nums) / len(nums)
    if name == "avg":
        return mean
    return math.sqrt(math.fsum((n - mean) ** 2 for n in nums) / len(nums))  # stddev


def _period_of(at: datetime, first: datetime, step: Step) -> tuple[datetime, datetime]:
    """The period holding `at`: periods of `step` one after the other from `first`."""
    if not step.months:
        k = (at - first) // step.delta  # a jump, however many empty periods lie between
        return first + k * step.delta, first + (k + 1) * step.delta
    lo = first
    while step.after(lo) <= at:  # calendar durations (months, years): few steps over any real history
        lo = step.after(lo)
    return lo, step.after(lo)


def aggregate(series: list[dict[str, Any]], names: list[str], step: Step | None,
              time_key: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """One attribute's aggregated representation from its instances (oldest first)."""
    kind = series[0].get("type", "Property") if series else "Property"
    value_key = ent.VALUE_KEY.get(kind, "value")
    timed = sorted(((_time(i, time_key), i.get(value_key)) for i in series), key=lambda p: p[0])
    out: dict[str, Any] = {"type": kind, **{n: [] for n in names}}
    if not timed:
        return out
    first = start if start is not None and start <= timed[0][0] else timed[0][0]
    if step is None:
        last = end if end is not None else timed[-1][0]
        buckets = [(first, last, [v for _t, v in timed])]
    else:
        buckets = []
        lo, hi = first, step.after(first)
        current: list[Any] = []
        for at, value in timed:
            if at >= hi:
                if current:
                    buckets.append((lo, hi, current))
                    current = []
                    if len(buckets) >= MAX_PERIODS:
                        raise bad(f"More than {MAX_PERIODS} periods: choose a longer aggrPeriodDuration",
                                  "aggrPeriodDuration")
                lo, hi = _period_of(at, first, step)
            current.append(value)
        if current:
            buckets.append((lo, hi, current))
    for lo, hi, values in buckets:
        for name in names:
            out[name].append([_apply(name, values), ent.time_text(lo), ent.time_text(hi)])
    return out
