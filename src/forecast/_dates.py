"""Calendar days, read one way everywhere: strict ISO ``YYYY-MM-DD`` to :class:`datetime.date`.

Ledger cells, question files, as-of options and replay ranges all go through :func:`parse_date`,
so they accept the same inputs, return the same type and fail with the same words:

* a :class:`datetime.date` is kept; a :class:`datetime.datetime` (a :class:`pandas.Timestamp`
  too) gives its day, the time of day dropped;
* a string must be exactly ``YYYY-MM-DD`` (surrounding blanks ignored) and a real day;
* anything else is not a date;
* a day outside :data:`DATE_RANGE` (1900-01-01 to 2100-12-31, the range of a model file's
  dates) is refused: no forecast needs one, and pandas cannot hold a day before 1677.

:func:`parse_date` raises :class:`ValueError` (what pydantic validators expect);
:func:`date_or_problem` collects a :class:`~forecast.errors.Problem` instead, for validators that
list every problem at once; :func:`as_of_date` is the check of an as-of day (a date, not after
today) and raises :class:`~forecast.errors.EvidenceError`. Standard library only.
"""

from __future__ import annotations

import datetime as dt
import re

from forecast.errors import EvidenceError, Problem

__all__ = ["DATE_HINT", "DATE_RANGE", "as_of_date", "date_or_problem", "parse_date"]

DATE_HINT = "write YYYY-MM-DD, e.g. 2015-08-24"
"""The hint every date problem carries."""

DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))
"""The days a date may name, in a model file, a ledger, a questions file or an option."""

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: object, *, today: dt.date | None = None) -> dt.date:
    """`value` as a calendar day.

    Parameters
    ----------
    value : datetime.date, datetime.datetime, pandas.Timestamp or str
        The day; a string must be ``YYYY-MM-DD``.
    today : datetime.date, optional
        If given, a day after it is refused.

    Returns
    -------
    datetime.date

    Raises
    ------
    ValueError
        Saying what is wrong in the user's terms: not a date, not an ISO date, not a real
        calendar day, outside :data:`DATE_RANGE`, or in the future.
    """
    if isinstance(value, dt.datetime):  # pandas.Timestamp too
        if value != value:  # NaT
            raise ValueError("the date is missing (NaT)")
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, str):
        text = value.strip()
        if not _ISO_DAY.fullmatch(text):
            raise ValueError(f"'{text}' is not a date (not an ISO date, YYYY-MM-DD)")
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a real calendar date") from None
    else:
        raise ValueError(f"{value!r} is not a date")
    lo, hi = DATE_RANGE
    if not lo <= day <= hi:
        raise ValueError(f"the date {day.isoformat()} is outside {lo.isoformat()} to "
                         f"{hi.isoformat()} (check the year)")
    if today is not None and day > today:
        raise ValueError(f"{day} is in the future (after today, {today})")
    return day


def date_or_problem(value: object, where: str, problems: list[Problem], *,
                    today: dt.date | None = None, hint: str = DATE_HINT) -> dt.date | None:
    """:func:`parse_date`, or None after appending a problem at `where` saying why not.

    Parameters
    ----------
    value : object
        As for :func:`parse_date`.
    where : str
        The problem's location (an option or parameter name).
    problems : list of Problem
        Appended to.
    today : datetime.date, optional
        If given, a day after it is a problem.
    hint : str
        The hint of a problem.

    Returns
    -------
    datetime.date or None
    """
    try:
        return parse_date(value, today=today)
    except ValueError as exc:
        problems.append(Problem(str(exc), hint=hint, field=where))
        return None


def as_of_date(value: object, *, where: str = "as_of", future: bool = False) -> dt.date:
    """Check an as-of day: a date (see :func:`parse_date`) and, unless `future`, not after today.

    No ledger can yet hold the evidence of a day after today, so updates and replays refuse
    one; cutting a ledger (``future=True``) does not care.

    Parameters
    ----------
    value : object
        As for :func:`parse_date`.
    where : str
        Where the value came from, for the problem's location.
    future : bool
        Accept days after today.

    Returns
    -------
    datetime.date

    Raises
    ------
    EvidenceError
        ``bad as-of date``, with one problem saying why.
    """
    problems: list[Problem] = []
    today = None if future else dt.date.today()
    hint = DATE_HINT if today is None else f"{DATE_HINT}, today ({today}) or earlier"
    day = date_or_problem(value, where, problems, today=today, hint=hint)
    if day is None:
        raise EvidenceError("bad as-of date", problems)
    return day
