"""The working-day calendar: holidays and adjusted working days, and deadline arithmetic in working days.

Sharing-review deadlines and the cloud's idle rule count working days with it (`working_days_add`), in the display
time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.core import policies
from cityhub.core.actor import Actor
from cityhub.core.audit.service import audit_record
from cityhub.core.models import CalendarDay
from cityhub.kit.settings import get_settings


def calendar_days(session: Session, start: date, end: date) -> dict[date, bool]:
    """Calendar exceptions between two dates (inclusive): date → is a working day."""
    rows = session.execute(select(CalendarDay.day, CalendarDay.working)
                           .where(CalendarDay.day >= start, CalendarDay.day <= end)).all()
    return dict(rows)


def calendar_list(session: Session, year: int) -> list[CalendarDay]:
    """Calendar exceptions of a year."""
    return list(session.scalars(select(CalendarDay).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)).order_by(CalendarDay.day)))


def calendar_day_set(session: Session, actor: Actor, day: date, working: bool, name: str = "") -> CalendarDay:
    """Mark one date as a holiday or an extra working day."""
    policies.calendar_day_set(actor)
    row = session.get(CalendarDay, day)
    before = {"working": row.working, "name": row.name} if row else None
    if row is None:
        row = CalendarDay(day=day, working=working, name=name)
        session.add(row)
    else:
        row.working, row.name = working, name
    session.flush()
    audit_record(session, actor, "calendar_day_set", target_type="calendar_day", target_id=day.isoformat(),
                 before=before, after={"working": working, "name": name})
    return row


def is_working_day(day: date, exceptions: Mapping[date, bool]) -> bool:
    """Working day: an exception decides, otherwise Monday to Friday."""
    return exceptions.get(day, day.weekday() < 5)


def working_days_add(session: Session, start: datetime, days: int) -> datetime:
    """The deadline `days` working days after `start`: end of that working day, Asia/Shanghai, as UTC."""
    if days < 0:
        raise ValueError("days must be >= 0")
    tz = ZoneInfo(get_settings().display_timezone)
    local = start.astimezone(tz).date()
    exceptions = calendar_days(session, local, local + timedelta(days=days * 3 + 30))
    current, left = local, days
    while left > 0:
        current += timedelta(days=1)
        if is_working_day(current, exceptions):
            left -= 1
    end_of_day = datetime.combine(current, time(23, 59, 59), tz)
    return end_of_day.astimezone(UTC)


def working_days_between(session: Session, start: datetime, end: datetime) -> int:
    """Working days strictly after `start`'s date up to and including `end`'s date (local time)."""
    tz = ZoneInfo(get_settings().display_timezone)
    a, b = start.astimezone(tz).date(), end.astimezone(tz).date()
    if b <= a:
        return 0
    exceptions = calendar_days(session, a, b)
    return sum(1 for i in range(1, (b - a).days + 1) if is_working_day(a + timedelta(days=i), exceptions))
