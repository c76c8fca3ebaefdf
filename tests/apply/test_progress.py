"""The status and forecast rules of apply/progress/service.py, and the registry of progress sources."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cityhub.apply.progress import service as progress


def _at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_schedule_and_progress_fractions() -> None:
    assert progress.schedule_fraction(date(2020, 1, 1), date(2022, 1, 1), date(2021, 1, 1)) == 366 / 731
    assert progress.schedule_fraction(date(2020, 1, 1), date(2022, 1, 1), date(2019, 1, 1)) == 0.0
    assert progress.schedule_fraction(date(2020, 1, 1), date(2022, 1, 1), date(2030, 1, 1)) == 1.0
    assert progress.schedule_fraction(None, date(2022, 1, 1), date(2021, 1, 1)) is None
    assert progress.progress_fraction(150, 100, 300) == 0.25
    assert progress.progress_fraction(None, 0, 10) is None
    assert progress.progress_fraction(5, 10, 10) is None  # no way to go


def test_forecast_is_the_least_squares_line_at_the_deadline() -> None:
    pts = [(_at(2020, 1, 1), 0.0), (_at(2021, 1, 1), 366.0)]  # one a day
    assert progress.forecast(pts, date(2022, 1, 1)) == 731.0
    noisy = [(_at(2020, 1, 1), 0.0), (_at(2020, 1, 1), 10.0), (_at(2020, 1, 11), 10.0), (_at(2020, 1, 11), 20.0)]
    assert progress.forecast(noisy, date(2020, 1, 21)) == 25.0  # through the means: (1 Jan, 5) and (11 Jan, 15)
    assert progress.forecast(pts[:1], date(2022, 1, 1)) is None  # one day is no trend
    assert progress.forecast(pts, None) is None


def test_status_red_amber_green() -> None:
    today, due = date(2021, 1, 1), date(2022, 1, 1)
    assert progress.status(0.5, 0.5, 100, 100, today, due) == "green"
    assert progress.status(0.46, 0.5, 100, 100, today, due) == "green"  # within 5 points
    assert progress.status(0.40, 0.5, 100, 100, today, due) == "amber"
    assert progress.status(0.25, 0.5, 100, 100, today, due) == "red"  # more than 20 points behind
    assert progress.status(0.5, 0.5, 90, 100, today, due) == "amber"  # on schedule, but the trend falls short
    assert progress.status(1.0, 1.0, None, 100, date(2023, 1, 1), due) == "green"  # met
    assert progress.status(0.99, 1.0, None, 100, date(2023, 1, 1), due) == "red"  # due and unmet
    assert progress.status(None, 0.5, None, 100, today, due) == "none"


def test_every_source_names_its_layer() -> None:
    assert set(progress.SOURCES) >= {"cloud.systems_integrated", "cloud.integration_city",
                                     "cloud.integration_district", "connect.devices_active", "data.providers",
                                     "compute.components_published", "ops.incidents_within_sla"}
    for key, src in progress.SOURCES.items():
        assert key.split(".")[0] == src.layer
