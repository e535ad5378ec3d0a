"""Quarter arithmetic in UTC, with a configurable fiscal-year start month.

A quarter is labelled ``YYYY-Qn``. With the default start month (January) that is the
calendar quarter. With another start month, ``YYYY`` is the fiscal year, named after
the calendar year in which it ends (a fiscal year starting in July 2026 is 2027, so
July-September 2026 is ``2027-Q1``), the most common convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# How far before the previous quarter's start collections reach: records that began
# before the quarter but matter inside it (an incident started a few days before it was
# detected, an alert created before its triage) and clock skew between sources.
HISTORY_MARGIN = timedelta(days=14)


@dataclass(frozen=True, order=True, slots=True)
class Quarter:
    """One fiscal quarter: ``[start, end)`` in UTC."""

    start: datetime
    end: datetime
    label: str

    def contains(self, ts: float) -> bool:
        return self.start.timestamp() <= ts < self.end.timestamp()


def _month_start(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def quarter_of(moment: datetime, fiscal_start_month: int = 1) -> Quarter:
    """The quarter containing ``moment`` (aware datetime)."""
    moment = moment.astimezone(UTC)
    # Count months from year 0, shifted so that fiscal years start at multiples of 12.
    shifted = moment.year * 12 + moment.month - 1 - (fiscal_start_month - 1)
    quarter_start = shifted - shifted % 3 + (fiscal_start_month - 1)
    year_start = shifted - shifted % 12 + (fiscal_start_month - 1)
    index = (shifted % 12) // 3
    start = _month_start(quarter_start // 12, quarter_start % 12 + 1)
    end = _month_start(start.year, start.month + 3)
    fiscal_year = year_start // 12 + (0 if fiscal_start_month == 1 else 1)
    return Quarter(start=start, end=end, label=f"{fiscal_year}-Q{index + 1}")


def previous_quarter(quarter: Quarter, fiscal_start_month: int = 1) -> Quarter:
    """The quarter just before ``quarter``."""
    return quarter_of(_month_start(quarter.start.year, quarter.start.month - 1), fiscal_start_month)


def recent_quarters(now: datetime, count: int, fiscal_start_month: int = 1) -> list[Quarter]:
    """The ``count`` quarters ending with the one containing ``now``, oldest first."""
    quarters = [quarter_of(now, fiscal_start_month)]
    while len(quarters) < count:
        quarters.append(previous_quarter(quarters[-1], fiscal_start_month))
    return quarters[::-1]


def history_start(now: datetime, fiscal_start_month: int = 1,
                  margin: timedelta = HISTORY_MARGIN) -> datetime:
    """The oldest moment a published metric reads: the previous quarter's start less ``margin``.

    Every quarterly metric is published for the current and the previous quarter, so a
    collection that starts later than this leaves the previous quarter incomplete. At
    most about 184 days plus the margin before ``now`` (the last day of a quarter).
    """
    current = quarter_of(now, fiscal_start_month)
    return previous_quarter(current, fiscal_start_month).start - margin
