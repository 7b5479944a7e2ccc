"""The one clock. Everything that needs "now" calls :func:`now`, so tests can travel in time
(time-machine patches the underlying call)."""

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC, which is how
    SQLite hands them back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z`` (``None`` stays ``None``), as the API and exports write it."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")
