"""A generator of date-normalisation pairs in the format of the book's ``date.txt``.

Deep Learning from Scratch 2 (ch. 8) trains attention on 50,000 lines such as
``september 27, 1994           _1994-09-27``: a date written by a person, and the
same date in ISO form. Counting the shared file gives its recipe, which
:func:`generate_dates` follows, so that seqlab can train on dates without any
download:

- dates uniform between 1970-01-01 and 2017-07-24 (the file's first and last);
- four formats, equally likely: ``8/19/03`` (month/day/two-digit year, no leading
  zeros), ``August 19, 2003``, ``Aug 19, 2003`` (three-letter month) and
  ``Tuesday, August 19, 2003`` (weekday and month in full, the weekday right);
- the words Title-case half the time, else lower or UPPER case (a quarter each),
  the weekday in the same case as the month.

Sources come without the file's padding spaces and targets without its ``_``, as
:func:`seqlab.data.readers.read_seq2seq_toy` returns them.
"""

from __future__ import annotations

import datetime as dt
import random

FIRST = dt.date(1970, 1, 1)
LAST = dt.date(2017, 7, 24)
MONTHS = [dt.date(2001, m, 1).strftime("%B") for m in range(1, 13)]  # January ...
WEEKDAYS = [dt.date(2001, 1, d).strftime("%A") for d in range(1, 8)]  # Monday ...
FORMATS = ("slash", "month", "mon", "weekday")


def format_date(date: dt.date, style: str, case: str = "title") -> str:
    """``date`` written in ``style`` (one of FORMATS) and ``case`` (title, lower,
    upper), e.g. format_date(date(2003, 8, 19), "mon", "upper") == "AUG 19, 2003"."""
    month = MONTHS[date.month - 1]
    if style == "slash":
        return f"{date.month}/{date.day}/{date.year % 100:02d}"
    if style == "month":
        text = f"{month} {date.day}, {date.year}"
    elif style == "mon":
        text = f"{month[:3]} {date.day}, {date.year}"
    elif style == "weekday":
        text = f"{WEEKDAYS[date.weekday()]}, {month} {date.day}, {date.year}"
    else:
        raise ValueError(f"unknown date style {style!r}; choose one of {FORMATS}")
    return _cased(text, case)


def _cased(text: str, case: str) -> str:
    if case == "title":
        return text
    if case in ("lower", "upper"):
        return text.lower() if case == "lower" else text.upper()
    raise ValueError(f"unknown case {case!r}; choose title, lower or upper")


def generate_dates(
    n: int, seed: int = 0, first: dt.date = FIRST, last: dt.date = LAST
) -> list[tuple[str, str]]:
    """``n`` (source, ISO date) pairs drawn independently as date.txt's were (see
    above), so that, as in date.txt, some pairs repeat.

    Same ``n``, ``seed`` and range -> same list. Two-digit years need a range of
    less than 100 years.
    """
    days = (last - first).days + 1
    if days < 1 or last.year - first.year >= 100:
        raise ValueError(
            f"dates need first <= last less than 100 years apart, got {first}..{last}"
        )
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        date = first + dt.timedelta(days=rng.randrange(days))
        style = rng.choice(FORMATS)
        case = rng.choice(("title", "title", "lower", "upper"))
        pairs.append((format_date(date, style, case), date.isoformat()))
    return pairs
