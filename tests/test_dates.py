"""The date generator writes what the book's date.txt holds, reproducibly."""

import datetime as dt
import re

import pytest

from seqlab.data import datasets, readers
from seqlab.data.dates import FORMATS, format_date, generate_dates

WORDED = re.compile(r"(?:(?P<weekday>[A-Za-z]+), )?(?P<month>[A-Za-z]+) \d{1,2}, \d{4}")
SLASH = re.compile(r"\d{1,2}/\d{1,2}/\d{2}")


def shape(source: str) -> str:
    """A source's format: slash, or worded with its weekday and month kinds."""
    if SLASH.fullmatch(source):
        return "slash"
    m = WORDED.fullmatch(source)
    assert m, source
    month = "mon" if len(m["month"]) == 3 and m["month"].lower() != "may" else "month"
    return ("weekday " if m["weekday"] else "") + month


def test_every_source_reads_back_as_its_target():
    for source, target in generate_dates(2000, seed=3):
        date = dt.date.fromisoformat(target)
        if SLASH.fullmatch(source):
            assert source == f"{date.month}/{date.day}/{date.year % 100:02d}"
            continue
        m = WORDED.fullmatch(source)
        assert m, source
        if m["weekday"]:
            assert m["weekday"].lower() == date.strftime("%A").lower()
        assert date.strftime("%B").lower().startswith(m["month"].lower())
        assert source.endswith(f" {date.day}, {date.year}")


def test_same_seed_same_pairs_and_dates_in_range():
    pairs = generate_dates(500, seed=1)
    assert pairs == generate_dates(500, seed=1) != generate_dates(500, seed=2)
    assert len(pairs) == 500 and len(set(pairs)) > 450
    first, last = dt.date(1990, 1, 1), dt.date(1990, 12, 31)
    years = {t[:4] for _, t in generate_dates(300, 0, first, last)}
    assert years == {"1990"}


def test_formats_and_cases_are_spelled_as_in_date_txt():
    date = dt.date(2003, 8, 19)
    spelled = [format_date(date, style, "title") for style in FORMATS]
    assert spelled == [
        "8/19/03",
        "August 19, 2003",
        "Aug 19, 2003",
        "Tuesday, August 19, 2003",
    ]
    assert format_date(date, "weekday", "upper") == "TUESDAY, AUGUST 19, 2003"
    with pytest.raises(ValueError, match="choose one of"):
        format_date(date, "iso")


def test_the_mix_of_formats_matches_the_shared_file():
    try:
        path = datasets.locate("date")
    except datasets.DatasetNotFoundError:
        pytest.skip("date.txt not available")
    book = [shape(s) for s, _ in readers.read_seq2seq_toy(path)]
    ours = [shape(s) for s, _ in generate_dates(len(book), seed=0)]
    assert set(ours) == set(book)  # weekday lines always spell the month in full
    for kind in set(book):
        share = book.count(kind) / len(book)
        assert ours.count(kind) / len(ours) == pytest.approx(share, abs=0.02), kind


def test_ranges_too_long_for_two_digit_years_are_refused():
    with pytest.raises(ValueError, match="less than 100 years"):
        generate_dates(10, first=dt.date(1900, 1, 1), last=dt.date(2010, 1, 1))
