"""Reading ahead: the next page is fetched while the caller works on the current one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from apps.connectors.http import ExternalServiceError
from apps.connectors.paging import read_ahead


def test_it_yields_every_page_in_order() -> None:
    assert list(read_ahead(iter([[1, 2], [3], [4, 5]]))) == [[1, 2], [3], [4, 5]]


def test_it_fetches_the_next_page_while_the_caller_works_on_this_one() -> None:
    second_asked = threading.Event()

    def pages() -> Iterator[str]:
        yield "first"
        second_asked.set()
        yield "second"

    reading = read_ahead(pages())
    assert next(reading) == "first"
    # Still busy with the first page: the second is already being fetched.
    assert second_asked.wait(5)
    assert list(reading) == ["second"]


def test_an_error_reaches_the_caller_where_the_page_would_have() -> None:
    def pages() -> Iterator[str]:
        yield "first"
        raise ExternalServiceError("Kimai had a server error", 500, permanent=False)

    reading = read_ahead(pages())
    assert next(reading) == "first"
    with pytest.raises(ExternalServiceError, match="server error"):
        next(reading)


def test_a_caller_that_stops_early_stops_the_reading() -> None:
    fetched: list[int] = []

    def pages() -> Iterator[int]:
        for number in range(100):
            fetched.append(number)
            yield number

    reading = read_ahead(pages(), depth=1)
    assert next(reading) == 0
    reading.close()

    assert len(fetched) <= 3
