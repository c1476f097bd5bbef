"""sync.readahead: pages in order, errors where the page would have come, early stop (issue 11)."""
import threading
import time

import pytest

from sync.readahead import read_ahead


def _pages(n, fail_at=None, fetched=None):
    def after(prev):
        if prev + 1 >= n:
            return None
        if fetched is not None:
            fetched.append(prev + 1)
        if fail_at is not None and prev + 1 == fail_at:
            raise RuntimeError(f"page {fail_at} failed")
        return prev + 1
    return after


def test_yields_every_page_in_order():
    assert list(read_ahead(0, _pages(50))) == list(range(50))


def test_a_fetch_error_is_raised_after_the_pages_before_it():
    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page in read_ahead(0, _pages(10, fail_at=3)):
            got.append(page)
    assert got == [0, 1, 2]


def test_the_next_page_is_fetched_while_the_caller_works():
    started = []

    def after(prev):
        started.append(time.monotonic())
        return None if prev >= 1 else prev + 1

    pages = read_ahead(0, after)
    assert next(pages) == 0
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:  # no wait on the caller's part
        time.sleep(0.01)
    assert started, "page 1 was not fetched ahead"
    assert list(pages) == [1]


def test_stopping_early_stops_fetching():
    fetched = []
    pages = read_ahead(0, _pages(1000, fetched=fetched))
    assert next(pages) == 0 and next(pages) == 1
    pages.close()
    time.sleep(0.3)
    seen = len(fetched)
    time.sleep(0.3)
    assert len(fetched) == seen and 1 <= seen <= 2  # page 1, and page 2 if it began before the stop
    deadline = time.monotonic() + 3
    while any(t.name.startswith("read-ahead") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name.startswith("read-ahead") for t in threading.enumerate())


def test_depth_bounds_how_far_ahead_it_reads():
    fetched = []
    pages = read_ahead(0, _pages(100, fetched=fetched), depth=5)
    assert next(pages) == 0
    time.sleep(0.3)
    assert fetched == [1, 2, 3, 4, 5]  # five ahead of the page the caller holds, no more
    assert next(pages) == 1
    time.sleep(0.3)
    assert fetched == [1, 2, 3, 4, 5, 6]
    assert list(pages) == list(range(2, 100))
