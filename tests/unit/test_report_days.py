"""A report's days are the admin time zone's days, not UTC's."""

from datetime import UTC, date, datetime

from mailflow.app.reports.common import ReportFilters


def test_the_range_covers_whole_days_of_the_admin_zone():
    paris = ReportFilters(date(2026, 12, 1), date(2026, 12, 2), zone="Europe/Paris")
    assert paris.start_at == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert paris.end_at == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    # 23:30 UTC on 1 December is 00:30 on the 2nd in Paris: that day's bar.
    assert paris.day_of(datetime(2026, 12, 1, 23, 30)) == date(2026, 12, 2)
    utc = ReportFilters(date(2026, 12, 1), date(2026, 12, 2))
    assert utc.day_of(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == date(2026, 12, 1)
    assert utc.end_at == datetime(2026, 12, 3, tzinfo=UTC)


def test_a_summer_range_follows_daylight_saving_time():
    summer = ReportFilters(date(2026, 7, 14), date(2026, 7, 14), zone="Europe/Paris")
    assert summer.start_at == datetime(2026, 7, 13, 22, 0, tzinfo=UTC)
    assert summer.end_at - summer.start_at == datetime(2026, 7, 15) - datetime(2026, 7, 14)
    # The day DST starts has 23 hours.
    spring = ReportFilters(date(2026, 3, 29), date(2026, 3, 29), zone="Europe/Paris")
    assert (spring.end_at - spring.start_at).total_seconds() == 23 * 3600
