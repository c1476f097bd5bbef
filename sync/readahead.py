"""Pages fetched one ahead: the next page of a query is in flight while the caller works
through the current one, so a big read costs max(I/O, CPU) instead of their sum (issue 11).
Paging stays sequential (a page's token or locator comes with the page before it)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


def read_ahead(first: T, fetch_next: Callable[[T], T | None]) -> Iterator[T]:
    """Yields `first`, then each page `fetch_next(previous)` returns until it returns None.
    Exactly one fetch is in flight while the caller holds a page; its exception is raised where
    that page would have come. A caller that stops early leaves at most that one fetch to end."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
    try:
        page = first
        while page is not None:
            following = pool.submit(fetch_next, page)
            yield page
            page = following.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
